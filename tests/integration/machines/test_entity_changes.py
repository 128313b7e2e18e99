"""Changing the entity a machine runs on must not break the machine."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.machines.conftest import fire, new_order, object_state


async def test_dropping_a_column_a_guard_names_leaves_the_machine_working(
    admin: Api, order_entity: dict[str, Any], order_flow: Any
) -> None:
    order = await new_order(admin)
    view = await object_state(admin, order["id"])
    columns = (await admin.get(f"/api/entity/{order_entity['id']}", params={"include": "columns"})).json()["columns"]
    total = next(c for c in columns if c["name"] == "total")
    # Refusing the drop (409) or allowing it are both acceptable; a broken machine afterwards is not.
    dropped = await admin.delete(f"/api/entity_column/{total['id']}", params={"allow_destructive": "true"})
    assert_problem(dropped, 409, "in-use")
    assert "order_flow" in dropped.json()["detail"]
    assert (await admin.get(f"/api/order/{order['id']}/states")).status_code == 200
    assert (await admin.post("/api/order", {"customer": "after"})).status_code == 201
    assert (await fire(admin, view["id"], "cancel")).status_code == 200


async def test_an_entity_with_a_machine_cannot_be_dropped(
    admin: Api, order_entity: dict[str, Any], order_flow: Any
) -> None:
    dropped = await admin.delete(f"/api/entity/{order_entity['id']}", params={"allow_destructive": "true"})
    assert_problem(dropped, 409, "in-use")
    assert (await admin.post("/api/order", {"customer": "still here", "total": 1})).status_code == 201


async def test_a_change_that_keeps_the_guard_fields_goes_through(
    admin: Api, order_entity: dict[str, Any], order_flow: Any
) -> None:
    added = await admin.post("/api/entity_column", {"entity_id": order_entity["id"], "name": "note", "type": "text"})
    assert added.status_code == 201, added.text
