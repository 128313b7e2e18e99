"""Deleting rows and machines: a row takes its object states along, a machine in use stays."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.machines.conftest import PAYMENT, MachineProbe, created, fire, new_order, object_state


async def test_deleting_a_row_removes_its_object_states_but_keeps_history(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    order = await new_order(seller)
    kept = await new_order(seller)
    await seller.post(f"/api/order/{order['id']}/states", {"machine": "payment"})
    view = await object_state(seller, order["id"])
    await fire(seller, view["id"], "cancel")
    assert len(await probe.where("object_state", row_id=order["id"])) == 2

    assert (await seller.delete(f"/api/order/{order['id']}")).status_code == 204
    assert await probe.where("object_state", row_id=order["id"]) == []
    assert len(await probe.where("object_state", row_id=kept["id"])) == 1
    history = await seller.get(
        "/api/state_transition",
        params={"filter": json.dumps({"field": "row_id", "op": "equals", "value": order["id"]})},
    )
    assert [t["event"] for t in history.json()["data"]] == ["@start", "@start", "cancel"]
    assert_problem(await seller.get(f"/api/order/{order['id']}/history"), 404, "not-found")
    assert_problem(await fire(seller, view["id"], "ship"), 404, "not-found")


async def test_a_machine_with_running_rows_cannot_be_deleted(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    await new_order(admin)
    before = await probe.machine_state()
    assert_problem(await admin.delete(f"/api/state_machine/{order_flow['id']}"), 409, "in-use")
    await before.check()


async def test_a_machine_without_running_rows_is_deleted_with_its_versions(
    admin: Api, order_flow: Any, probe: MachineProbe
) -> None:
    order = await new_order(admin)
    assert (await admin.delete(f"/api/order/{order['id']}")).status_code == 204
    assert (await admin.delete(f"/api/state_machine/{order_flow['id']}")).status_code == 204
    assert await probe.where("state_machine_version", machine_id=order_flow["id"]) == []
    # History outlives the machine; new rows no longer start it.
    assert len(await probe.where("state_transition", row_id=order["id"])) == 1
    fresh = await new_order(admin)
    assert (await admin.get(f"/api/order/{fresh['id']}/states")).json() == []
    assert_problem(await admin.get("/api/state_machine/order_flow/diagram"), 404, "not-found")


async def test_only_the_owner_deletes_a_machine(admin: Api, seller: Api, order_flow: Any, probe: MachineProbe) -> None:
    before = await probe.machine_state()
    assert_problem(await seller.delete(f"/api/state_machine/{order_flow['id']}"), 403, "forbidden")
    await before.check()
