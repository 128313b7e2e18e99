"""The audit log is written by the platform only: the API reads it and refuses every write."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.crud.conftest import Probe


@pytest.fixture
async def entry(admin: Api, gadget: Any) -> dict[str, Any]:
    row = (await admin.post("/api/gadget", {"title": "T"})).json()
    condition = {"all": [{"field": "entity", "op": "equals", "value": "gadget"}]}
    listed = (await admin.get("/api/audit_log", params={"filter": json.dumps(condition)})).json()
    (found,) = listed["data"]
    assert found["row_id"] == row["id"] and found["operation"] == "create"
    return found  # type: ignore[no-any-return]


async def test_audit_log_is_readable(admin: Api, entry: dict[str, Any]) -> None:
    response = await admin.get(f"/api/audit_log/{entry['id']}")
    assert response.status_code == 200 and response.json() == entry


async def test_create_refused(admin: Api, entry: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    fake = {"entity": "gadget", "row_id": entry["row_id"], "operation": "delete"}
    body = assert_problem(await admin.post("/api/audit_log", fake), 405, "read-only")
    assert body["entity"] == "audit_log"
    await state.check()


async def test_update_refused(admin: Api, entry: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    response = await admin.patch(f"/api/audit_log/{entry['id']}", {"operation": "nothing", "version": 1})
    assert_problem(response, 405, "read-only")
    await state.check()


async def test_delete_refused(admin: Api, entry: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    assert_problem(await admin.delete(f"/api/audit_log/{entry['id']}"), 405, "read-only")
    await state.check()


async def test_refused_for_users_and_guests_too(admin: Api, entry: dict[str, Any], probe: Probe) -> None:
    user = await admin.signup("auditor@example.com")
    state = await probe.unchanged("gadget")
    for api in (user, admin.as_guest()):
        assert_problem(await api.post("/api/audit_log", {"entity": "x"}), 405, "read-only")
        assert_problem(await api.delete(f"/api/audit_log/{entry['id']}"), 405, "read-only")
    await state.check()


async def test_refused_before_the_body_or_id_is_looked_at(admin: Api, entry: dict[str, Any], probe: Probe) -> None:
    """A client learns the entity is read-only, not that its body or id was wrong."""
    state = await probe.unchanged("gadget")
    assert_problem(await admin.post("/api/audit_log", {"bogus": 1}), 405, "read-only")
    assert_problem(await admin.patch("/api/audit_log/not-a-uuid", {"operation": "x"}), 405, "read-only")
    assert_problem(await admin.delete("/api/audit_log/not-a-uuid"), 405, "read-only")
    await state.check()
