"""Firing events: a transition writes its state, history and outbox together; a refusal writes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.machines.conftest import (
    PAYMENT,
    MachineProbe,
    created,
    fire,
    new_order,
    object_state,
)
from tests.integration.machines.test_start import UNKNOWN_ID, share_for_reading


async def test_a_transition_answers_and_records_everything(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe, clock: Any
) -> None:
    order = await new_order(seller)
    view = await object_state(seller, order["id"])
    clock.advance(timedelta(seconds=30))
    response = await fire(seller, view["id"], "confirm", {"version": 1, "payload": {"note": "rush"}})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "object_state_id": view["id"],
        "previous_state": "pending",
        "state": "confirmed",
        "event": "confirm",
        "version": 2,
        "available_events": ["ship", "cancel"],
    }
    (stored,) = await probe.where("object_state", row_id=order["id"])
    assert (stored["state"], stored["version"], stored["machine_version"]) == ("confirmed", 2, 1)
    _, transition = await probe.where("state_transition", row_id=order["id"])
    seller_id = (await seller.me())["id"]
    assert {k: transition[k] for k in ("entity", "machine", "machine_version", "event", "from_state", "to_state")} == {
        "entity": "order",
        "machine": "order_flow",
        "machine_version": 1,
        "event": "confirm",
        "from_state": "pending",
        "to_state": "confirmed",
    }
    assert str(transition["object_state_id"]) == view["id"] and str(transition["actor_id"]) == seller_id
    assert transition["payload"] == {"note": "rush"}
    assert transition["created_at"] == stored["updated_at"] == clock.now()
    outbox = [(r["topic"], r["payload"]) for r in await probe.where("outbox", row_id=order["id"])][1:]
    assert [topic for topic, _ in outbox] == ["state.exited", "state.entered", "event.fired"]
    assert outbox[0][1]["state"] == "pending" and outbox[1][1]["state"] == "confirmed"
    assert outbox[2][1]["payload"] == {"note": "rush"} and outbox[2][1]["actor_id"] == seller_id
    # The row itself is not touched by a transition.
    assert (await seller.get(f"/api/order/{order['id']}")).json()["version"] == 1


async def test_a_row_walks_its_machine_to_a_final_state(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    order = await new_order(admin)
    view = await object_state(admin, order["id"])
    for event, state, version in (("confirm", "confirmed", 2), ("ship", "shipped", 3)):
        response = await fire(admin, view["id"], event, {"version": version - 1})
        assert response.status_code == 200, response.text
        assert (response.json()["state"], response.json()["version"]) == (state, version)
    assert response.json()["available_events"] == []
    final = await object_state(admin, order["id"])
    assert final["final"] is True and final["available_events"] == []
    assert all(e["reason"] == "wrong_state" for e in final["events"])
    body = assert_problem(await fire(admin, view["id"], "cancel"), 409, "invalid-transition")
    assert body["allowed_events"] == [] and body["current_state"] == "shipped"


async def test_a_payload_guard_reads_the_event_payload(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    order = await new_order(admin)
    started = await admin.post(f"/api/order/{order['id']}/states", {"machine": "payment"})
    url_id = started.json()["id"]
    before = await probe.machine_state()
    for body in (None, {"payload": {"amount": 0}}, {"payload": {"other": 5}}):
        refused = assert_problem(await fire(admin, url_id, "pay", body), 409, "guard-failed")
        assert refused["rule"] == {"field": "payload.amount", "op": "gte", "value": 1}
        assert "payload.amount gte 1" in refused["detail"]
    await before.check()
    response = await fire(admin, url_id, "pay", {"payload": {"amount": 5}})
    assert response.status_code == 200 and response.json()["state"] == "paid"
    # The order flow running beside it did not move.
    assert (await object_state(admin, order["id"]))["state"] == "pending"


@pytest.fixture
async def pending(admin: Api, seller: Api, order_flow: Any) -> dict[str, Any]:
    """A pending order of the seller (total 0: the confirm guard fails) and its order_flow object state."""
    order = await new_order(seller, total=0)
    return {"order": order, "state": await object_state(seller, order["id"])}


async def test_an_event_not_allowed_now_is_refused_with_the_allowed_ones(
    admin: Api, pending: dict[str, Any], probe: MachineProbe
) -> None:
    before = await probe.machine_state()
    body = assert_problem(await fire(admin, pending["state"]["id"], "ship"), 409, "invalid-transition")
    assert body["current_state"] == "pending" and body["allowed_events"] == ["confirm", "cancel"]
    assert body["event"] == "ship" and "ship" in body["detail"]
    await before.check()


async def test_a_failing_guard_names_its_rule(admin: Api, pending: dict[str, Any], probe: MachineProbe) -> None:
    before = await probe.machine_state()
    body = assert_problem(await fire(admin, pending["state"]["id"], "confirm"), 409, "guard-failed")
    assert body["rule"] == {"field": "total", "op": "gt", "value": 0}
    assert body["current_state"] == "pending" and "total gt 0" in body["detail"]
    await before.check()


async def test_unknown_events_and_object_states_are_not_found(
    admin: Api, pending: dict[str, Any], probe: MachineProbe
) -> None:
    os_id = pending["state"]["id"]
    await created(admin, "/api/entity", {"name": "ticket", "columns": [{"name": "title", "type": "string"}]})
    before = await probe.machine_state()
    body = assert_problem(await fire(admin, os_id, "teleport"), 404, "not-found")
    assert "confirm, ship, cancel" in body["detail"]
    assert_problem(await fire(admin, UNKNOWN_ID, "confirm"), 404, "not-found")
    assert_problem(await fire(admin, "not-a-uuid", "confirm"), 404, "not-found")
    # The object state exists, but not for this entity.
    assert_problem(await fire(admin, os_id, "cancel", entity="ticket"), 404, "not-found")
    assert_problem(await fire(admin, os_id, "cancel", entity="invoice"), 404, "not-found")
    await before.check()


async def test_a_stale_version_is_a_conflict(admin: Api, pending: dict[str, Any], probe: MachineProbe) -> None:
    os_id = pending["state"]["id"]
    before = await probe.machine_state()
    for version in (0, 2, 99):
        body = assert_problem(await fire(admin, os_id, "cancel", {"version": version}), 409, "stale-version")
        assert body["current_version"] == 1 and body["current_state"] == "pending"
    await before.check()
    assert (await fire(admin, os_id, "cancel", {"version": 1})).status_code == 200
    assert_problem(await fire(admin, os_id, "cancel", {"version": 1}), 409, "stale-version")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"version": "one"}, id="version not a number"),
        pytest.param({"payload": [1, 2]}, id="payload not an object"),
        pytest.param({"state": "shipped"}, id="unknown field"),
        pytest.param([], id="not an object"),
    ],
)
async def test_a_malformed_body_is_refused(admin: Api, pending: dict[str, Any], probe: MachineProbe, body: Any) -> None:
    before = await probe.machine_state()
    assert_problem(await fire(admin, pending["state"]["id"], "cancel", body), 422, "validation")
    await before.check()


async def test_a_body_that_is_not_json_is_refused(admin: Api, pending: dict[str, Any], probe: MachineProbe) -> None:
    before = await probe.machine_state()
    url = f"/api/event/order/{pending['state']['id']}/cancel"
    response = await admin.client.post(url, content=b"{nope", headers={"Authorization": f"Bearer {admin.token}"})
    assert_problem(response, 400, "invalid-body")
    await before.check()


async def test_firing_needs_a_token(guest: Api, pending: dict[str, Any], probe: MachineProbe) -> None:
    before = await probe.machine_state()
    assert_problem(await fire(guest, pending["state"]["id"], "cancel"), 401, "unauthorized")
    bad = Api(guest.client, "not-a-token")
    assert_problem(await fire(bad, pending["state"]["id"], "cancel"), 401)
    await before.check()


async def test_firing_needs_the_execute_permission_on_the_row(
    admin: Api, seller: Api, buyer: Api, pending: dict[str, Any], probe: MachineProbe
) -> None:
    os_id = pending["state"]["id"]
    before = await probe.machine_state()
    # The buyer may not see the seller's order: the object state does not exist for them.
    assert_problem(await fire(buyer, os_id, "cancel"), 404, "not-found")
    await before.check()
    await share_for_reading(admin, seller, pending["order"]["id"])
    before = await probe.machine_state()
    body = assert_problem(await fire(buyer, os_id, "cancel"), 403, "forbidden")
    assert body["permission"] == "execute"
    await before.check()


async def test_firing_needs_the_execute_permission_on_the_table(
    admin: Api, seller: Api, pending: dict[str, Any], probe: MachineProbe
) -> None:
    entity = await admin.get("/api/entity", params={"filter": '{"field":"name","op":"equals","value":"order"}'})
    table = {"owner": ["all"], "group": ["peek", "read", "create", "update"]}
    permissions = {"table": table, "row": {"owner": ["peek", "read", "update", "delete", "execute", "refer"]}}
    patched = await admin.patch(f"/api/entity/{entity.json()['data'][0]['id']}", {"permissions": permissions})
    assert patched.status_code == 200, patched.text
    before = await probe.machine_state()
    body = assert_problem(await fire(seller, pending["state"]["id"], "cancel"), 403, "forbidden")
    assert (body["permission"], body["scope"]) == ("execute", "table")
    await before.check()


async def test_an_event_limited_to_a_group_refuses_others(
    admin: Api, seller: Api, buyer: Api, order_flow: Any, probe: MachineProbe
) -> None:
    order = await new_order(buyer, total=50)
    view = await object_state(buyer, order["id"])
    before = await probe.machine_state()
    body = assert_problem(await fire(buyer, view["id"], "confirm"), 403, "forbidden")
    assert body["permission"] == "group" and body["groups"] == ["sales"] and "sales" in body["detail"]
    await before.check()
    # Events without groups stay open to the owner; members of the group may confirm their own orders.
    assert (await fire(buyer, view["id"], "cancel")).status_code == 200
    mine = await new_order(seller, total=50)
    assert (await fire(seller, (await object_state(seller, mine["id"]))["id"], "confirm")).status_code == 200


async def test_a_group_member_fires_on_a_row_shared_with_the_group(
    admin: Api, seller: Api, buyer: Api, sales: dict[str, Any], order_flow: Any, probe: MachineProbe
) -> None:
    order = await new_order(buyer, total=50)
    shared = await buyer.post("/api/row_share", {"entity": "order", "row_id": order["id"], "usergroup_id": sales["id"]})
    assert shared.status_code == 201, shared.text
    view = await object_state(buyer, order["id"])
    permission = {"guest": [], "owner": ["all"], "group": ["peek", "read"]}
    assert (await buyer.patch(f"/api/order/{order['id']}", {"permission": permission})).status_code == 200
    before = await probe.machine_state()
    assert_problem(await fire(seller, view["id"], "confirm"), 403, "forbidden")
    await before.check()
    permission["group"].append("execute")
    assert (await buyer.patch(f"/api/order/{order['id']}", {"permission": permission})).status_code == 200
    fired = await fire(seller, view["id"], "confirm")
    assert fired.status_code == 200, fired.text
    (transition,) = [t for t in await probe.where("state_transition", row_id=order["id"]) if t["event"] == "confirm"]
    # The actor is the seller; the record belongs to the row's owner, who reads it in the history.
    assert str(transition["actor_id"]) == (await seller.me())["id"]
    assert [h["event"] for h in (await buyer.get(f"/api/order/{order['id']}/history")).json()] == ["@start", "confirm"]
