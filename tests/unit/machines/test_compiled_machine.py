"""CompiledMachine: which events apply in a state, where they lead, and the guards bound to the entity."""

from __future__ import annotations

import pytest

from stateyard.entities.compiler import Model
from stateyard.expressions import conditions
from stateyard.machines.catalog import CompiledMachine
from tests.unit.machines.conftest import compiled, definition


@pytest.fixture(scope="module")
def machine(order_model: Model) -> CompiledMachine:
    return compiled(order_model, definition())


@pytest.mark.parametrize(
    ("state", "events"),
    [
        ("pending", ["confirm", "cancel"]),
        ("confirmed", ["ship", "cancel"]),
        ("shipped", []),
        ("cancelled", []),
        ("unknown", []),
    ],
)
def test_allowed_events_in_declaration_order(machine: CompiledMachine, state: str, events: list[str]) -> None:
    assert machine.allowed_events(state) == events


def test_declaration_order_is_kept_whatever_the_names(order_model: Model) -> None:
    flipped = definition(events=list(reversed(definition().events)))
    assert compiled(order_model, flipped).allowed_events("pending") == ["cancel", "confirm"]


@pytest.mark.parametrize(
    ("state", "event", "target"),
    [
        ("pending", "confirm", "confirmed"),
        ("pending", "cancel", "cancelled"),
        ("confirmed", "cancel", "cancelled"),
        ("confirmed", "ship", "shipped"),
        ("pending", "ship", None),
        ("shipped", "cancel", None),
        ("pending", "teleport", None),
        ("limbo", "cancel", None),
    ],
)
def test_next_state(machine: CompiledMachine, state: str, event: str, target: str | None) -> None:
    assert machine.next_state(state, event) == target


def test_asking_leaves_no_model_behind(machine: CompiledMachine) -> None:
    for state, event in (("pending", "confirm"), ("pending", "ship"), ("limbo", "go")):
        machine.next_state(state, event)
    assert machine.machine.models == []


def test_guards_are_bound_to_the_entity_fields(machine: CompiledMachine) -> None:
    assert set(machine.guards) == {"confirm", "ship", "cancel"}
    assert machine.guards["ship"] is None and machine.guards["cancel"] is None
    guard = machine.guards["confirm"]
    assert guard is not None
    assert conditions.evaluate(guard, {"total": 5.0}) is True
    assert conditions.evaluate(guard, {"total": 0.0}) is False
    assert conditions.evaluate(guard, {"total": None}) is False


def test_a_payload_guard_reads_the_payload(order_model: Model) -> None:
    events = [
        {
            "name": "go",
            "src": ["pending"],
            "dst": "done",
            "guard": {"field": "payload.ok", "op": "equals", "value": True},
        }
    ]
    states = [{"name": "pending"}, {"name": "done", "final": True}]
    guard = compiled(order_model, definition(states=states, events=events)).guards["go"]
    assert guard is not None
    assert conditions.evaluate(guard, {"total": 1, "payload": {"ok": True}}) is True
    assert conditions.evaluate(guard, {"total": 1, "payload": {}}) is False


def test_final_states_and_version(order_model: Model) -> None:
    machine = compiled(order_model, definition(), version=3)
    assert machine.final == {"shipped", "cancelled"}
    assert (machine.version, machine.name) == (3, "order_flow")
