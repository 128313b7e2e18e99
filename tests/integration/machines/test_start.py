"""Starting machines on rows: automatically on create, or by hand; once per machine and row."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.machines.conftest import PAYMENT, MachineProbe, created, new_order, states_of

UNKNOWN_ID = "0190c6d8-0000-7000-8000-000000000000"


async def test_auto_start_puts_a_new_row_in_the_initial_state(
    admin: Api, seller: Api, order_flow: dict[str, Any], probe: MachineProbe
) -> None:
    order = await new_order(seller)
    (view,) = await states_of(seller, order["id"])
    assert {k: view[k] for k in ("entity", "row_id", "machine", "machine_version", "state", "final", "version")} == {
        "entity": "order",
        "row_id": order["id"],
        "machine": "order_flow",
        "machine_version": 1,
        "state": "pending",
        "final": False,
        "version": 1,
    }
    (stored,) = await probe.where("object_state", row_id=order["id"])
    assert str(stored["id"]) == view["id"] and str(stored["owner_id"]) == order["owner_id"]
    (start,) = await probe.where("state_transition", row_id=order["id"])
    assert (start["event"], start["from_state"], start["to_state"]) == ("@start", None, "pending")
    assert str(start["actor_id"]) == (await seller.me())["id"]
    (entered,) = await probe.where("outbox", row_id=order["id"])
    assert entered["topic"] == "state.entered"
    assert entered["payload"]["state"] == "pending" and entered["payload"]["object_state_id"] == view["id"]


async def test_without_auto_start_a_new_row_runs_no_machine(admin: Api, order_entity: Any, probe: MachineProbe) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    order = await new_order(admin)
    assert await states_of(admin, order["id"]) == []
    assert await probe.where("object_state") == [] and await probe.where("outbox") == []


async def test_starting_by_hand_answers_the_object_state(
    admin: Api, order_flow: Any, seller: Api, probe: MachineProbe
) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    order = await new_order(seller)
    response = await seller.post(f"/api/order/{order['id']}/states", {"machine": "payment"})
    assert response.status_code == 201, response.text
    view = response.json()
    assert (view["machine"], view["state"], view["version"], view["row_id"]) == ("payment", "unpaid", 1, order["id"])
    assert view["available_events"] == ["pay"]
    # A row may run several machines at once.
    assert sorted(s["machine"] for s in await states_of(seller, order["id"])) == ["order_flow", "payment"]
    topics = [r["topic"] for r in await probe.where("outbox", row_id=order["id"])]
    assert topics == ["state.entered", "state.entered"]


async def test_starting_the_same_machine_twice_is_a_conflict(
    admin: Api, order_flow: Any, seller: Api, probe: MachineProbe
) -> None:
    order = await new_order(seller)
    (view,) = await states_of(seller, order["id"])
    before = await probe.machine_state()
    body = assert_problem(await seller.post(f"/api/order/{order['id']}/states", {"machine": "order_flow"}), 409)
    assert body["type"].endswith("already-started") and body["object_state_id"] == view["id"]
    await before.check()


async def test_concurrent_starts_of_one_machine_on_one_row_start_it_once(
    admin: Api, order_entity: Any, probe: MachineProbe
) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    order = await new_order(admin)
    url = f"/api/order/{order['id']}/states"
    responses = await probe.concurrently(admin, "POST", url, [{"machine": "payment"}] * 8)
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "already-started")
    assert len(await probe.where("object_state", row_id=order["id"])) == 1
    assert len(await probe.where("state_transition", row_id=order["id"])) == 1
    assert len(await probe.where("outbox", row_id=order["id"])) == 1


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param({"machine": "nope"}, 404, "not-found", id="unknown machine"),
        pytest.param({"machine": "audit_flow"}, 404, "not-found", id="machine of another entity"),
        pytest.param({}, 422, "validation", id="no machine"),
        pytest.param({"machine": 3}, 422, "validation", id="machine not a string"),
        pytest.param({"machine": "payment", "state": "paid"}, 422, "validation", id="unknown field"),
        pytest.param(["payment"], 422, "validation", id="not an object"),
        pytest.param(None, 422, "validation", id="no body"),
    ],
)
async def test_a_bad_start_request_changes_nothing(
    admin: Api, order_entity: Any, probe: MachineProbe, body: Any, status: int, code: str
) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    other = {"name": "ticket", "columns": [{"name": "title", "type": "string"}]}
    await created(admin, "/api/entity", other)
    audit_flow = {
        **PAYMENT,
        "name": "audit_flow",
        "entity": "ticket",
        "events": [{**PAYMENT["events"][0], "guard": None}],
    }
    await created(admin, "/api/state_machine", audit_flow)
    order = await new_order(admin)
    before = await probe.machine_state()
    assert_problem(await admin.post(f"/api/order/{order['id']}/states", body), status, code)
    await before.check()


async def test_starting_on_a_missing_row_is_not_found(admin: Api, order_entity: Any, probe: MachineProbe) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    before = await probe.machine_state()
    for raw_id in (UNKNOWN_ID, "not-a-uuid"):
        assert_problem(await admin.post(f"/api/order/{raw_id}/states", {"machine": "payment"}), 404, "not-found")
    assert_problem(await admin.post(f"/api/invoice/{UNKNOWN_ID}/states", {"machine": "payment"}), 404, "not-found")
    await before.check()


async def test_starting_needs_the_execute_permission(
    admin: Api, guest: Api, seller: Api, buyer: Api, order_entity: Any, probe: MachineProbe
) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    order = await new_order(seller)
    url = f"/api/order/{order['id']}/states"
    before = await probe.machine_state()
    assert_problem(await guest.post(url, {"machine": "payment"}), 401, "unauthorized")
    # The buyer cannot see the seller's order at all: it does not exist for them.
    assert_problem(await buyer.post(url, {"machine": "payment"}), 404, "not-found")
    await before.check()
    # Readable but not executable: the missing permission is named.
    await share_for_reading(admin, seller, order["id"])
    before = await probe.machine_state()
    body = assert_problem(await buyer.post(url, {"machine": "payment"}), 403, "forbidden")
    assert body["permission"] == "execute"
    await before.check()


async def share_for_reading(admin: Api, owner: Api, order_id: str) -> None:
    """Let every signed-in user peek at and read the order, and nothing more."""
    users = await admin.get("/api/usergroup", params={"filter": '{"field":"name","op":"equals","value":"users"}'})
    users_id = users.json()["data"][0]["id"]
    shared = await owner.post("/api/row_share", {"entity": "order", "row_id": order_id, "usergroup_id": users_id})
    assert shared.status_code == 201, shared.text
    permission = {"guest": [], "owner": ["all"], "group": ["peek", "read"]}
    patched = await owner.patch(f"/api/order/{order_id}", {"permission": permission})
    assert patched.status_code == 200, patched.text
