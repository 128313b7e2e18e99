"""Two-factor sign-in: register, confirm with a first code, sign in with codes, turn it off."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp

from stateyard.core.clock import FrozenClock
from tests.conftest import Api, assert_problem
from tests.integration.actions.users.conftest import (
    PASSWORD,
    account,
    act,
    fields,
    let_people_edit_their_account,
    signin,
    state,
    stored,
    totp_code,
    works,
    wrong_totp,
)
from tests.integration.auth.support import Db

ALICE = "alice@example.com"


async def register(api: Api) -> str:
    shown = stored(await act(api, "totp_register"), "totp")
    assert shown["uri"] == pyotp.TOTP(shown["secret"]).provisioning_uri(name=ALICE, issuer_name="stateyard")
    assert shown["uri"].startswith("otpauth://totp/")
    return str(shown["secret"])


async def enable(api: Api, clock: FrozenClock) -> str:
    secret = await register(api)
    response = await act(api, "totp_verify", {"code": totp_code(secret, clock)})
    assert response.status_code == 200, response.text
    return secret


async def test_once_on_signin_needs_the_current_code(guest: Api, alice: Api, clock: FrozenClock, db: Db) -> None:
    secret = await register(alice)
    me = await account(db, alice)
    assert me["totp_enabled"] is False and me["totp_secret"] and secret not in me["totp_secret"]
    assert (await signin(guest, ALICE, PASSWORD)).status_code == 200  # not on before a first code
    assert (await act(alice, "totp_verify", {"code": totp_code(secret, clock)})).status_code == 200
    assert (await account(db, alice))["totp_enabled"] is True
    body = assert_problem(await signin(guest, ALICE, PASSWORD), 422, "validation")
    assert fields(body) == {"totp": "totp_required"}
    body = assert_problem(await signin(guest, ALICE, PASSWORD, totp=wrong_totp(secret, clock)), 401, "unauthorized")
    assert body["reason"] == "invalid_totp"
    assert (await signin(guest, ALICE, PASSWORD, totp=totp_code(secret, clock))).status_code == 200
    # The neighbouring steps are accepted (clock drift), older ones are not.
    assert (await signin(guest, ALICE, PASSWORD, totp=totp_code(secret, clock, steps=-1))).status_code == 200
    old = totp_code(secret, clock, steps=-3)
    if old not in {totp_code(secret, clock, steps=s) for s in (-1, 0, 1)}:
        assert_problem(await signin(guest, ALICE, PASSWORD, totp=old), 401)
    assert await works(alice)  # turning it on keeps existing tokens


async def test_the_code_is_asked_for_only_after_the_right_password(guest: Api, alice: Api, clock: FrozenClock) -> None:
    await enable(alice, clock)
    wrong = assert_problem(await signin(guest, ALICE, "not-her-password"), 401, "unauthorized")
    unknown = assert_problem(await signin(guest, "nobody@example.com", "not-her-password"), 401, "unauthorized")
    for body in (wrong, unknown):
        body.pop("instance", None)
    assert wrong == unknown


async def test_codes_follow_the_injected_clock(guest: Api, alice: Api, clock: FrozenClock) -> None:
    secret = await enable(alice, clock)
    clock.advance(timedelta(hours=5))
    assert (await signin(guest, ALICE, PASSWORD, totp=totp_code(secret, clock))).status_code == 200


async def test_disable_needs_a_current_code(guest: Api, alice: Api, clock: FrozenClock, db: Db) -> None:
    secret = await enable(alice, clock)
    before = await state(db)
    for code, expected in ((wrong_totp(secret, clock), "invalid"), ("12345", "format"), ("abcdef", "format")):
        body = assert_problem(await act(alice, "totp_disable", {"code": code}), 422, "validation")
        assert fields(body) == {"code": expected}
    assert await state(db) == before
    assert (await act(alice, "totp_disable", {"code": totp_code(secret, clock)})).status_code == 200
    me = await account(db, alice)
    assert me["totp_enabled"] is False and me["totp_secret"] is None
    assert (await signin(guest, ALICE, PASSWORD)).status_code == 200


async def test_a_wrong_first_code_leaves_it_off(alice: Api, clock: FrozenClock, db: Db) -> None:
    secret = await register(alice)
    before = await state(db)
    for code, expected in ((wrong_totp(secret, clock), "invalid"), ("1234567", "format"), (" 12345", "format")):
        body = assert_problem(await act(alice, "totp_verify", {"code": code}), 422, "validation")
        assert fields(body) == {"code": expected}
    assert await state(db) == before


async def test_out_of_order_calls_are_409_and_change_nothing(alice: Api, clock: FrozenClock, db: Db) -> None:
    before = await state(db)
    assert_problem(await act(alice, "totp_verify", {"code": "123456"}), 409, "totp-not-registered")
    assert_problem(await act(alice, "totp_disable", {"code": "123456"}), 409, "totp-not-enabled")
    assert await state(db) == before
    secret = await enable(alice, clock)
    before = await state(db)
    assert_problem(await act(alice, "totp_register"), 409, "totp-enabled")
    assert_problem(await act(alice, "totp_verify", {"code": totp_code(secret, clock)}), 409, "totp-enabled")
    assert await state(db) == before


async def test_registering_again_replaces_an_unconfirmed_key(alice: Api, clock: FrozenClock) -> None:
    first = await register(alice)
    second = await register(alice)
    assert first != second
    if totp_code(first, clock) != totp_code(second, clock):
        assert_problem(await act(alice, "totp_verify", {"code": totp_code(first, clock)}), 422)
    assert (await act(alice, "totp_verify", {"code": totp_code(second, clock)})).status_code == 200


async def test_guests_and_bad_attributes_are_refused(guest: Api, alice: Api, db: Db) -> None:
    before = await state(db)
    for name in ("totp_register", "totp_verify", "totp_disable"):
        assert_problem(await act(guest, name, {"code": "123456"} if name != "totp_register" else None), 401)
    cases: list[tuple[str, Any, dict[str, str]]] = [
        ("totp_register", {"code": "123456"}, {"code": "unknown"}),
        ("totp_verify", {}, {"code": "required"}),
        ("totp_verify", {"code": 123456}, {"code": "invalid"}),
        ("totp_disable", {"code": None, "really": True}, {"code": "invalid", "really": "unknown"}),
    ]
    for name, attributes, expected in cases:
        body = assert_problem(await act(alice, name, attributes), 422, "validation")
        assert fields(body) == expected, (name, attributes)
    body = assert_problem(await signin(guest, ALICE, PASSWORD, totp=123456), 422, "validation")
    assert fields(body) == {"totp": "invalid"}
    assert await state(db) == before


async def test_it_cannot_be_patched_off_without_a_code(
    admin: Api, guest: Api, alice: Api, clock: FrozenClock, db: Db
) -> None:
    """Even where people may edit their own account; an administrator may (a lost phone)."""
    await enable(alice, clock)
    await let_people_edit_their_account(admin)
    uid = str((await account(db, alice))["id"])
    before = await state(db)
    for change in ({"totp_enabled": False}, {"totp_secret": "JBSWY3DPEHPK3PXP"}, {"name": "A", "totp_enabled": False}):
        body = assert_problem(await alice.patch(f"/api/user_account/{uid}", change), 403, "forbidden")
        assert body["fields"] == [k for k in change if k != "name"]
    assert await state(db) == before
    assert (
        await admin.patch(f"/api/user_account/{uid}", {"totp_enabled": False, "totp_secret": None})
    ).status_code == 200
    assert (await signin(guest, ALICE, PASSWORD)).status_code == 200
