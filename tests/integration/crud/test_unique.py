"""Unique columns are guarded by the database, so racing writers cannot both win."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.crud.conftest import Probe


async def test_duplicate_on_create(admin: Api, gadget: Any, probe: Probe) -> None:
    assert (await admin.post("/api/gadget", {"title": "A", "code": "ABC-1"})).status_code == 201
    state = await probe.unchanged("gadget")
    body = assert_problem(await admin.post("/api/gadget", {"title": "B", "code": "ABC-1"}), 409, "duplicate")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("code", "unique")]
    assert body["entity"] == "gadget" and "code" in body["detail"]
    await state.check()


async def test_duplicate_on_patch(admin: Api, gadget: Any, probe: Probe) -> None:
    await admin.post("/api/gadget", {"title": "A", "code": "ABC-1"})
    second = (await admin.post("/api/gadget", {"title": "B", "code": "ABC-2"})).json()
    state = await probe.unchanged("gadget")
    response = await admin.patch(f"/api/gadget/{second['id']}", {"code": "ABC-1", "version": 1})
    body = assert_problem(response, 409, "duplicate")
    assert [e["field"] for e in body["errors"]] == ["code"]
    await state.check()


async def test_nulls_do_not_collide(admin: Api, gadget: Any, probe: Probe) -> None:
    for title in ("A", "B"):
        assert (await admin.post("/api/gadget", {"title": title})).status_code == 201
    assert await probe.count("gadget") == 2


async def test_concurrent_creates_one_wins(admin: Api, gadget: Any, probe: Probe) -> None:
    bodies = [{"title": f"T{i}", "code": "RAC-1"} for i in range(6)]
    responses = await probe.concurrently(admin, "POST", "/api/gadget", bodies)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "duplicate")
    assert await probe.count("gadget") == 1
    creates = [e for e in await probe.rows("audit_log") if e["entity"] == "gadget"]
    assert len(creates) == 1


async def test_email_uniqueness_ignores_case(admin: Api, probe: Probe) -> None:
    definition = {"name": "member", "columns": [{"name": "email", "type": "email", "unique": True}]}
    assert (await admin.post("/api/entity", definition)).status_code == 201
    assert (await admin.post("/api/member", {"email": "Ann@Example.com"})).status_code == 201
    body = assert_problem(await admin.post("/api/member", {"email": "ann@example.COM"}), 409, "duplicate")
    assert [e["field"] for e in body["errors"]] == ["email"]
    assert await probe.count("member") == 1


async def test_composite_unique_index_names_both_fields(admin: Api, probe: Probe) -> None:
    definition = {
        "name": "seat",
        "columns": [{"name": "row_no", "type": "integer"}, {"name": "seat_no", "type": "integer"}],
        "indexes": [{"columns": ["row_no", "seat_no"], "unique": True}],
    }
    assert (await admin.post("/api/entity", definition)).status_code == 201
    assert (await admin.post("/api/seat", {"row_no": 1, "seat_no": 1})).status_code == 201
    assert (await admin.post("/api/seat", {"row_no": 1, "seat_no": 2})).status_code == 201
    state = await probe.unchanged("seat")
    body = assert_problem(await admin.post("/api/seat", {"row_no": 1, "seat_no": 2}), 409, "duplicate")
    assert sorted(e["field"] for e in body["errors"]) == ["row_no", "seat_no"]
    await state.check()
