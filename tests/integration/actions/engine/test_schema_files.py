"""Actions declared in schema files: applied idempotently, updated on change, refused whole when invalid."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from stateyard.core.errors import ProblemError
from stateyard.entities.loader import SchemaFileError, load_folder
from tests.conftest import ORDER, Api, assert_problem
from tests.integration.actions.engine.conftest import call, kinds, new_order
from tests.integration.entities.test_schema_cli import cli_env, run
from tests.integration.machines.conftest import ORDER_FLOW, MachineProbe

__all__ = ["cli_env"]

GREET: dict[str, Any] = {
    "name": "greet",
    "entity": "order",
    "instance_required": True,
    "in_fields": [{"name": "word", "type": "string", "default": "Hello"}],
    "outcomes": [{"type": "client.notify", "attributes": {"message": "{{ input.word }}, {{ subject.customer }}"}}],
}
#: Calls greet, declared after it in the same file: it is saved after greet.
WAVE: dict[str, Any] = {
    "name": "wave",
    "entity": "order",
    "instance_required": True,
    "outcomes": [{"type": "action", "attributes": {"name": "greet", "attributes": {"order_id": "{{ subject.id }}"}}}],
}


def document(*actions: dict[str, Any], entities: tuple[dict[str, Any], ...] = (ORDER,)) -> dict[str, Any]:
    return {
        "groups": [{"name": "sales"}],
        "entities": list(entities),
        "state_machines": [ORDER_FLOW],
        "actions": list(actions),
    }


def write(folder: Path, content: dict[str, Any], name: str = "app.yaml") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")


async def apply(probe: MachineProbe, folder: Path, *, dry_run: bool = False) -> Any:
    return await probe.call(functools.partial(probe.platform.apply_schema, load_folder(folder), dry_run=dry_run))


async def everything(probe: MachineProbe) -> dict[str, Any]:
    tables = ("entity", "entity_column", "usergroup", "state_machine", "action", "audit_log")
    return {"models": sorted(probe.platform.registry.snapshot.models), **{t: await probe.rows(t) for t in tables}}


async def test_actions_in_a_file_are_created_once_in_call_order(admin: Api, probe: MachineProbe, settings: Any) -> None:
    folder = Path(settings.schema_dir)
    write(folder, document(WAVE, GREET))
    planned = await apply(probe, folder, dry_run=True)
    assert [(c.kind, c.detail) for c in planned.changes][-2:] == [
        ("create_action", "create action 'order.greet'"),
        ("create_action", "create action 'order.wave'"),
    ]
    assert (await apply(probe, folder)).applied
    state = await everything(probe)
    again = await apply(probe, folder)
    assert (again.applied, again.changes) == (False, [])
    assert await everything(probe) == state
    order = await new_order(admin, customer="Eve")
    response = await call(admin, "wave", {"order_id": order["id"]})
    assert kinds(response) == ["client.notify"]
    assert response.json()[0]["attributes"]["message"] == "Hello, Eve"


async def test_changing_an_action_in_the_file_updates_it(admin: Api, probe: MachineProbe, settings: Any) -> None:
    folder = Path(settings.schema_dir)
    write(folder, document(GREET))
    await apply(probe, folder)
    changed = copy.deepcopy(GREET)
    changed["in_fields"][0]["default"] = "Hi"
    changed["label"] = "Greet"
    write(folder, document(changed))
    result = await apply(probe, folder)
    assert [(c.kind, c.detail) for c in result.changes] == [
        ("update_action", "change in_fields, label of action 'order.greet'")
    ]
    order = await new_order(admin, customer="Fay")
    assert (await call(admin, "greet", {"order_id": order["id"]})).json()[0]["attributes"]["message"] == "Hi, Fay"
    assert (await apply(probe, folder)).changes == []


@pytest.mark.parametrize(
    ("actions", "entities", "field"),
    [
        pytest.param(
            [GREET, {**WAVE, "outcomes": [{"type": "order.nope"}]}],
            (ORDER,),
            "actions[1].outcomes[0].type",
            id="outcome of unknown type",
        ),
        pytest.param(
            [{**GREET, "outcomes": [{"type": "client.notify", "attributes": {"message": "{{ subject.colour }}"}}]}],
            (ORDER,),
            "actions[0].outcomes[0].attributes.message",
            id="template naming a field the entity lacks",
        ),
        pytest.param(
            [{**GREET, "entity": "ticket"}],
            (ORDER,),
            "actions[0].entity",
            id="unknown entity",
        ),
        pytest.param(
            [{**GREET, "groups": ["nobody"]}],
            (ORDER,),
            "actions[0].groups",
            id="unknown group",
        ),
        pytest.param(
            [
                {**WAVE, "name": "ping", "outcomes": [{"type": "action", "attributes": {"name": "pong"}}]},
                {**WAVE, "name": "pong", "outcomes": [{"type": "action", "attributes": {"name": "ping"}}]},
            ],
            (ORDER,),
            "actions",
            id="actions calling each other",
        ),
    ],
)
async def test_an_invalid_action_in_a_file_changes_nothing(
    admin: Api, probe: MachineProbe, settings: Any, actions: list[Any], entities: Any, field: str
) -> None:
    folder = Path(settings.schema_dir)
    write(folder, {"groups": [{"name": "sales"}], "entities": [ORDER]})
    await apply(probe, folder)
    rush = {"name": "rush", "type": "boolean"}
    # The same file adds a column and a machine: neither is applied when an action is refused.
    write(folder, document(*actions, entities=({**ORDER, "columns": [*ORDER["columns"], rush]},)))
    before = await everything(probe)
    with pytest.raises(ProblemError) as refused:
        await apply(probe, folder)
    assert (refused.value.status, refused.value.code) == (400, "invalid-definition")
    assert field in [e.field for e in refused.value.errors or []]
    assert await everything(probe) == before


async def test_a_template_on_a_column_the_same_file_adds_is_valid(
    admin: Api, probe: MachineProbe, settings: Any
) -> None:
    folder = Path(settings.schema_dir)
    rush = {"name": "rush", "type": "boolean", "default": True}
    uses = {**GREET, "outcomes": [{"type": "client.notify", "attributes": {"message": "rush: {{ subject.rush }}"}}]}
    write(folder, document(uses, entities=({**ORDER, "columns": [*ORDER["columns"], rush]},)))
    assert (await apply(probe, folder)).applied
    order = await new_order(admin)
    assert (await call(admin, "greet", {"order_id": order["id"]})).json()[0]["attributes"]["message"] == "rush: True"


async def test_the_same_action_twice_in_the_files_is_refused(settings: Any) -> None:
    folder = Path(settings.schema_dir)
    write(folder, document(GREET), "a.yaml")
    write(folder, {"actions": [GREET]}, "b.yaml")
    with pytest.raises(SchemaFileError, match=r"'order\.greet' in actions is already declared"):
        load_folder(folder)
    # The same name on another entity is another action.
    write(folder, {"actions": [{**GREET, "entity": "customer"}]}, "b.yaml")
    assert len(load_folder(folder).actions) == 2


async def test_the_cli_applies_actions_and_names_bad_ones(cli_env: Path, admin: Api, probe: MachineProbe) -> None:
    write(cli_env, document(GREET))
    applied = await run("schema", "apply")
    assert applied.exit_code == 0, applied.output
    assert "order: create action 'order.greet'" in applied.output
    await probe.call(probe.platform.registry.refresh)
    order = await new_order(admin)
    assert (await call(admin, "greet", {"order_id": order["id"]})).status_code == 200
    write(cli_env, document({**GREET, "outcomes": [{"type": "client.notify", "attributes": {"message": "{{ x }}"}}]}))
    refused = await run("schema", "apply")
    assert refused.exit_code == 2, refused.output
    assert "actions[0].outcomes[0].attributes.message: unknown name 'x'" in refused.output


async def test_a_column_an_action_names_cannot_be_dropped(admin: Api, probe: MachineProbe, settings: Any) -> None:
    folder = Path(settings.schema_dir)
    write(folder, document(GREET))
    await apply(probe, folder)
    order = await admin.get("/api/entity", params={"filter": '{"field": "name", "op": "equals", "value": "order"}'})
    columns = await admin.get(f"/api/entity/{order.json()['data'][0]['id']}", params={"include": "columns"})
    customer = next(c for c in columns.json()["columns"] if c["name"] == "customer")
    before = await everything(probe)
    dropped = await admin.delete(f"/api/entity_column/{customer['id']}", params={"allow_destructive": "true"})
    body = assert_problem(dropped, 409, "in-use")
    assert "action 'order.greet' would break" in body["detail"]
    assert await everything(probe) == before
