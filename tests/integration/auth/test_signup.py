"""Signing up: the happy path, every way the input can be wrong, and nothing stored on refusal."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.auth.support import Db

SIGNUP = "/action/user_account/signup"
GOOD = {"email": "carol@example.com", "name": "Carol", "password": "long-enough-1", "password_confirm": "long-enough-1"}


def fields_of(body: dict[str, Any]) -> dict[str, str]:
    return {e["field"]: e["code"] for e in body["errors"]}


async def test_signup_answers_directives_and_creates_an_owned_account(guest: Api, db: Db) -> None:
    response = await guest.post(SIGNUP, {"attributes": GOOD})
    assert response.status_code == 200, response.text
    directives = response.json()
    assert isinstance(directives, list)
    assert all(set(d) == {"type", "attributes"} for d in directives)
    account = next(d["attributes"] for d in directives if d["type"] == "user_account")
    assert account["email"] == "carol@example.com" and account["name"] == "Carol"
    assert "password" not in account and "password_confirm" not in account
    assert any(d["type"] == "client.notify" for d in directives)
    (stored,) = await db.rows("user_account", email="carol@example.com")
    assert str(stored["owner_id"]) == account["id"] == str(stored["id"])
    assert stored["password"] != GOOD["password"] and stored["password"].startswith("$argon2")


async def test_signed_up_user_can_sign_in(guest: Api) -> None:
    user = await guest.signup("dave@example.com")
    me = await user.get(f"/api/user_account/{(await user.me())['id']}")
    assert me.status_code == 200 and me.json()["email"] == "dave@example.com"


async def assert_refused(guest: Api, db: Db, body: Any, expected: dict[str, str] | None = None) -> None:
    """A 422 naming exactly the ``expected`` fields (if given), after which nothing was stored."""
    users_before = await db.rows("user_account")
    audits_before = await db.audit_count()
    problem = assert_problem(await guest.post(SIGNUP, body), 422, "validation")
    assert problem["errors"] and all(e["message"] for e in problem["errors"]), problem
    if expected is not None:
        assert fields_of(problem) == expected, body
    assert await db.rows("user_account") == users_before
    assert await db.audit_count() == audits_before


async def test_missing_fields_are_each_named(guest: Api, db: Db) -> None:
    everything = {"email": "required", "password": "required", "password_confirm": "required"}
    await assert_refused(guest, db, {"attributes": {}}, everything)
    passwords = {"password": "required", "password_confirm": "required"}
    await assert_refused(guest, db, {"attributes": {"email": "x@example.com"}}, passwords)


async def test_wrong_types_are_each_named(guest: Api, db: Db) -> None:
    await assert_refused(guest, db, {"attributes": {**GOOD, "email": 42}}, {"email": "invalid"})
    both = {"password": "invalid", "password_confirm": "invalid"}
    await assert_refused(guest, db, {"attributes": {**GOOD, "password": ["a"], "password_confirm": None}}, both)
    await assert_refused(guest, db, {"attributes": {**GOOD, "name": {"first": "C"}}}, {"name": "invalid"})


async def test_values_breaking_the_rules_are_each_named(guest: Api, db: Db) -> None:
    mismatch = {**GOOD, "password_confirm": "something-else"}
    await assert_refused(guest, db, {"attributes": mismatch}, {"password_confirm": "mismatch"})
    short = {**GOOD, "password": "short", "password_confirm": "short"}
    await assert_refused(guest, db, {"attributes": short}, {"password": "min_length"})
    huge = "x" * 1025
    long_password = {**GOOD, "password": huge, "password_confirm": huge}
    await assert_refused(guest, db, {"attributes": long_password}, {"password": "max_length"})
    await assert_refused(guest, db, {"attributes": {**GOOD, "name": "n" * 201}}, {"name": "max_length"})
    for email in ("not-an-email", "a@b", "two@@example.com", "spaces in@example.com", ""):
        await assert_refused(guest, db, {"attributes": {**GOOD, "email": email}}, {"email": "format"})


async def test_unknown_attributes_are_named(guest: Api, db: Db) -> None:
    await assert_refused(guest, db, {"attributes": {**GOOD, "role": "admin"}}, {"role": "unknown"})
    both = {"role": "unknown", "email": "invalid"}
    await assert_refused(guest, db, {"attributes": {**GOOD, "role": "admin", "email": 1}}, both)


async def test_every_bad_value_is_reported_at_once(guest: Api, db: Db) -> None:
    attributes = {"email": "nope", "password": "short", "password_confirm": "other"}
    expected = {"email": "format", "password": "min_length", "password_confirm": "mismatch"}
    await assert_refused(guest, db, {"attributes": attributes}, expected)


async def test_body_without_attributes_is_refused(guest: Api, db: Db) -> None:
    for body in ({}, {"email": "x@example.com"}, {"attributes": GOOD, "extra": 1}, [GOOD], {"attributes": "x"}):
        await assert_refused(guest, db, body)


async def test_malformed_json_is_400(guest: Api) -> None:
    response = await guest.client.post(SIGNUP, content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(response, 400, "invalid-body")


async def test_duplicate_email_is_409_and_keeps_the_first_account(guest: Api, db: Db) -> None:
    assert (await guest.post(SIGNUP, {"attributes": GOOD})).status_code == 200
    (first,) = await db.rows("user_account", email=GOOD["email"])
    audits_before = await db.audit_count()
    again = {
        **GOOD,
        "email": "CAROL@Example.com",
        "name": "Impostor",
        "password": "other-password",
        "password_confirm": "other-password",
    }
    assert_problem(await guest.post(SIGNUP, {"attributes": again}), 409)
    (still,) = await db.rows("user_account", email=GOOD["email"])
    assert still == first
    assert await db.audit_count() == audits_before
    await guest.signin(GOOD["email"], GOOD["password"])
    assert_problem(
        await guest.post(
            "/action/user_account/signin", {"attributes": {"email": GOOD["email"], "password": "other-password"}}
        ),
        401,
    )


async def test_emails_are_case_insensitive(guest: Api, db: Db) -> None:
    await guest.signup("Foo@X.com", password="mixed-case-pw")
    (stored,) = await db.rows("user_account", email="foo@x.com")
    assert stored["email"] == "foo@x.com"
    await guest.signin("foo@x.com", "mixed-case-pw")
    await guest.signin("FOO@X.COM", "mixed-case-pw")
    await guest.signin("  foo@x.com ", "mixed-case-pw")


async def test_signup_and_signin_stay_open_to_guests_once_an_admin_exists(guest: Api, admin: Api, db: Db) -> None:
    assert await db.run(db.platform.auth.has_admin)
    user = await guest.signup("late@example.com")
    assert user.token


async def test_signed_in_user_may_also_sign_up_another_account(alice: Api) -> None:
    response = await alice.post(SIGNUP, {"attributes": {**GOOD, "email": "second@example.com"}})
    assert response.status_code == 200, response.text


async def test_actions_lists_signup_and_signin_for_guests_with_their_input_schema(guest: Api) -> None:
    response = await guest.get("/actions")
    assert response.status_code == 200, response.text
    listed = {(a["entity"], a["name"]): a for a in response.json()}
    signup = listed[("user_account", "signup")]
    signin = listed[("user_account", "signin")]
    assert signup["url"] == SIGNUP and signin["url"] == "/action/user_account/signin"
    assert signup["access"] == signin["access"] == "guest"
    schema = resolved(signup["input_schema"])
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"email", "name", "password", "password_confirm"}
    assert set(schema["required"]) == {"email", "password", "password_confirm"}
    signin_schema = resolved(signin["input_schema"])
    assert set(signin_schema["required"]) == {"email", "password"}
    assert signin_schema["properties"]["email"]["type"] == "string"


def resolved(schema: dict[str, Any]) -> dict[str, Any]:
    """The object schema itself, following a top-level ``$ref`` into ``$defs``."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith("#/$defs/"), ref
    return schema["$defs"][ref.removeprefix("#/$defs/")]  # type: ignore[no-any-return]


async def test_unknown_action_is_404(guest: Api) -> None:
    assert_problem(await guest.post("/action/user_account/launch", {"attributes": {}}), 404, "not-found")


async def test_accounts_are_created_through_the_api_by_administrators_only(
    admin: Api, alice: Api, guest: Api, db: Db
) -> None:
    body = {"email": "Made@Example.com", "password": "made-by-admin-1"}
    before = await db.rows("user_account")
    denied = assert_problem(await guest.post("/api/user_account", body), 401, "unauthorized")
    assert (denied["permission"], denied["scope"]) == ("create", "table")
    denied = assert_problem(await alice.post("/api/user_account", body), 403, "forbidden")
    assert (denied["permission"], denied["scope"]) == ("create", "table")
    assert await db.rows("user_account") == before
    made = await admin.post("/api/user_account", body)
    assert made.status_code == 201, made.text
    assert made.json()["email"] == "made@example.com" and "password" not in made.json()
    (stored,) = await db.rows("user_account", email="made@example.com")
    assert stored["password"].startswith("$argon2")
    await guest.signin("made@example.com", "made-by-admin-1")
