"""History of transitions, read-only machine records, and current states as list filters."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.machines.conftest import MachineProbe, fire, new_order, object_state
from tests.integration.machines.test_start import UNKNOWN_ID


def filter_param(condition: Any) -> dict[str, str]:
    return {"filter": json.dumps(condition)}


async def test_the_history_of_a_row_lists_every_transition(admin: Api, seller: Api, order_flow: Any) -> None:
    order = await new_order(seller)
    view = await object_state(seller, order["id"])
    await fire(seller, view["id"], "confirm", {"payload": {"by": "phone"}})
    await fire(seller, view["id"], "ship")
    response = await seller.get(f"/api/order/{order['id']}/history")
    assert response.status_code == 200, response.text
    history = response.json()
    assert [(h["event"], h["from_state"], h["to_state"]) for h in history] == [
        ("@start", None, "pending"),
        ("confirm", "pending", "confirmed"),
        ("ship", "confirmed", "shipped"),
    ]
    assert {h["object_state_id"] for h in history} == {view["id"]}
    assert {(h["machine"], h["machine_version"]) for h in history} == {("order_flow", 1)}
    assert history[1]["payload"] == {"by": "phone"} and history[2]["payload"] is None
    assert {h["actor_id"] for h in history} == {(await seller.me())["id"]}


async def test_transitions_are_listed_and_filtered_like_any_entity(
    admin: Api, seller: Api, buyer: Api, order_flow: Any
) -> None:
    mine = await new_order(seller)
    theirs = await new_order(buyer)
    await fire(seller, (await object_state(seller, mine["id"]))["id"], "cancel")
    await fire(buyer, (await object_state(buyer, theirs["id"]))["id"], "cancel")
    cancels = await admin.get(
        "/api/state_transition", params=filter_param({"field": "event", "op": "equals", "value": "cancel"})
    )
    assert cancels.status_code == 200, cancels.text
    assert sorted(t["row_id"] for t in cancels.json()["data"]) == sorted([mine["id"], theirs["id"]])
    # Each user reads the history of their own rows only.
    own = (await seller.get("/api/state_transition")).json()
    assert own["meta"]["total"] == 2 and {t["row_id"] for t in own["data"]} == {mine["id"]}
    by_row = await admin.get(
        "/api/state_transition", params=filter_param({"field": "row_id", "op": "equals", "value": theirs["id"]})
    )
    assert [t["event"] for t in by_row.json()["data"]] == ["@start", "cancel"]


@pytest.mark.parametrize("entity", ["state_transition", "object_state", "outbox", "state_machine_version"])
async def test_machine_records_are_read_only(admin: Api, order_flow: Any, probe: MachineProbe, entity: str) -> None:
    order = await new_order(admin)
    (row,) = await probe.where(
        entity, **({"machine_id": order_flow["id"]} if entity == "state_machine_version" else {"row_id": order["id"]})
    )
    before = await probe.machine_state()
    assert_problem(await admin.post(f"/api/{entity}", {"entity": "order"}), 405)
    assert_problem(await admin.patch(f"/api/{entity}/{row['id']}", {"version": 1}), 405)
    assert_problem(await admin.delete(f"/api/{entity}/{row['id']}"), 405)
    await before.check()


async def test_object_states_are_not_changed_through_the_records_api(
    admin: Api, order_flow: Any, probe: MachineProbe
) -> None:
    order = await new_order(admin)
    view = await object_state(admin, order["id"])
    before = await probe.machine_state()
    assert_problem(await admin.patch(f"/api/object_state/{view['id']}", {"state": "shipped"}), 405)
    await before.check()
    assert (await object_state(admin, order["id"]))["state"] == "pending"


async def test_lists_filter_by_current_state(admin: Api, seller: Api, buyer: Api, order_flow: Any) -> None:
    orders = [await new_order(seller, customer=f"C{i}") for i in range(3)]
    theirs = await new_order(buyer)
    for order in (orders[0], theirs):
        await fire(admin, (await object_state(admin, order["id"]))["id"], "cancel")
    cancelled = {"field": "state.order_flow", "op": "equals", "value": "cancelled"}
    listed = (await admin.get("/api/order", params=filter_param(cancelled))).json()
    assert sorted(r["id"] for r in listed["data"]) == sorted([orders[0]["id"], theirs["id"]])
    # The state filter keeps the row permissions: the seller sees their own cancelled order only.
    assert [r["id"] for r in (await seller.get("/api/order", params=filter_param(cancelled))).json()["data"]] == [
        orders[0]["id"]
    ]
    pending = {"field": "state.order_flow", "op": "in", "value": ["pending", "confirmed"]}
    assert (await seller.get("/api/order", params=filter_param(pending))).json()["meta"]["total"] == 2
    combined = {"all": [cancelled, {"field": "customer", "op": "equals", "value": "C0"}]}
    assert (await admin.get("/api/order", params=filter_param(combined))).json()["meta"]["total"] == 1


async def test_a_state_filter_on_an_unknown_machine_is_refused(admin: Api, order_flow: Any) -> None:
    await new_order(admin)
    for field in ("state.payment", "state.order_flow.extra", "state"):
        condition = {"field": field, "op": "equals", "value": "pending"}
        body = assert_problem(await admin.get("/api/order", params=filter_param(condition)), 400)
        assert field in body["detail"] or any(field in e["message"] for e in body.get("errors", []))
    wrong_type = {"field": "state.order_flow", "op": "gt", "value": 3}
    assert_problem(await admin.get("/api/order", params=filter_param(wrong_type)), 400)


async def test_history_refusals(admin: Api, guest: Api, seller: Api, buyer: Api, order_flow: Any) -> None:
    order = await new_order(seller)
    url = f"/api/order/{order['id']}/history"
    assert_problem(await guest.get(url), 401, "unauthorized")
    assert_problem(await buyer.get(url), 404, "not-found")
    assert_problem(await admin.get(f"/api/order/{UNKNOWN_ID}/history"), 404, "not-found")
    assert_problem(await admin.get(url, params={"page": "2"}), 400, "unknown-parameter")
    assert_problem(await admin.post(url, {}), 405)
