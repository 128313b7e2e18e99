"""password_change needs the current password, revokes older tokens and answers a fresh one."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.actions.users.conftest import (
    NEW_PASSWORD,
    PASSWORD,
    account,
    act,
    fields,
    let_people_edit_their_account,
    signin,
    state,
    stored,
    works,
)
from tests.integration.auth.support import Db

GOOD = {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD}


async def test_the_new_password_works_and_the_caller_stays_signed_in(guest: Api, alice: Api, db: Db) -> None:
    phone = await guest.signin("alice@example.com", PASSWORD)
    before = await account(db, alice)
    response = await act(alice, "password_change", GOOD)
    fresh = Api(alice.client, stored(response, "token"))
    assert await works(fresh)
    assert not await works(alice) and not await works(phone)
    assert_problem(await signin(guest, "alice@example.com", PASSWORD), 401, "unauthorized")
    assert (await signin(guest, "alice@example.com", NEW_PASSWORD)).status_code == 200
    after = await account(db, alice)
    assert after["password"] != before["password"] and after["password"].startswith("$argon2")
    assert after["token_version"] == before["token_version"] + 1
    (entry,) = [r for r in await db.audit_of("user_account", after["id"]) if r["operation"] == "update"]
    assert entry["after"] == {"password": "[hidden]", "token_version": 2}
    assert str(entry["actor_id"]) == str(after["id"])
    assert NEW_PASSWORD not in response.text


async def test_a_wrong_current_password_is_422_not_401(alice: Api, db: Db) -> None:
    before = await state(db)
    body = assert_problem(
        await act(alice, "password_change", {**GOOD, "current_password": "not-my-password"}), 422, "validation"
    )
    assert fields(body) == {"current_password": "wrong"}
    assert await state(db) == before
    assert await works(alice)


async def test_new_password_rules_and_confirmation_are_reported_together(alice: Api, db: Db) -> None:
    before = await state(db)
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"new_password": "short", "new_password_confirm": "short"}, {"new_password": "min_length"}),
        ({"new_password_confirm": "something-else-1"}, {"new_password_confirm": "mismatch"}),
        ({"new_password": "x" * 1025, "new_password_confirm": "x" * 1025}, {"new_password": "max_length"}),
        (
            {"current_password": "wrong-wrong", "new_password": "short", "new_password_confirm": "other"},
            {"current_password": "wrong", "new_password": "min_length", "new_password_confirm": "mismatch"},
        ),
    ]
    for change, expected in cases:
        body = assert_problem(await act(alice, "password_change", {**GOOD, **change}), 422, "validation")
        assert fields(body) == expected, change
    assert await state(db) == before
    assert await works(alice)


async def test_missing_wrong_typed_and_unknown_attributes_are_named(alice: Api, db: Db) -> None:
    before = await state(db)
    body = assert_problem(await act(alice, "password_change", {}), 422, "validation")
    assert fields(body) == dict.fromkeys(GOOD, "required")
    body = assert_problem(await act(alice, "password_change"), 422, "validation")
    assert set(fields(body)) == set(GOOD)
    wrong_types = {"current_password": 12345678, "new_password": None, "new_password_confirm": ["a"], "hint": "x"}
    body = assert_problem(await act(alice, "password_change", wrong_types), 422, "validation")
    assert fields(body) == {
        "current_password": "invalid",
        "new_password": "invalid",
        "new_password_confirm": "invalid",
        "hint": "unknown",
    }
    assert await state(db) == before
    assert await works(alice)


async def test_guests_are_asked_to_sign_in(guest: Api, alice: Api, db: Db) -> None:
    before = await state(db)
    assert_problem(await act(guest, "password_change", GOOD), 401, "unauthorized")
    assert await state(db) == before


async def test_the_password_cannot_be_patched_around_the_check(admin: Api, alice: Api, guest: Api, db: Db) -> None:
    """Even where people may edit their own account, a stolen token alone must not set the password."""
    await let_people_edit_their_account(admin)
    me = await account(db, alice)
    before = await state(db)
    body = assert_problem(await alice.patch(f"/api/user_account/{me['id']}", {"password": NEW_PASSWORD}), 403)
    assert body["fields"] == ["password"]
    assert await state(db) == before
    # An administrator's reset revokes the account's tokens with the old password.
    assert (await admin.patch(f"/api/user_account/{me['id']}", {"password": NEW_PASSWORD})).status_code == 200
    assert not await works(alice)
    assert (await signin(guest, "alice@example.com", NEW_PASSWORD)).status_code == 200
