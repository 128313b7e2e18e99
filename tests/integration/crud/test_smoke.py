from __future__ import annotations

import json

from tests.conftest import Api, assert_problem


async def test_create_entity_then_crud(admin: Api, order_entity: dict) -> None:
    created = await admin.post("/api/order", {"customer": "ACME", "total": 12.5})
    assert created.status_code == 201, created.text
    row = created.json()
    assert row["version"] == 1 and row["status"] == "new"
    listed = await admin.get("/api/order", params={"filter": json.dumps({"field": "total", "op": "gt", "value": 10})})
    assert listed.json()["meta"]["total"] == 1
    patched = await admin.patch(f"/api/order/{row['id']}", {"total": 20, "version": 1})
    assert patched.status_code == 200 and patched.json()["version"] == 2
    stale = await admin.patch(f"/api/order/{row['id']}", {"total": 30, "version": 1})
    assert_problem(stale, 409, "stale-version")
    deleted = await admin.delete(f"/api/order/{row['id']}")
    assert deleted.status_code == 204
    assert_problem(await admin.get(f"/api/order/{row['id']}"), 404, "not-found")
