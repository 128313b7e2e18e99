"""State machines with ``auto_start`` start for imported rows, as for rows created one by one."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import Probe, counts, created, csv_bytes, listed, result, upload

FLOW: dict[str, Any] = {
    "name": "order_flow",
    "entity": "order",
    "initial_state": "pending",
    "states": [{"name": "pending"}, {"name": "done", "final": True}],
    "events": [{"name": "finish", "src": ["pending"], "dst": "done"}],
    "auto_start": True,
}
MACHINE_TABLES = ("order", "object_state", "state_transition", "outbox", "audit_log")


@pytest.fixture
async def order_flow(admin: Api, order_entity: dict[str, Any]) -> dict[str, Any]:
    return await created(admin, "state_machine", FLOW)


def of(rows: list[dict[str, Any]], **equals: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(str(r[k]) == str(v) for k, v in equals.items())]


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_imported_rows_start_their_machines(admin: Api, alice: Api, order_flow: Any, probe: Probe) -> None:
    data = csv_bytes([["customer", "total"], ["ACME", "10"], ["Globex", "20"], ["Initech", "30"]])
    report = result(await upload(alice, "order", "orders.csv", data))
    assert report["imported"] == 3 and report["batches"] == 2
    orders = await listed(alice, "order")
    alice_id = (await alice.me())["id"]
    states = await probe.rows("object_state")
    transitions = await probe.rows("state_transition")
    outbox = await probe.rows("outbox")
    assert len(states) == 3
    for order in orders:
        (state,) = of(states, row_id=order["id"])
        assert (state["state"], str(state["owner_id"])) == ("pending", alice_id)
        (start,) = of(transitions, row_id=order["id"])
        assert (start["event"], start["from_state"], start["to_state"]) == ("@start", None, "pending")
        assert str(start["actor_id"]) == alice_id
        assert [r["topic"] for r in of(outbox, row_id=order["id"])] == ["state.entered"]
        response = await alice.get(f"/api/order/{order['id']}/states")
        assert [s["state"] for s in response.json()] == ["pending"]
    # The machine runs on imported rows as on any other.
    state_id = (await alice.get(f"/api/order/{orders[0]['id']}/states")).json()[0]["id"]
    response = await alice.post(f"/api/event/order/{state_id}/finish")
    assert response.status_code == 200, response.text


async def test_upserted_rows_that_already_run_a_machine_do_not_start_it_again(
    admin: Api, order_flow: Any, probe: Probe
) -> None:
    await created(admin, "order", {"customer": "ACME", "total": 1})
    data = csv_bytes([["customer", "total"], ["ACME", "2"], ["Globex", "3"]])
    report = result(await upload(admin, "order", "orders.csv", data, mode="upsert", key="customer"))
    assert counts(report) == {"rows": 2, "imported": 1, "updated": 1, "unchanged": 0, "failed": 0, "skipped": 0}
    assert len(await probe.rows("object_state")) == 2
    assert len(await probe.rows("state_transition")) == 2


async def test_refused_and_dry_run_imports_start_nothing(admin: Api, order_flow: Any, probe: Probe) -> None:
    unchanged = await probe.unchanged(*MACHINE_TABLES)
    bad = csv_bytes([["customer", "total"], ["ACME", "10"], ["", "20"]])
    assert_problem(await upload(admin, "order", "orders.csv", bad), 422, "import-invalid")
    good = csv_bytes([["customer", "total"], ["ACME", "10"]])
    assert result(await upload(admin, "order", "orders.csv", good, dry_run=True))["imported"] == 1
    await unchanged.check()
    report = result(await upload(admin, "order", "orders.csv", bad, on_error="skip"))
    assert (report["imported"], report["failed"]) == (1, 1)
    assert len(await probe.rows("object_state")) == 1
