"""The account performers also run as outcomes of declared actions, with the same checks."""

from __future__ import annotations

from typing import Any

import pytest

from stateyard.core.errors import ProblemError
from tests.conftest import Api, assert_problem
from tests.integration.actions.users.conftest import Mailbox, act, state, works
from tests.integration.auth.support import Db

BYE = {
    "name": "bye",
    "entity": "order",
    "outcomes": [{"type": "user.signout"}, {"type": "client.notify", "attributes": {"message": "bye"}}],
}


async def test_a_declared_action_signs_out_the_calling_token(admin: Api, alice: Api, order_entity: Any, db: Db) -> None:
    assert (await admin.post("/api/action", BYE)).status_code == 201
    response = await alice.post("/action/order/bye", {"attributes": {}})
    assert response.status_code == 200, response.text
    assert [d["type"] for d in response.json()] == ["client.store.set", "client.notify", "client.notify"]
    assert not await works(alice)
    assert len(await db.rows("revoked_token")) == 1


async def test_without_a_token_there_is_nothing_to_sign_out(admin: Api, alice: Api, order_entity: Any, db: Db) -> None:
    """A scheduled run calls actions as a user but without a token: a 400 naming the step, nothing changed."""
    assert (await admin.post("/api/action", BYE)).status_code == 201
    subject = await db.run(db.platform.auth.subject_for, f"Bearer {alice.token}")
    before = await state(db)
    with pytest.raises(ProblemError) as refused:
        await db.run(db.platform.engine.call, subject, "order", "bye", {})
    assert refused.value.status == 400 and refused.value.code == "no-token"
    assert refused.value.extensions["step"] == 0
    assert await state(db) == before
    assert await works(alice)


async def test_guests_cannot_run_them_through_a_declared_action(
    admin: Api, guest: Api, order_entity: Any, db: Db
) -> None:
    entity = (
        await admin.get("/api/entity", params={"filter": '{"field": "name", "op": "equals", "value": "order"}'})
    ).json()["data"][0]
    permissions = {"table": {"owner": ["all"], "guest": ["peek", "execute"]}}
    assert (await admin.patch(f"/api/entity/{entity['id']}", {"permissions": permissions})).status_code == 200
    declared = {**BYE, "outcomes": [{"type": "user.signout_all"}]}
    assert (await admin.post("/api/action", declared)).status_code == 201
    before = await state(db)
    assert_problem(await guest.post("/action/order/bye", {"attributes": {}}), 401, "unauthorized")
    assert await state(db) == before
    assert_problem(await act(guest, "signout_all"), 401)


async def test_a_reset_code_of_an_undone_step_is_never_mailed(
    admin: Api, alice: Api, order_entity: Any, mailbox: Mailbox, db: Db
) -> None:
    """The code is mailed after the commit; a continue_on_error step that fails takes its mail back too."""
    inner = {
        "name": "reset_then_fail",
        "entity": "order",
        "outcomes": [
            {"type": "user.password_reset_request", "attributes": {"email": "alice@example.com"}},
            {"type": "order", "method": "get", "attributes": {"id": "0190c6d8-0000-7000-8000-000000000000"}},
        ],
    }
    outer = {
        "name": "tolerant_reset",
        "entity": "order",
        "outcomes": [
            {"type": "action", "continue_on_error": True, "reference": "tried", "attributes": {"name": inner["name"]}},
            {"type": "client.notify", "attributes": {"message": "{{ tried.error.status }}"}},
        ],
    }
    for action in (inner, outer):
        assert (await admin.post("/api/action", action)).status_code == 201
    before = await state(db)
    response = await alice.post("/action/order/tolerant_reset", {"attributes": {}})
    assert response.status_code == 200, response.text
    assert response.json()[-1]["attributes"]["message"] == "404"
    assert mailbox.messages == [] and await state(db) == before
    # The same request as a step of its own is mailed.
    alone = {**inner, "name": "reset_only", "outcomes": inner["outcomes"][:1]}
    assert (await admin.post("/api/action", alone)).status_code == 201
    assert (await alice.post("/action/order/reset_only", {"attributes": {}})).status_code == 200
    assert len(mailbox.codes_for("alice@example.com")) == 1
