"""signout revokes the one token it is called with; the account's other tokens keep working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stateyard.core.clock import FrozenClock
from stateyard.core.errors import ProblemError
from stateyard.platform import Platform
from tests.conftest import Api, assert_problem
from tests.integration.actions.users.conftest import PASSWORD, act, state, stored, works
from tests.integration.auth.support import Db


async def test_signout_revokes_only_the_token_it_is_called_with(guest: Api, alice: Api, bob: Api, db: Db) -> None:
    laptop = await guest.signin("alice@example.com", PASSWORD)
    response = await act(alice, "signout")
    assert stored(response, "token") is None
    assert any(d["type"] == "client.notify" for d in response.json())
    body = assert_problem(await alice.get("/api/user_account"), 401, "unauthorized")
    assert "signed out" in body["detail"]
    assert await works(laptop) and await works(bob)
    (revoked,) = await db.rows("revoked_token")
    claims = db.platform.tokens.verify(alice.token)  # type: ignore[arg-type]
    assert revoked["jti"] == claims.jti and str(revoked["user_id"]) == str(claims.sub)
    assert revoked["expires_at"] == datetime.fromtimestamp(claims.exp, UTC)
    # Signing in again gives a token that works.
    assert await works(await guest.signin("alice@example.com", PASSWORD))


async def test_a_signed_out_token_cannot_sign_out_again_or_call_anything(alice: Api, db: Db) -> None:
    assert (await act(alice, "signout")).status_code == 200
    before = await state(db)
    assert_problem(await act(alice, "signout"), 401, "unauthorized")
    assert_problem(await act(alice, "signout_all"), 401, "unauthorized")
    assert_problem(await alice.get("/actions"), 401, "unauthorized")
    assert await state(db) == before


async def test_guests_and_bad_input_are_refused_and_change_nothing(guest: Api, alice: Api, db: Db) -> None:
    before = await state(db)
    assert_problem(await act(guest, "signout"), 401, "unauthorized")
    assert_problem(await act(guest, "signout", {}), 401, "unauthorized")
    body = assert_problem(await act(alice, "signout", {"everywhere": True}), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("everywhere", "unknown")]
    body = assert_problem(await alice.post("/action/user_account/signout", {"attributes": []}), 422, "validation")
    assert body["errors"][0]["field"] == "attributes"
    assert await state(db) == before
    assert await works(alice)


async def test_another_process_refuses_the_token_once_it_polls(
    alice: Api, platform: Platform, clock: FrozenClock, db: Db
) -> None:
    other = Platform(platform.settings, clock=clock)
    header = f"Bearer {alice.token}"

    async def start_and_resolve() -> None:
        await other.start()
        assert (await other.auth.subject_for(header)).email == "alice@example.com"

    await db.run(start_and_resolve)
    try:
        assert (await act(alice, "signout")).status_code == 200
        await db.run(other.auth.poll)
        with pytest.raises(ProblemError) as refused:
            await db.run(other.auth.subject_for, header)
        assert refused.value.status == 401
    finally:
        await db.run(other.stop)


async def test_entries_of_expired_tokens_are_dropped_at_the_next_signout(
    guest: Api, alice: Api, clock: FrozenClock, db: Db
) -> None:
    assert (await act(alice, "signout")).status_code == 200
    clock.advance(timedelta(seconds=db.platform.settings.token_ttl_seconds + 1))
    later = await guest.signin("alice@example.com", PASSWORD)
    assert (await act(later, "signout")).status_code == 200
    (left,) = await db.rows("revoked_token")
    assert left["jti"] == db.platform.tokens.verify(later.token).jti  # type: ignore[arg-type]


async def test_revoked_tokens_are_for_administrators_to_read_and_nobody_to_write(
    admin: Api, alice: Api, bob: Api
) -> None:
    assert (await act(alice, "signout")).status_code == 200
    listed = await admin.get("/api/revoked_token")
    assert listed.status_code == 200 and listed.json()["meta"]["total"] == 1
    assert_problem(await bob.get("/api/revoked_token"), 403, "forbidden")
    row_id = listed.json()["data"][0]["id"]
    assert_problem(await admin.delete(f"/api/revoked_token/{row_id}"), 405, "read-only")
    assert_problem(await admin.post("/api/revoked_token", {"jti": "x"}), 405, "read-only")
