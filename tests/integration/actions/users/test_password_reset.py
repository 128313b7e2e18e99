"""Password reset by an emailed code: no enumeration, five attempts, an expiry on the injected clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from stateyard.core.clock import FrozenClock
from tests.conftest import Api, assert_problem
from tests.integration.actions.users.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    Mailbox,
    account,
    act,
    fields,
    signin,
    state,
    works,
)
from tests.integration.auth.support import Db

ALICE = "alice@example.com"
#: Digits that str.isdigit() accepts but no mailed code contains.
FULLWIDTH_DIGITS = "".join(chr(0xFF11 + i) for i in range(8))


async def request(guest: Api, address: str) -> Any:
    return await act(guest, "password_reset_request", {"email": address})


async def verify(guest: Api, code: str, password: str = NEW_PASSWORD, address: str = ALICE, **extra: Any) -> Any:
    attributes = {"email": address, "code": code, "new_password": password, "new_password_confirm": password}
    return await act(guest, "password_reset_verify", {**attributes, **extra})


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**8:08d}"


async def test_a_mailed_code_sets_a_new_password_and_revokes_old_tokens(
    guest: Api, alice: Api, mailbox: Mailbox, db: Db
) -> None:
    response = await request(guest, "  Alice@Example.com ")
    assert response.status_code == 200, response.text
    (code,) = mailbox.codes_for(ALICE)
    assert len(code) == 8
    (message,) = mailbox.messages
    assert message["From"] == "accounts@example.com" and "reset" in message["Subject"].lower()
    (pending,) = await db.rows("password_reset")
    assert code not in str(pending) and pending["attempts"] == 0
    audit_before = await db.audit_count()
    done = await verify(guest, code)
    assert done.status_code == 200, done.text
    assert [d["type"] for d in done.json()] == ["client.notify"]
    assert await db.rows("password_reset") == []
    assert not await works(alice)
    assert_problem(await signin(guest, ALICE, PASSWORD), 401)
    assert (await signin(guest, ALICE, NEW_PASSWORD)).status_code == 200
    me = await account(db, alice)
    assert me["token_version"] == 2
    assert await db.audit_count() == audit_before + 1
    # The code is used up.
    assert_problem(await verify(guest, code, "third-password-3"), 422, "validation")


async def test_unknown_and_known_addresses_get_the_same_answer(
    guest: Api, alice: Api, mailbox: Mailbox, db: Db
) -> None:
    known = await request(guest, ALICE)
    unknown = await request(guest, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json()
    assert [m["To"] for m in mailbox.messages] == [ALICE]
    assert len(await db.rows("password_reset")) == 1


async def test_disabled_accounts_get_no_code(admin: Api, guest: Api, alice: Api, mailbox: Mailbox, db: Db) -> None:
    me = await account(db, alice)
    assert (await admin.patch(f"/api/user_account/{me['id']}", {"active": False})).status_code == 200
    assert (await request(guest, ALICE)).json() == (await request(guest, "nobody@example.com")).json()
    assert mailbox.messages == [] and await db.rows("password_reset") == []


async def test_wrong_expired_and_unknown_all_answer_the_same_422(
    guest: Api, alice: Api, mailbox: Mailbox, clock: FrozenClock, db: Db
) -> None:
    await request(guest, ALICE)
    (code,) = mailbox.codes_for(ALICE)
    before = await account(db, alice)
    wrong = assert_problem(await verify(guest, other_code(code)), 422, "validation")
    unknown = assert_problem(await verify(guest, code, address="nobody@example.com"), 422, "validation")
    clock.advance(timedelta(seconds=db.platform.settings.password_reset_code_ttl_seconds))
    expired = assert_problem(await verify(guest, code), 422, "validation")
    for body in (wrong, unknown, expired):
        body.pop("instance", None)
    assert wrong == unknown == expired
    assert fields(wrong) == {"code": "invalid"}
    assert await account(db, alice) == before
    assert await works(alice)


async def test_five_wrong_codes_kill_the_code(guest: Api, alice: Api, mailbox: Mailbox, db: Db) -> None:
    await request(guest, ALICE)
    (code,) = mailbox.codes_for(ALICE)
    account_before = await account(db, alice)
    audit_before = await db.audit_count()
    for attempt in range(1, 6):
        assert_problem(await verify(guest, other_code(code)), 422, "validation")
        assert (await db.rows("password_reset"))[0]["attempts"] == attempt
    assert_problem(await verify(guest, code), 422, "validation")
    assert (await db.rows("password_reset"))[0]["attempts"] == 5
    assert await account(db, alice) == account_before
    assert await db.audit_count() == audit_before
    assert (await signin(guest, ALICE, PASSWORD)).status_code == 200


async def test_a_new_request_waits_a_minute_then_replaces_the_code(
    guest: Api, alice: Api, mailbox: Mailbox, clock: FrozenClock, db: Db
) -> None:
    await request(guest, ALICE)
    (first,) = mailbox.codes_for(ALICE)
    assert_problem(await verify(guest, other_code(first)), 422)
    clock.advance(timedelta(seconds=30))
    assert (await request(guest, ALICE)).status_code == 200
    assert mailbox.codes_for(ALICE) == [first]
    assert (await db.rows("password_reset"))[0]["attempts"] == 1
    clock.advance(timedelta(seconds=30))
    await request(guest, ALICE)
    _, second = mailbox.codes_for(ALICE)
    (pending,) = await db.rows("password_reset")
    assert pending["attempts"] == 0
    if second != first:
        assert_problem(await verify(guest, first), 422)
    assert (await verify(guest, second)).status_code == 200


async def test_bad_input_is_named_and_spends_no_attempt(guest: Api, alice: Api, mailbox: Mailbox, db: Db) -> None:
    await request(guest, ALICE)
    (code,) = mailbox.codes_for(ALICE)
    before = await state(db)
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({}, {"email": "required", "code": "required", "new_password": "required", "new_password_confirm": "required"}),
        (
            {"email": "not-an-address", "code": "12", "new_password": "short", "new_password_confirm": "short"},
            {"email": "format", "code": "format", "new_password": "min_length"},
        ),
        (
            {"email": ALICE, "code": code, "new_password": NEW_PASSWORD, "new_password_confirm": "different-1"},
            {"new_password_confirm": "mismatch"},
        ),
        (
            {"email": ALICE, "code": int(code), "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
            {"code": "invalid"},
        ),
        (
            {
                "email": ALICE,
                "code": FULLWIDTH_DIGITS,
                "new_password": NEW_PASSWORD,
                "new_password_confirm": NEW_PASSWORD,
            },
            {"code": "format"},
        ),
        (
            {"email": ALICE, "code": code, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD, "x": 1},
            {"x": "unknown"},
        ),
    ]
    for attributes, expected in cases:
        body = assert_problem(await act(guest, "password_reset_verify", attributes), 422, "validation")
        assert fields(body) == expected, attributes
    for attributes, expected in [
        ({}, {"email": "required"}),
        ({"email": 5}, {"email": "invalid"}),
        ({"email": "nobody"}, {"email": "format"}),
        ({"email": ALICE, "name": "x"}, {"name": "unknown"}),
    ]:
        body = assert_problem(await act(guest, "password_reset_request", attributes), 422, "validation")
        assert fields(body) == expected, attributes
    assert await state(db) == before
    assert mailbox.codes_for(ALICE) == [code]
    assert (await verify(guest, code)).status_code == 200


async def test_reset_codes_are_for_administrators_only_and_never_shown(
    admin: Api, guest: Api, alice: Api, mailbox: Mailbox
) -> None:
    await request(guest, ALICE)
    assert_problem(await alice.get("/api/password_reset"), 403, "forbidden")
    assert_problem(await guest.get("/api/password_reset"), 401, "unauthorized")
    listed = await admin.get("/api/password_reset")
    assert listed.status_code == 200
    (row,) = listed.json()["data"]
    assert "code_hash" not in row and row["attempts"] == 0
    assert_problem(await admin.patch(f"/api/password_reset/{row['id']}", {"attempts": 0}), 405, "read-only")
