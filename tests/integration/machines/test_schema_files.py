"""Machines declared in schema files: applied idempotently, versioned on change, refused whole when invalid."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from stateyard.config import Settings
from stateyard.core.errors import ProblemError
from stateyard.entities.loader import load_folder
from stateyard.entities.service import ApplyResult
from tests.conftest import ORDER, Api
from tests.integration.entities.test_schema_cli import cli_env, run
from tests.integration.machines.conftest import ORDER_FLOW, MachineProbe, new_order, object_state

__all__ = ["cli_env"]

TICKET = {"name": "ticket", "columns": [{"name": "title", "type": "string"}, {"name": "priority", "type": "integer"}]}
TICKET_FLOW = {
    "name": "ticket_flow",
    "entity": "ticket",
    "initial_state": "open",
    "states": [{"name": "open"}, {"name": "closed", "final": True}],
    "events": [
        {"name": "close", "src": ["open"], "dst": "closed", "guard": {"field": "priority", "op": "lt", "value": 3}}
    ],
    "auto_start": True,
}


def write(folder: Path, document: dict[str, Any], name: str = "app.yaml") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def flow(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(ORDER_FLOW), **changes}


def document(*machines: dict[str, Any], entities: tuple[dict[str, Any], ...] = (ORDER,)) -> dict[str, Any]:
    return {"groups": [{"name": "sales"}], "entities": list(entities), "state_machines": list(machines)}


async def apply(probe: MachineProbe, settings: Settings) -> ApplyResult:
    return await probe.call(probe.platform.apply_schema, load_folder(Path(settings.schema_dir)))


async def everything(probe: MachineProbe) -> dict[str, Any]:
    """What a refused apply must leave as it was: entities, machine tables, the audit log."""
    tables = ("entity", "entity_column", "usergroup", "state_machine", "state_machine_version", "audit_log")
    return {
        "models": sorted(probe.platform.registry.snapshot.models),
        **{t: await probe.rows(t) for t in tables},
    }


async def test_applying_twice_changes_nothing_the_second_time(
    admin: Api, probe: MachineProbe, settings: Settings
) -> None:
    write(Path(settings.schema_dir), document(flow()))
    first = await apply(probe, settings)
    assert first.applied
    assert [(c.kind, c.entity) for c in first.changes][-1] == ("create_machine", "order")
    state = await everything(probe)
    second = await apply(probe, settings)
    assert (second.applied, second.changes) == (False, [])
    assert await everything(probe) == state
    order = await new_order(admin)
    assert (await object_state(admin, order["id"]))["state"] == "pending"


async def test_changing_an_event_in_the_file_makes_a_new_version(
    admin: Api, probe: MachineProbe, settings: Settings
) -> None:
    folder = Path(settings.schema_dir)
    write(folder, document(flow()))
    await apply(probe, settings)
    running = await object_state(admin, (await new_order(admin))["id"])
    changed = flow()
    changed["events"][1]["src"] = ["pending", "confirmed"]
    write(folder, document(changed))
    result = await apply(probe, settings)
    assert [(c.kind, c.detail) for c in result.changes] == [
        ("update_machine", "change events of state machine 'order_flow'")
    ]
    (stored,) = await probe.rows("state_machine")
    assert stored["definition_version"] == 2
    assert len(await probe.rows("state_machine_version")) == 2
    assert (await apply(probe, settings)).changes == []
    # The running row keeps version 1, where ship needs a confirmed order; new rows may ship at once.
    assert (await admin.post(f"/api/event/order/{running['id']}/ship")).status_code == 409
    fresh = await object_state(admin, (await new_order(admin))["id"])
    assert fresh["machine_version"] == 2
    assert (await admin.post(f"/api/event/order/{fresh['id']}/ship")).status_code == 200


@pytest.mark.parametrize(
    ("machines", "entities", "field"),
    [
        pytest.param([flow(initial_state="draft")], (ORDER,), "state_machines[0].initial_state", id="existing entity"),
        pytest.param(
            [TICKET_FLOW, flow(events=[{"name": "confirm", "src": ["pending"], "dst": "gone"}])],
            (ORDER, TICKET),
            "state_machines[1].events[0].dst",
            id="after a valid machine on a new entity",
        ),
        pytest.param(
            [{**TICKET_FLOW, "events": [{**TICKET_FLOW["events"][0], "guard": {"field": "colour", "op": "is_empty"}}]}],
            (ORDER, TICKET),
            "state_machines[0].events[0].guard.field",
            id="guard on a field the new entity lacks",
        ),
    ],
)
async def test_an_invalid_machine_in_a_file_changes_nothing(
    admin: Api, probe: MachineProbe, settings: Settings, machines: list[Any], entities: Any, field: str
) -> None:
    folder = Path(settings.schema_dir)
    write(folder, document(entities=(ORDER,)))
    await apply(probe, settings)
    write(folder, document(*machines, entities=entities))
    before = await everything(probe)
    with pytest.raises(ProblemError) as refused:
        await apply(probe, settings)
    assert (refused.value.status, refused.value.code) == (400, "invalid-definition")
    assert field in [e.field for e in refused.value.errors or []]
    assert await everything(probe) == before


async def test_the_cli_applies_machines_and_names_bad_ones(cli_env: Path, admin: Api, probe: MachineProbe) -> None:
    write(cli_env, document(flow()))
    applied = await run("schema", "apply")
    assert applied.exit_code == 0, applied.output
    assert "order: create state machine 'order_flow'" in applied.output
    await probe.call(probe.platform.registry.refresh)
    again = await run("schema", "apply")
    assert again.exit_code == 0 and "No changes" in again.output, again.output
    assert (await object_state(admin, (await new_order(admin))["id"]))["machine"] == "order_flow"

    write(
        cli_env, document(flow(events=[*ORDER_FLOW["events"], {"name": "ship", "src": ["pending"], "dst": "shipped"}]))
    )
    before = await everything(probe)
    refused = await run("schema", "apply")
    assert refused.exit_code == 2, refused.output
    assert "state_machines[0].events[3].name: event 'ship' is declared twice" in refused.output
    assert await everything(probe) == before


async def test_a_guard_on_a_column_the_same_file_adds_is_valid(
    admin: Api, probe: MachineProbe, settings: Settings
) -> None:
    folder = Path(settings.schema_dir)
    write(folder, document(entities=(ORDER,)))
    await apply(probe, settings)
    rush = {"name": "rush", "type": "boolean", "default": False}
    guarded = flow()
    guarded["events"][1]["guard"] = {"field": "rush", "op": "equals", "value": True}
    write(folder, document(guarded, entities=({**ORDER, "columns": [*ORDER["columns"], rush]},)))
    planned = await probe.call(functools.partial(probe.platform.apply_schema, load_folder(folder), dry_run=True))
    assert [c.kind for c in planned.changes][-1] == "create_machine" and not planned.applied
    assert (await apply(probe, settings)).applied
    view = await object_state(admin, (await new_order(admin))["id"])
    await admin.post(f"/api/event/order/{view['id']}/confirm")
    body = (await admin.post(f"/api/event/order/{view['id']}/ship")).json()
    assert body["rule"] == {"field": "rush", "op": "equals", "value": True}


async def test_the_demo_schema_applies_once_and_runs(admin: Api, probe: MachineProbe) -> None:
    demo = load_folder(Path(__file__).parents[3] / "schema")
    assert (await probe.call(probe.platform.apply_schema, demo)).applied
    again = await probe.call(probe.platform.apply_schema, demo)
    assert (again.applied, again.changes) == (False, [])
    customer = (await admin.post("/api/customer", {"name": "ACME"})).json()
    order = await admin.post("/api/order", {"code": "A-1", "total": "0.00", "customer_id": customer["id"]})
    assert order.status_code == 201, order.text
    view = await object_state(admin, order.json()["id"], "order_approval")
    refused = (await admin.post(f"/api/event/order/{view['id']}/approve")).json()
    assert refused["rule"] == {"field": "total", "op": "gt", "value": "0"}
    assert (await admin.post(f"/api/event/order/{view['id']}/cancel")).status_code == 200
