"""A refused create or patch names every bad field at once and writes nothing."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.crud.conftest import Probe

WRONG_TYPES = {
    "title": 5,
    "code": ["HAM-1"],
    "notes": {"a": 1},
    "qty": "three",
    "price": True,
    "weight": "heavy",
    "active": "yes",
    "kind": 1,
    "contact": 7,
    "site": False,
    "ref": 123,
    "due": 20260101,
    "seen_at": 1700000000,
    "secret": 9,
    "pin": 1234,
}

BAD_VALUES = {
    "title": "x" * 21,
    "code": "ham-1",
    "qty": 101,
    "weight": -0.5,
    "price": "1.234",
    "kind": "gizmo",
    "contact": "not-an-email",
    "site": "ftp://example.com/file",
    "ref": "not-a-uuid",
    "due": "2026-02-30",
    "seen_at": "yesterday at noon",
    "pin": "short",
}
BAD_CODES = {
    "title": "max_length",
    "code": "pattern",
    "qty": "max",
    "weight": "min",
    "price": "scale",
    "kind": "enum",
    "contact": "format",
    "site": "format",
    "ref": "format",
    "due": "format",
    "seen_at": "format",
    "pin": "min_length",
}


def errors_by_field(body: dict[str, Any]) -> dict[str, str]:
    errors = body["errors"]
    for error in errors:
        assert set(error) == {"field", "code", "message"} and error["message"], error
    return {e["field"]: e["code"] for e in errors}


async def test_every_wrong_json_type_reported_at_once(admin: Api, gadget: Any, probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    body = assert_problem(await admin.post("/api/gadget", WRONG_TYPES), 422, "validation")
    assert errors_by_field(body) == dict.fromkeys(WRONG_TYPES, "type")
    await state.check()


async def test_every_bad_value_reported_at_once(admin: Api, gadget: Any, probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    body = assert_problem(await admin.post("/api/gadget", BAD_VALUES), 422, "validation")
    assert errors_by_field(body) == BAD_CODES
    for field in BAD_CODES:
        assert field in body["detail"]
    await state.check()


SINGLE_BAD_VALUES = [
    ("qty", -1, "min"),
    ("qty", 2.5, "type"),
    ("qty", 2**63, "max"),
    ("price", "-0.01", "min"),
    ("price", "1234567.00", "precision"),
    ("price", "NaN", "type"),
    ("price", "twelve", "type"),
    ("title", "nul\x00byte", "format"),
    ("contact", "two@@example.com", "format"),
    ("site", "https://", "format"),
    ("site", "https://exa mple.com", "format"),
    ("seen_at", "2026-13-01T00:00:00Z", "format"),
    ("seen_at", "0001-01-01T00:00:00+01:00", "format"),
    ("seen_at", "9999-12-31T23:59:59-01:00", "format"),
    ("due", "2026-01-01T10:00:00", "format"),
]


async def test_single_bad_values(admin: Api, gadget: Any, probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    for field, value, code in SINGLE_BAD_VALUES:
        body = assert_problem(await admin.post("/api/gadget", {"title": "T", field: value}), 422, "validation")
        assert errors_by_field(body) == {field: code}, (field, value)
    await state.check()


async def test_missing_required_field(admin: Api, gadget: Any, probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    body = assert_problem(await admin.post("/api/gadget", {"notes": "no title"}), 422, "validation")
    assert errors_by_field(body) == {"title": "required"}
    await state.check()


async def test_null_for_required_field(admin: Api, gadget: Any, probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    body = assert_problem(await admin.post("/api/gadget", {"title": None}), 422, "validation")
    assert errors_by_field(body) == {"title": "required"}
    await state.check()


async def test_unknown_and_platform_fields_refused(admin: Api, gadget: Any, probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    body = {"title": "T", "colour": "red", "version": 3, "created_at": "2026-01-01T00:00:00Z", "updated_at": "x"}
    problem = assert_problem(await admin.post("/api/gadget", body), 422, "validation")
    assert errors_by_field(problem) == {
        "colour": "unknown",
        "version": "read_only",
        "created_at": "read_only",
        "updated_at": "read_only",
    }
    await state.check()


async def test_malformed_client_id_refused(admin: Api, gadget: Any, probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    body = assert_problem(await admin.post("/api/gadget", {"title": "T", "id": "row-1"}), 422, "validation")
    assert errors_by_field(body) == {"id": "format"}
    await state.check()


async def test_missing_required_and_bad_values_reported_together(admin: Api, gadget: Any, probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    body = assert_problem(await admin.post("/api/gadget", {"qty": 500, "bogus": 1}), 422, "validation")
    assert errors_by_field(body) == {"qty": "max", "bogus": "unknown", "title": "required"}
    await state.check()


async def test_user_cannot_set_owner(admin: Api, gadget: Any, probe: Probe) -> None:
    user = await admin.signup("sneaky@example.com")
    state = await probe.unchanged("gadget")
    response = await user.post("/api/gadget", {"title": "T", "owner_id": (await admin.me())["id"]})
    body = assert_problem(response, 422, "validation")
    assert errors_by_field(body) == {"owner_id": "forbidden"}
    await state.check()


async def test_bad_permission_value(admin: Api, gadget: Any, probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    response = await admin.post("/api/gadget", {"title": "T", "permission": {"owner": ["fly"]}})
    body = assert_problem(response, 422, "validation")
    assert errors_by_field(body) == {"permission": "format"}
    await state.check()


async def test_patch_reports_every_bad_field_and_writes_nothing(admin: Api, gadget: Any, probe: Probe) -> None:
    row = (await admin.post("/api/gadget", {"title": "T"})).json()
    state = await probe.unchanged("gadget")
    body = {"title": None, "qty": "many", "kind": "gizmo", "id": row["id"], "created_at": "2026-01-01T00:00:00Z"}
    problem = assert_problem(await admin.patch(f"/api/gadget/{row['id']}", body), 422, "validation")
    assert errors_by_field(problem) == {
        "title": "required",
        "qty": "type",
        "kind": "enum",
        "id": "read_only",
        "created_at": "read_only",
    }
    await state.check()


async def test_patch_with_malformed_version(admin: Api, gadget: Any, probe: Probe) -> None:
    row = (await admin.post("/api/gadget", {"title": "T"})).json()
    state = await probe.unchanged("gadget")
    for version in (0, -1, "1", True, 1.5, None):
        response = await admin.patch(f"/api/gadget/{row['id']}", {"version": version})
        assert errors_by_field(assert_problem(response, 422, "validation")) == {"version": "type"}, version
    await state.check()


async def test_number_overflowing_a_float_is_a_malformed_body(admin: Api, gadget: Any, probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    raw = b'{"title": "T", "weight": 1e400}'
    response = await admin.post("/api/gadget", content=raw, headers={"Content-Type": "application/json"})
    assert "out of range" in assert_problem(response, 400, "invalid-body")["detail"]
    await state.check()
