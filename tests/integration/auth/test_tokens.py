"""Signing in and using the token: every bad token is the same kind of 401."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt

from stateyard.core.clock import FrozenClock
from tests.conftest import Api, assert_problem
from tests.integration.auth.support import Db, user_id

SIGNIN = "/action/user_account/signin"


def assert_bad_token(response: Any) -> dict[str, Any]:
    body = assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")
    return body


async def signin(guest: Api, email: Any, password: Any) -> Any:
    return await guest.post(SIGNIN, {"attributes": {"email": email, "password": password}})


async def test_signin_returns_a_token_directive(guest: Api, alice: Api) -> None:
    response = await signin(guest, "alice@example.com", "user-password-1")
    assert response.status_code == 200, response.text
    directives = response.json()
    (stored,) = [d for d in directives if d["type"] == "client.store.set"]
    assert stored["attributes"]["key"] == "token"
    token = stored["attributes"]["value"]
    assert token.count(".") == 2
    me = await Api(guest.client, token).get(f"/api/user_account/{await user_id(alice)}")
    assert me.status_code == 200 and me.json()["email"] == "alice@example.com"


async def test_wrong_password_and_unknown_email_get_the_same_401(guest: Api, alice: Api) -> None:
    wrong = assert_problem(await signin(guest, "alice@example.com", "not-her-password"), 401, "unauthorized")
    unknown = assert_problem(await signin(guest, "nobody@example.com", "user-password-1"), 401, "unauthorized")
    strip = ("instance",)
    assert {k: v for k, v in wrong.items() if k not in strip} == {k: v for k, v in unknown.items() if k not in strip}
    assert "token" not in json.dumps(wrong)


async def test_signin_with_bad_input_is_422(guest: Api) -> None:
    body = assert_problem(await guest.post(SIGNIN, {"attributes": {"email": 5}}), 422, "validation")
    assert {e["field"] for e in body["errors"]} == {"email", "password"}


async def test_no_token_is_a_guest_and_guest_reads_are_refused_with_401(guest: Api, notes: None) -> None:
    body = assert_bad_token(await guest.get("/api/note"))
    assert body["permission"] == "read" and body["scope"] == "table" and body["entity"] == "note"


async def test_malformed_authorization_is_401(guest: Api, alice: Api) -> None:
    basic = "Basic " + base64.b64encode(b"alice@example.com:user-password-1").decode()
    for authorization in ("Bearer garbage", "Bearer ", "Bearer a.b.c", basic, "Token abc", "bearer-without-space"):
        response = await guest.get("/api/user_account", headers={"Authorization": authorization})
        assert_bad_token(response)


async def test_token_signed_with_another_key_is_401(guest: Api, alice: Api) -> None:
    claims = jwt.decode(alice.token, options={"verify_signature": False})  # type: ignore[arg-type]
    forged = jwt.encode(claims, b"another-key-another-key-another-key!", algorithm="HS256")
    assert_bad_token(await Api(guest.client, forged).get("/api/user_account"))


async def test_token_with_alg_none_is_401(guest: Api, alice: Api) -> None:
    claims = jwt.decode(alice.token, options={"verify_signature": False})  # type: ignore[arg-type]
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert_bad_token(await Api(guest.client, unsigned).get("/api/user_account"))


async def test_token_for_an_admin_forged_from_a_user_token_is_401(guest: Api, alice: Api, admin: Api) -> None:
    claims = jwt.decode(alice.token, options={"verify_signature": False})  # type: ignore[arg-type]
    claims["sub"] = await user_id(admin)
    header, _, signature = alice.token.split(".")  # type: ignore[union-attr]
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = f"{header}.{payload}.{signature}"
    assert_bad_token(await Api(guest.client, tampered).get("/api/user_account"))


async def test_token_expires_after_the_configured_lifetime(alice: Api, clock: FrozenClock, db: Db) -> None:
    ttl = db.platform.settings.token_ttl_seconds
    clock.advance(timedelta(seconds=ttl - 1))
    assert (await alice.get("/api/user_account")).status_code == 200
    clock.advance(timedelta(seconds=1))
    body = assert_bad_token(await alice.get("/api/user_account"))
    assert "expired" in body["detail"]


async def test_token_of_a_deleted_user_is_401(admin: Api, alice: Api) -> None:
    uid = await user_id(alice)
    assert (await admin.delete(f"/api/user_account/{uid}")).status_code == 204
    assert_bad_token(await alice.get("/api/user_account"))
    assert_problem(await signin(alice.as_guest(), "alice@example.com", "user-password-1"), 401)


async def test_token_of_a_deactivated_user_is_401_and_signin_is_refused(admin: Api, alice: Api) -> None:
    uid = await user_id(alice)
    response = await admin.patch(f"/api/user_account/{uid}", {"active": False})
    assert response.status_code == 200, response.text
    assert_bad_token(await alice.get("/api/user_account"))
    assert_bad_token(await signin(alice.as_guest(), "alice@example.com", "user-password-1"))
    assert (await admin.patch(f"/api/user_account/{uid}", {"active": True})).status_code == 200
    assert (await alice.get("/api/user_account")).status_code == 200
