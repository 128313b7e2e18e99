"""``state.start``, ``state.event`` and ``state.migrate`` as outcomes: the machine service's checks, in the chain."""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.actions.engine.conftest import action, call, declare, kinds, new_order, object_state, remember
from tests.integration.machines.conftest import PAYMENT, MachineProbe, created
from tests.integration.machines.test_start import share_for_reading
from tests.integration.machines.test_versions import V2_EVENTS, V2_STATES, edit


def chain(name: str, *outcomes: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return action(**{"name": name, "groups": [], "in_fields": [], "outcomes": list(outcomes), **changes})


START = {"type": "state.start", "reference": "started", "attributes": {"machine": "payment"}}
PAY = {
    "type": "state.event",
    "reference": "paid",
    "attributes": {"machine": "payment", "event": "pay", "payload": {"amount": "{{ input.amount }}"}},
}
SHOW = {"type": "client.notify", "attributes": {"message": "{{ started.state }} -> {{ paid.state }}"}}


async def test_start_and_fire_in_one_chain(admin: Api, seller: Api, order_flow: Any, probe: MachineProbe) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    await declare(admin, chain("checkout", START, PAY, SHOW, in_fields=[{"name": "amount", "type": "integer"}]))
    order = await new_order(seller)
    response = await call(seller, "checkout", {"order_id": order["id"], "amount": 5})
    assert kinds(response) == ["client.notify"]
    assert response.json()[0]["attributes"]["message"] == "unpaid -> paid"
    payment = await object_state(seller, order["id"], "payment")
    assert (payment["state"], payment["version"]) == ("paid", 2)
    (fired,) = [t for t in await probe.where("state_transition", row_id=order["id"]) if t["event"] == "pay"]
    assert fired["payload"] == {"amount": 5}
    # Started once: a second run is refused at its first step, and the first run stays.
    before = await remember(probe)
    body = assert_problem(await call(seller, "checkout", {"order_id": order["id"], "amount": 5}), 409)
    assert (body["type"], body["step"]) == ("urn:stateyard:problem:already-started", 0)
    await before.check()


async def test_a_failing_guard_undoes_the_start_before_it(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    await declare(admin, chain("checkout", START, PAY, SHOW, in_fields=[{"name": "amount", "type": "integer"}]))
    order = await new_order(seller)
    before = await remember(probe)
    body = assert_problem(await call(seller, "checkout", {"order_id": order["id"], "amount": 0}), 409, "guard-failed")
    assert (body["step"], body["rule"]["field"]) == (1, "payload.amount")
    # No object state, no history record, no outbox record of the start survives.
    await before.check()


async def test_concurrent_starts_through_an_action_start_once(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    await declare(admin, chain("begin", START))
    order = await new_order(seller)
    bodies = [{"attributes": {"order_id": order["id"]}}] * 6
    responses = await probe.concurrently(seller, "POST", "/action/order/begin", bodies)
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "already-started")
    payment = [s for s in await probe.where("object_state", row_id=order["id"]) if s["state"] == "unpaid"]
    assert len(payment) == 1


async def test_the_performers_check_the_row_like_the_event_endpoint(
    admin: Api, seller: Api, buyer: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    target = {"row_id": "{{ input.target }}"}
    fields = [{"name": "target", "type": "uuid", "required": True}]
    start = {**START, "attributes": {**START["attributes"], **target}}
    cancel = {"type": "state.event", "attributes": {"machine": "order_flow", "event": "cancel", **target}}
    await declare(admin, chain("start_other", start, instance_required=False, in_fields=fields))
    await declare(admin, chain("cancel_other", cancel, instance_required=False, in_fields=fields))
    order = await new_order(seller)
    before = await remember(probe)
    for name in ("start_other", "cancel_other"):
        # The buyer cannot see the order: it does not exist for them, machine or not.
        body = assert_problem(await call(buyer, name, {"target": order["id"]}), 404, "not-found")
        assert body["detail"].endswith(f"There is no order with id '{order['id']}'.")
    await share_for_reading(admin, seller, order["id"])
    before = await remember(probe)
    for name in ("start_other", "cancel_other"):
        body = assert_problem(await call(buyer, name, {"target": order["id"]}), 403, "forbidden")
        assert body["permission"] == "execute"
    await before.check()
    assert (await object_state(seller, order["id"]))["state"] == "pending"


async def test_event_on_a_row_without_the_machine_is_404(admin: Api, seller: Api, order_flow: Any) -> None:
    await created(admin, "/api/state_machine", PAYMENT)
    await declare(admin, chain("pay_now", PAY, in_fields=[{"name": "amount", "type": "integer"}]))
    order = await new_order(seller)
    body = assert_problem(await call(seller, "pay_now", {"order_id": order["id"], "amount": 3}), 404, "not-found")
    assert "start it first" in body["detail"]


async def test_migrating_is_for_administrators_and_joins_the_chain(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    old = await new_order(seller)
    await edit(admin, order_flow["id"], {"states": V2_STATES, "events": V2_EVENTS})
    migrate = {"type": "state.migrate", "reference": "moved", "attributes": {"machine": "order_flow"}}
    await declare(admin, chain("upgrade", migrate, instance_required=False))
    before = await remember(probe)
    body = assert_problem(await call(seller, "upgrade"), 403, "forbidden")
    assert body["performer"] == "state.migrate"
    await before.check()
    # Declared to run as the system, it migrates; a later failure takes the migration back.
    # customer is required: setting it to null fails after the migration ran.
    failing = {"type": "order", "method": "update", "attributes": {"id": "{{ input.id }}", "customer": None}}
    fields = [{"name": "id", "type": "uuid", "required": True}]
    elevated = copy.deepcopy(chain("upgrade_all", migrate, failing, instance_required=False, in_fields=fields))
    await declare(admin, {**elevated, "run_as": "system"})
    attempt = await call(seller, "upgrade_all", {"id": old["id"]})
    assert assert_problem(attempt, 422, "validation")["step"] == 1
    assert (await object_state(admin, old["id"]))["machine_version"] == 1
    passing = {**failing, "attributes": {**failing["attributes"], "customer": "Moved"}}
    await declare(admin, {**elevated, "name": "upgrade_ok", "outcomes": [migrate, passing], "run_as": "system"})
    assert kinds(await call(seller, "upgrade_ok", {"id": old["id"]})) == [
        "state_machine_migration",
        "client.notify",
        "order",
    ]
    assert (await object_state(admin, old["id"]))["machine_version"] == 2
