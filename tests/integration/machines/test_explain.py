"""GET /api/<entity>/<id>/states: every event, and for this caller now, may they fire it and if not why."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.machines.conftest import PAYMENT, MachineProbe, created, fire, new_order, object_state
from tests.integration.machines.test_start import UNKNOWN_ID, share_for_reading


def reasons(view: dict[str, Any]) -> dict[str, str | None]:
    return {e["name"]: e["reason"] for e in view["events"]}


async def test_each_event_says_whether_and_why_not(admin: Api, seller: Api, order_flow: Any) -> None:
    order = await new_order(seller, total=0)
    view = await object_state(seller, order["id"])
    assert reasons(view) == {"confirm": "guard", "ship": "wrong_state", "cancel": None}
    confirm, ship, cancel = view["events"]
    assert confirm["allowed"] is False and confirm["rule"] == {"field": "total", "op": "gt", "value": 0}
    assert confirm["dst"] == "confirmed"
    assert ship["allowed"] is False and "confirmed" in ship["message"] and "pending" in ship["message"]
    assert cancel["allowed"] is True and cancel["message"] is None
    assert view["available_events"] == ["cancel"]

    await seller.patch(f"/api/order/{order['id']}", {"total": 20})
    view = await object_state(seller, order["id"])
    assert reasons(view) == {"confirm": None, "ship": "wrong_state", "cancel": None}
    assert view["available_events"] == ["confirm", "cancel"]


async def test_an_event_of_a_group_the_caller_is_not_in(admin: Api, buyer: Api, order_flow: Any) -> None:
    order = await new_order(buyer, total=20)
    view = await object_state(buyer, order["id"])
    assert reasons(view) == {"confirm": "group", "ship": "wrong_state", "cancel": None}
    assert "sales" in view["events"][0]["message"]
    # Administrators pass every group.
    assert reasons(await object_state(admin, order["id"]))["confirm"] is None


async def test_a_reader_without_execute_sees_permission(
    admin: Api, seller: Api, buyer: Api, order_flow: Any, probe: MachineProbe
) -> None:
    order = await new_order(seller, total=20)
    await share_for_reading(admin, seller, order["id"])
    view = await object_state(buyer, order["id"])
    assert reasons(view) == {"confirm": "permission", "ship": "wrong_state", "cancel": "permission"}
    assert "execute" in view["events"][2]["message"]
    assert view["available_events"] == []


async def test_every_machine_of_the_row_is_listed(admin: Api, order_flow: Any) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    order = await new_order(admin)
    await admin.post(f"/api/order/{order['id']}/states", {"machine": "payment"})
    flow, payment = (await admin.get(f"/api/order/{order['id']}/states")).json()
    assert (flow["machine"], payment["machine"]) == ("order_flow", "payment")
    # A payload guard cannot be judged without the payload: it is reported, with its rule.
    assert payment["events"][0]["reason"] == "guard"
    assert payment["events"][0]["rule"]["field"] == "payload.amount"


async def test_the_answer_follows_each_transition(admin: Api, order_flow: Any) -> None:
    order = await new_order(admin)
    view = await object_state(admin, order["id"])
    await fire(admin, view["id"], "confirm")
    view = await object_state(admin, order["id"])
    assert (view["state"], view["version"]) == ("confirmed", 2)
    assert reasons(view) == {"confirm": "wrong_state", "ship": None, "cancel": None}


async def test_refusals_of_the_states_list(
    admin: Api, guest: Api, seller: Api, buyer: Api, order_flow: Any, probe: MachineProbe
) -> None:
    order = await new_order(seller)
    url = f"/api/order/{order['id']}/states"
    assert_problem(await guest.get(url), 401, "unauthorized")
    assert_problem(await buyer.get(url), 404, "not-found")
    assert_problem(await admin.get(f"/api/order/{UNKNOWN_ID}/states"), 404, "not-found")
    assert_problem(await admin.get("/api/order/not-a-uuid/states"), 404, "not-found")
    assert_problem(await admin.get(f"/api/invoice/{UNKNOWN_ID}/states"), 404, "not-found")
    assert_problem(await admin.get(url, params={"verbose": "1"}), 400, "unknown-parameter")
