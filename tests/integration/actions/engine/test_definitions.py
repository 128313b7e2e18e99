"""Saving an action: a valid one is stored, an invalid one is refused naming each problem, before it can run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.engine.conftest import APPROVE, action, declare, remember
from tests.integration.machines.conftest import MachineProbe

NOTIFY = {"type": "client.notify", "attributes": {"message": "done"}}


def outcome(**fields: Any) -> dict[str, Any]:
    return {"type": "client.notify", "attributes": {"message": "done"}, **fields}


async def test_a_valid_action_is_stored_as_declared(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    stored = await declare(admin, APPROVE)
    assert (stored["name"], stored["entity"], stored["instance_required"], stored["run_as"]) == (
        "approve",
        "order",
        True,
        "user",
    )
    assert stored["groups"] == ["sales"] and stored["outcomes"][1]["type"] == "state.event"
    assert stored["in_fields"] == [{"name": "note", "type": "string", "max_length": 20, "trim": True}]
    read = await admin.get(f"/api/action/{stored['id']}")
    assert read.status_code == 200 and read.json()["outcomes"] == stored["outcomes"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({"entity": "invoice"}, [("entity", "unknown_entity")], id="unknown entity"),
        pytest.param({"name": "random_data"}, [("name", "duplicate")], id="name of a built-in action"),
        pytest.param({"outcomes": []}, [("outcomes", "required")], id="no outcomes"),
        pytest.param(
            {"outcomes": [{"type": "order.frobnicate"}]},
            [("outcomes[0].type", "unknown_type")],
            id="outcome of unknown type",
        ),
        pytest.param(
            {"outcomes": [outcome(attributes={"message": "{{ invoice.total }}"})]},
            [("outcomes[0].attributes.message", "invalid_template")],
            id="template naming an unknown name",
        ),
        pytest.param(
            {"outcomes": [outcome(attributes={"message": "{{ subject.colour }}"})]},
            [("outcomes[0].attributes.message", "invalid_template")],
            id="template naming an unknown field of the row",
        ),
        pytest.param(
            {"instance_required": False, "outcomes": [outcome(attributes={"message": "{{ subject.total }}"})]},
            [("outcomes[0].attributes.message", "invalid_template")],
            id="subject without an instance",
        ),
        pytest.param(
            {"outcomes": [outcome(attributes={"message": "{{ input.nope }}"})]},
            [("outcomes[0].attributes.message", "invalid_template")],
            id="template naming an undeclared input",
        ),
        pytest.param(
            {"outcomes": [outcome(attributes={"message": "{{ later.id }}"}), {**NOTIFY, "reference": "later"}]},
            [("outcomes[0].attributes.message", "invalid_template")],
            id="reference used before its step",
        ),
        pytest.param(
            {"outcomes": [outcome(attributes={"message": "{{ subject.total "})]},
            [("outcomes[0].attributes.message", "invalid_template")],
            id="template syntax error",
        ),
        pytest.param(
            {"outcomes": [{"type": "order", "attributes": {"id": "{{ subject.id }}"}}]},
            [("outcomes[0].method", "invalid_method")],
            id="entity outcome without a method",
        ),
        pytest.param(
            {"outcomes": [{"type": "order", "method": "update", "attributes": {"id": "x", "colour": "red"}}]},
            [("outcomes[0].attributes.colour", "unknown")],
            id="entity outcome writing an unknown field",
        ),
        pytest.param(
            {"outcomes": [{"type": "order", "method": "delete", "attributes": {}}]},
            [("outcomes[0].attributes.id", "required")],
            id="delete without an id",
        ),
        pytest.param(
            {"outcomes": [{"type": "client.notify", "attributes": {"title": "no message"}}]},
            [("outcomes[0].attributes.message", "required")],
            id="directive without a required attribute",
        ),
        pytest.param(
            {"outcomes": [{"type": "client.header.set", "attributes": {"name": "Content-Length", "value": "1"}}]},
            [("outcomes[0].attributes", "invalid")],
            id="directive setting a header an action may not set",
        ),
        pytest.param(
            {"outcomes": [{"type": "client.redirect", "attributes": {"location": "/x", "delay": "{{ input.note }}"}}]},
            [],
            id="templated directive values wait for the run",
        ),
        pytest.param(
            {"outcomes": [{"type": "client.notify", "attributes": {"message": "x", "type": "shout"}}]},
            [("outcomes[0].attributes.type", "invalid")],
            id="directive value out of its options",
        ),
        pytest.param(
            {"outcomes": [{"type": "state.event", "attributes": {"machine": "order_flow", "event": 5}}]},
            [("outcomes[0].attributes.event", "invalid")],
            id="performer value of the wrong type",
        ),
        pytest.param(
            {"outcomes": [{"type": "state.event", "attributes": {"machine": "order_flow", "when": "now"}}]},
            [("outcomes[0].attributes.when", "unknown"), ("outcomes[0].attributes.event", "required")],
            id="performer attribute it does not take",
        ),
        pytest.param(
            {"outcomes": [{"type": "action", "attributes": {"name": "teleport"}}]},
            [("outcomes[0].attributes.name", "unknown_action")],
            id="calling an unknown action",
        ),
        pytest.param(
            {"outcomes": [{"type": "action", "attributes": {"name": "approve", "attributes": ["x"]}}]},
            [("outcomes[0].attributes.attributes", "type")],
            id="calling an action with inputs that are not an object",
        ),
        pytest.param(
            {"outcomes": [{"type": "action", "attributes": {"entity": "invoice", "name": "approve"}}]},
            [("outcomes[0].attributes.entity", "unknown_entity")],
            id="calling an action of an unknown entity",
        ),
        pytest.param(
            {"outcomes": [{**NOTIFY, "method": "update"}]},
            [("outcomes[0].method", "unsupported_option")],
            id="method on a directive",
        ),
        pytest.param(
            {"outcomes": [{**NOTIFY, "reference": "input"}]},
            [("outcomes[0].reference", "invalid_name")],
            id="reference taking a context name",
        ),
        pytest.param(
            {"outcomes": [{**NOTIFY, "reference": "done"}, {**NOTIFY, "reference": "done"}]},
            [("outcomes[1].reference", "duplicate")],
            id="reference named twice",
        ),
        pytest.param(
            {"condition": {"field": "subject.colour", "op": "equals", "value": "red"}},
            [("condition.field", "invalid_condition")],
            id="condition naming an unknown field",
        ),
        pytest.param(
            {"condition": {"field": "subject.total", "op": "sparkles", "value": 1}},
            [("condition.op", "invalid_condition")],
            id="condition with an unknown operator",
        ),
        pytest.param(
            {"outcomes": [outcome(condition={"field": "missing.total", "op": "gt", "value": 1})]},
            [("outcomes[0].condition.field", "invalid_condition")],
            id="outcome condition naming an unknown reference",
        ),
        pytest.param({"groups": ["nobody"]}, [("groups", "unknown_group")], id="unknown group"),
        pytest.param(
            {"in_fields": [{"name": "note", "type": "colour"}]},
            [("in_fields[0].type", "unknown_type")],
            id="input of an unknown type",
        ),
        pytest.param(
            {"in_fields": [{"name": "note", "type": "integer", "max_length": 3}]},
            [("in_fields[0].max_length", "unsupported_option")],
            id="input option its type does not have",
        ),
        pytest.param(
            {"in_fields": [{"name": "note", "type": "string"}, {"name": "note", "type": "integer"}]},
            [("in_fields[1].name", "duplicate")],
            id="input declared twice",
        ),
        pytest.param(
            {"in_fields": [{"name": "note", "type": "string"}, {"name": "order_id", "type": "uuid"}]},
            [("in_fields[1].name", "reserved")],
            id="input named like the instance",
        ),
    ],
)
async def test_an_invalid_action_is_refused_naming_the_problem(
    admin: Api, order_flow: Any, probe: MachineProbe, changes: dict[str, Any], expected: list[Any]
) -> None:
    before = await remember(probe)
    response = await admin.post("/api/action", action(**changes))
    if not expected:
        assert response.status_code == 201, response.text
        return
    body = assert_problem(response, 400, "invalid-definition")
    assert [(e["field"], e["code"]) for e in body["errors"]] == expected
    assert expected[0][0] in body["detail"]
    await before.check()


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"outcomes": {"type": "client.notify"}}, id="outcomes not a list"),
        pytest.param({"outcomes": [{"type": "client.notify", "retry": 3}]}, id="unknown outcome field"),
        pytest.param({"in_fields": [{"name": "note", "type": "string", "trimmed": True}]}, id="unknown input field"),
    ],
)
async def test_a_malformed_action_is_refused(
    admin: Api, order_flow: Any, probe: MachineProbe, changes: dict[str, Any]
) -> None:
    before = await remember(probe)
    body = assert_problem(await admin.post("/api/action", action(**changes)), 400, "invalid-definition")
    assert body["errors"]
    await before.check()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"name": "Approve!"}, "name", id="invalid name"),
        pytest.param({"run_as": "root"}, "run_as", id="unknown run_as"),
        pytest.param({"instance_required": "yes"}, "instance_required", id="instance_required not a boolean"),
    ],
)
async def test_invalid_column_values_are_422(
    admin: Api, order_flow: Any, probe: MachineProbe, changes: dict[str, Any], field: str
) -> None:
    before = await remember(probe)
    body = assert_problem(await admin.post("/api/action", action(**changes)), 422, "validation")
    assert [e["field"] for e in body["errors"]] == [field]
    await before.check()


async def test_an_action_may_call_itself_by_name(admin: Api, order_flow: Any) -> None:
    """Saving it is fine (the recursion limit stops it at run time), and so is calling a built-in action."""
    looping = action(name="loop", outcomes=[{"type": "action", "attributes": {"name": "loop"}}])
    await declare(admin, looping)
    builtin = {"type": "action", "attributes": {"name": "random_data", "attributes": {"count": 1}}}
    await declare(admin, action(name="fill", instance_required=False, outcomes=[builtin]))


async def test_an_invalid_edit_is_refused_and_the_action_stays(
    admin: Api, order_flow: Any, probe: MachineProbe
) -> None:
    stored = await declare(admin, APPROVE)
    before = await remember(probe)
    broken = [{"type": "client.notify", "attributes": {"message": "{{ subject.colour }}"}}]
    body = assert_problem(await admin.patch(f"/api/action/{stored['id']}", {"outcomes": broken}), 400)
    assert body["errors"][0]["field"] == "outcomes[0].attributes.message"
    await before.check()


async def test_the_same_name_twice_on_one_entity_is_a_conflict(
    admin: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await declare(admin, APPROVE)
    before = await remember(probe)
    assert_problem(await admin.post("/api/action", APPROVE), 409, "duplicate")
    await before.check()


async def test_only_administrators_declare_actions(
    admin: Api, guest: Api, buyer: Api, order_flow: Any, probe: MachineProbe
) -> None:
    before = await remember(probe)
    assert_problem(await buyer.post("/api/action", APPROVE), 403, "forbidden")
    assert_problem(await guest.post("/api/action", APPROVE), 401, "unauthorized")
    await before.check()


async def test_run_as_system_is_for_administrators_to_declare(
    admin: Api, buyer: Api, order_flow: Any, probe: MachineProbe
) -> None:
    # Let signed-in users declare actions at all: run_as system stays the administrators' call.
    found = await admin.get("/api/entity", params={"filter": '{"field": "name", "op": "equals", "value": "action"}'})
    entity = found.json()["data"][0]
    table = {"owner": ["all"], "group": ["peek", "read", "create", "update"]}
    patched = await admin.patch(f"/api/entity/{entity['id']}", {"permissions": {"table": table}})
    assert patched.status_code == 200, patched.text
    mine = await declare(buyer, action(name="mine", groups=[]))
    before = await remember(probe)
    body = assert_problem(await buyer.post("/api/action", action(name="elevated", run_as="system")), 403)
    assert body["permission"] == "run_as"
    assert_problem(await buyer.patch(f"/api/action/{mine['id']}", {"run_as": "system"}), 403, "forbidden")
    await before.check()
    assert (await declare(admin, action(name="elevated", run_as="system")))["run_as"] == "system"
