"""signout_all revokes every token of the caller (a token version bump), and nobody else's."""

from __future__ import annotations

import jwt

from tests.conftest import Api, assert_problem
from tests.integration.actions.users.conftest import (
    PASSWORD,
    account,
    act,
    let_people_edit_their_account,
    state,
    stored,
    works,
)
from tests.integration.auth.support import Db


async def test_every_token_of_the_caller_stops_working(guest: Api, alice: Api, bob: Api, db: Db) -> None:
    phone = await guest.signin("alice@example.com", PASSWORD)
    assert (await account(db, alice))["token_version"] == 1
    audit_before = await db.audit_count()
    assert stored(await act(phone, "signout_all"), "token") is None
    assert not await works(alice) and not await works(phone)
    assert await works(bob)
    after = await account(db, alice)
    assert after["token_version"] == 2
    (entry,) = [r for r in await db.audit_of("user_account", after["id"]) if r["operation"] == "update"]
    assert entry["before"] == {"token_version": 1} and entry["after"] == {"token_version": 2}
    assert await db.audit_count() == audit_before + 1
    # A new sign-in carries the new version and works.
    fresh = await guest.signin("alice@example.com", PASSWORD)
    assert jwt.decode(fresh.token, options={"verify_signature": False})["tv"] == 2  # type: ignore[arg-type]
    assert await works(fresh)


async def test_the_refusal_says_the_token_was_revoked(guest: Api, alice: Api) -> None:
    assert (await act(alice, "signout_all")).status_code == 200
    body = assert_problem(await alice.get("/api/user_account"), 401, "unauthorized")
    assert "revoked" in body["detail"]
    assert_problem(await act(alice, "signout_all"), 401, "unauthorized")


async def test_guests_and_bad_input_are_refused_and_change_nothing(guest: Api, alice: Api, db: Db) -> None:
    before = await state(db)
    assert_problem(await act(guest, "signout_all"), 401, "unauthorized")
    body = assert_problem(await act(alice, "signout_all", {"confirm": "yes", "x": 1}), 422, "validation")
    assert {e["field"]: e["code"] for e in body["errors"]} == {"confirm": "unknown", "x": "unknown"}
    assert await state(db) == before
    assert await works(alice)


async def test_people_cannot_move_their_token_version_themselves(alice: Api, admin: Api, db: Db) -> None:
    """Setting it back would revive revoked tokens, even where a builder lets people edit their account."""
    me = await account(db, alice)
    assert_problem(await alice.patch(f"/api/user_account/{me['id']}", {"token_version": 7}), 403, "forbidden")
    await let_people_edit_their_account(admin)
    before = await state(db)
    for change in ({"token_version": 7}, {"token_version": 1, "name": "Al"}):
        body = assert_problem(await alice.patch(f"/api/user_account/{me['id']}", change), 403, "forbidden")
        assert body["fields"] == ["token_version"]
    assert await state(db) == before
    assert (await alice.patch(f"/api/user_account/{me['id']}", {"name": "Al"})).status_code == 200
    # An administrator may: it signs the account out everywhere.
    assert (await admin.patch(f"/api/user_account/{me['id']}", {"token_version": 5})).status_code == 200
    assert not await works(alice)
