"""``continue_on_error``: a failing step is undone alone, its problem kept under its reference; the chain goes on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.engine.conftest import UNKNOWN_ID, action, call, declare, kinds, remember
from tests.integration.machines.conftest import MachineProbe

#: Writes an order, then fails: as a step of another action, its write must go with its failure.
HALF = action(
    name="half",
    instance_required=False,
    groups=[],
    in_fields=[],
    outcomes=[
        {"type": "order", "method": "create", "attributes": {"customer": "half"}},
        {"type": "order", "method": "get", "attributes": {"id": UNKNOWN_ID}},
    ],
)
KEPT = {"type": "order", "method": "create", "attributes": {"customer": "kept"}}
RISKY = {"type": "action", "reference": "risky", "continue_on_error": True, "attributes": {"name": "half"}}
REPORT = {"type": "client.notify", "attributes": {"message": "{{ risky.error.status }}: {{ risky.error.detail }}"}}


async def customers(probe: MachineProbe) -> list[str]:
    return sorted(r["customer"] for r in await probe.where("order"))


@pytest.mark.parametrize(
    "outcomes",
    [
        pytest.param([RISKY, KEPT, REPORT], id="failing step opens the transaction"),
        pytest.param([KEPT, RISKY, REPORT], id="transaction already open"),
    ],
)
async def test_only_the_failing_step_is_undone(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe, outcomes: list[dict[str, Any]]
) -> None:
    await declare(admin, HALF)
    await declare(admin, action(name="tolerant", instance_required=False, groups=[], in_fields=[], outcomes=outcomes))
    response = await call(seller, "tolerant")
    assert kinds(response) == ["order", "client.notify"]
    message = response.json()[1]["attributes"]["message"]
    assert message.startswith("404: ") and UNKNOWN_ID in message
    # The kept order is there; the order the failing step wrote is not, nor is its audit record.
    assert await customers(probe) == ["kept"]
    created = [a for a in await probe.where("audit_log", operation="create") if a["entity"] == "order"]
    assert len(created) == 1


async def test_without_it_the_same_failure_undoes_the_whole_chain(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await declare(admin, HALF)
    strict = {**RISKY, "continue_on_error": False}
    body = action(name="strict", instance_required=False, groups=[], in_fields=[], outcomes=[KEPT, strict, REPORT])
    await declare(admin, body)
    before = await remember(probe)
    problem = assert_problem(await call(seller, "strict"), 404, "not-found")
    # The step of this chain that failed, and the path to the step of the called action that did.
    assert (problem["step"], problem["outcome"], problem["steps"]) == (1, "action", [1, 1])
    assert problem["detail"].startswith("Step 2 (action) failed, nothing was changed: its step 2 (order.get): ")
    await before.check()


async def test_a_failed_state_event_leaves_the_machine_as_it_was(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    outcomes = [
        {
            "type": "state.event",
            "reference": "confirmed",
            "continue_on_error": True,
            "attributes": {"machine": "order_flow", "event": "confirm"},
        },
        {"type": "state.event", "reference": "cancelled", "attributes": {"machine": "order_flow", "event": "cancel"}},
        {"type": "client.notify", "attributes": {"message": "{{ confirmed.error.type }} then {{ cancelled.state }}"}},
    ]
    await declare(admin, action(name="try_confirm", groups=[], in_fields=[], outcomes=outcomes))
    order = await created_order(seller)
    response = await call(seller, "try_confirm", {"order_id": order["id"]})
    assert kinds(response) == ["client.notify"]
    assert response.json()[0]["attributes"]["message"] == "urn:stateyard:problem:guard-failed then cancelled"
    events = [t["event"] for t in await probe.where("state_transition", row_id=order["id"])]
    assert events == ["@start", "cancel"]


async def created_order(api: Api) -> dict[str, Any]:
    response = await api.post("/api/order", {"customer": "Zero", "total": 0})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
