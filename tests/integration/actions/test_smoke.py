from __future__ import annotations

from tests.conftest import Api, assert_problem

APPROVE = {
    "name": "approve",
    "entity": "order",
    "label": "Approve order",
    "instance_required": True,
    "in_fields": [{"name": "note", "type": "string", "max_length": 20, "trim": True}],
    "outcomes": [
        {
            "type": "order",
            "method": "update",
            "reference": "updated",
            "attributes": {"id": "{{ subject.id }}", "customer": "{{ subject.customer }} ({{ input.note }})"},
        },
        {"type": "client.notify", "attributes": {"type": "success", "message": "Approved {{ updated.customer }}"}},
    ],
}


async def test_declared_action_runs_its_chain(admin: Api, order_entity: dict) -> None:
    saved = await admin.post("/api/action", APPROVE)
    assert saved.status_code == 201, saved.text
    order = (await admin.post("/api/order", {"customer": "ACME", "total": 3})).json()
    called = await admin.post("/action/order/approve", {"attributes": {"order_id": order["id"], "note": "  ok  "}})
    assert called.status_code == 200, called.text
    kinds = [d["type"] for d in called.json()]
    assert kinds == ["order", "client.notify"]
    assert called.json()[1]["attributes"]["message"] == "Approved ACME (ok)"
    listed = await admin.get("/actions")
    assert any(a["name"] == "approve" for a in listed.json())
    bad = await admin.post("/action/order/approve", {"attributes": {"order_id": order["id"], "note": "x" * 30}})
    assert_problem(bad, 422, "validation")
    broken = dict(
        APPROVE, name="broken", outcomes=[{"type": "client.notify", "attributes": {"message": "{{ subject.nope }}"}}]
    )
    assert_problem(await admin.post("/api/action", broken), 400, "invalid-definition")
