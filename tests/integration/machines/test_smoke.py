from __future__ import annotations

import json

from tests.conftest import Api, assert_problem

ORDER_FLOW = {
    "name": "order_flow",
    "entity": "order",
    "initial_state": "pending",
    "states": [
        {"name": "pending"},
        {"name": "confirmed"},
        {"name": "shipped", "final": True},
        {"name": "cancelled", "final": True},
    ],
    "events": [
        {
            "name": "confirm",
            "src": ["pending"],
            "dst": "confirmed",
            "guard": {"field": "total", "op": "gt", "value": 0},
        },
        {"name": "ship", "src": ["confirmed"], "dst": "shipped"},
        {"name": "cancel", "src": ["pending", "confirmed"], "dst": "cancelled"},
    ],
    "auto_start": True,
}


async def test_machine_lifecycle(admin: Api, order_entity: dict) -> None:
    created = await admin.post("/api/state_machine", ORDER_FLOW)
    assert created.status_code == 201, created.text
    order = (await admin.post("/api/order", {"customer": "ACME", "total": 0})).json()
    states = await admin.get(f"/api/order/{order['id']}/states")
    assert states.status_code == 200, states.text
    (object_state,) = states.json()
    assert object_state["state"] == "pending"
    confirm = next(e for e in object_state["events"] if e["name"] == "confirm")
    assert confirm["allowed"] is False and confirm["reason"] == "guard"
    url = f"/api/event/order/{object_state['id']}/confirm"
    assert_problem(await admin.post(url), 409, "guard-failed")
    await admin.patch(f"/api/order/{order['id']}", {"total": 5})
    fired = await admin.post(url, {"version": 1})
    assert fired.status_code == 200, fired.text
    assert fired.json()["state"] == "confirmed" and fired.json()["previous_state"] == "pending"
    assert_problem(await admin.post(url), 409, "invalid-transition")
    history = await admin.get(f"/api/order/{order['id']}/history")
    assert [h["event"] for h in history.json()] == ["@start", "confirm"]
    listed = await admin.get(
        "/api/order", params={"filter": json.dumps({"field": "state.order_flow", "op": "equals", "value": "confirmed"})}
    )
    assert listed.json()["meta"]["total"] == 1
    diagram = await admin.get("/api/state_machine/order_flow/diagram", params={"counts": "true"})
    assert diagram.status_code == 200, diagram.text
    assert "pending --> confirmed : confirm" in diagram.text and "confirmed (1)" in diagram.text
    dot = await admin.get("/api/state_machine/order_flow/diagram", params={"format": "dot"})
    assert dot.text.startswith('digraph "order_flow"')
