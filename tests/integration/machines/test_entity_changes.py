"""Changing the entity a machine runs on must not break the machine."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.integration.machines.conftest import fire, new_order, object_state


@pytest.mark.xfail(
    strict=True,
    reason="design gap: entity and column changes are not checked against machine guards; a dropped guarded "
    "column makes creating rows (auto_start), firing and explaining answer 500",
)
async def test_dropping_a_column_a_guard_names_leaves_the_machine_working(
    admin: Api, order_entity: dict[str, Any], order_flow: Any
) -> None:
    order = await new_order(admin)
    view = await object_state(admin, order["id"])
    columns = (await admin.get(f"/api/entity/{order_entity['id']}", params={"include": "columns"})).json()["columns"]
    total = next(c for c in columns if c["name"] == "total")
    # Refusing the drop (409) or allowing it are both acceptable; a broken machine afterwards is not.
    dropped = await admin.delete(f"/api/entity_column/{total['id']}", params={"allow_destructive": "true"})
    assert dropped.status_code in (204, 409), dropped.text
    assert (await admin.get(f"/api/order/{order['id']}/states")).status_code == 200
    assert (await admin.post("/api/order", {"customer": "after"})).status_code == 201
    assert (await fire(admin, view["id"], "cancel")).status_code == 200
