"""machine_errors: every problem of a machine definition, each with its path and a stable code."""

from __future__ import annotations

from typing import Any

import pytest

from stateyard.entities.compiler import Model
from stateyard.machines.validation import machine_errors
from tests.unit.machines.conftest import ORDER_FLOW, definition

GROUPS = {"users", "administrators", "sales"}
EVENTS = ORDER_FLOW["events"]


def errors(model: Model | None, **changes: Any) -> list[tuple[str, str]]:
    return [(e.field, e.code) for e in machine_errors(definition(**changes), model, GROUPS)]


def event(name: str = "go", src: tuple[str, ...] = ("pending",), dst: str = "confirmed", **more: Any) -> dict[str, Any]:
    return {"name": name, "src": list(src), "dst": dst, **more}


def test_the_order_flow_is_valid(order_model: Model) -> None:
    assert errors(order_model) == []


def test_a_machine_of_one_state_without_events_is_valid(order_model: Model) -> None:
    assert errors(order_model, states=[{"name": "only"}], initial_state="only", events=[]) == []


def test_every_problem_is_reported_at_once(order_model: Model) -> None:
    found = errors(
        order_model,
        initial_state="draft",
        events=[*EVENTS, event("ship"), event("jump", src=(), dst="nowhere")],
    )
    assert found == [
        ("initial_state", "unknown_state"),
        ("events[3].name", "duplicate"),
        ("events[4].src", "required"),
        ("events[4].dst", "unknown_state"),
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({"states": []}, ("states", "required"), id="no states"),
        pytest.param(
            {"states": [*ORDER_FLOW["states"], {"name": "Held"}]},
            ("states[4].name", "invalid_name"),
            id="bad state name",
        ),
        pytest.param(
            {"states": [*ORDER_FLOW["states"], {"name": "x" * 64}]},
            ("states[4].name", "invalid_name"),
            id="state name too long",
        ),
        pytest.param(
            {"states": [*ORDER_FLOW["states"], {"name": "pending"}]},
            ("states[4].name", "duplicate"),
            id="duplicate state",
        ),
        pytest.param(
            {"events": [*EVENTS, event("jump", src=("limbo",))]},
            ("events[3].src[0]", "unknown_state"),
            id="unknown src",
        ),
        pytest.param(
            {"events": [*EVENTS, event("jump", dst="limbo")]}, ("events[3].dst", "unknown_state"), id="unknown dst"
        ),
        pytest.param({"events": [*EVENTS, event("jump", src=())]}, ("events[3].src", "required"), id="empty src"),
        pytest.param(
            {"events": [*EVENTS, event("jump", src=("pending", "pending"))]},
            ("events[3].src", "duplicate"),
            id="src twice",
        ),
        pytest.param(
            {"events": [*EVENTS, event("undo", src=("shipped",))]},
            ("events[3].src[0]", "final_state"),
            id="leaves a final state",
        ),
        pytest.param({"events": [*EVENTS, event("cancel")]}, ("events[3].name", "duplicate"), id="duplicate event"),
        pytest.param({"events": [*EVENTS, event("Go")]}, ("events[3].name", "invalid_name"), id="bad event name"),
        pytest.param(
            {"events": [*EVENTS, event("may_ship")]}, ("events[3].name", "invalid_name"), id="reserved prefix"
        ),
        pytest.param({"events": [*EVENTS, event("state")]}, ("events[3].name", "invalid_name"), id="reserved name"),
        pytest.param(
            {"events": [*EVENTS, event(groups=["sales", "nobody"])]},
            ("events[3].groups", "unknown_group"),
            id="unknown group",
        ),
        pytest.param({"events": EVENTS[1:]}, ("states[1]", "unreachable"), id="unreachable state"),
    ],
)
def test_one_problem(order_model: Model, changes: dict[str, Any], expected: tuple[str, str]) -> None:
    assert expected in errors(order_model, **changes)


def test_every_unreachable_state_is_named(order_model: Model) -> None:
    assert errors(order_model, events=[]) == [
        ("states[1]", "unreachable"),
        ("states[2]", "unreachable"),
        ("states[3]", "unreachable"),
    ]


def test_reachability_follows_paths_not_single_steps(order_model: Model) -> None:
    # shipped is reachable only through confirmed; a cycle back to pending is fine.
    events = [
        event("confirm"),
        event("ship", src=("confirmed",), dst="shipped"),
        event("reopen", src=("confirmed",), dst="pending"),
        event("cancel", dst="cancelled"),
    ]
    assert errors(order_model, events=events) == []


@pytest.mark.parametrize(
    ("guard", "expected"),
    [
        pytest.param({"field": "total", "op": "gt", "value": 0}, [], id="row field"),
        pytest.param({"field": "payload.reason", "op": "is_not_empty"}, [], id="payload field"),
        pytest.param(
            {
                "all": [
                    {"field": "customer", "op": "starts_with", "value": "A"},
                    {"field": "version", "op": "lt", "value": 9},
                ]
            },
            [],
            id="group",
        ),
        pytest.param(
            {"field": "colour", "op": "equals", "value": "red"},
            [("events[3].guard.field", "invalid_guard")],
            id="unknown field",
        ),
        pytest.param(
            {"field": "total", "op": "resembles", "value": 1},
            [("events[3].guard.op", "invalid_guard")],
            id="unknown op",
        ),
        pytest.param(
            {"field": "total", "op": "contains", "value": "1"},
            [("events[3].guard.op", "invalid_guard")],
            id="text op on a number",
        ),
        pytest.param(
            {"field": "total", "op": "gt", "value": "lots"},
            [("events[3].guard.value", "invalid_guard")],
            id="bad value",
        ),
        pytest.param({"field": "total", "op": "changed"}, [("events[3].guard.op", "invalid_guard")], id="changed"),
        pytest.param({"some": []}, [("events[3].guard", "invalid_guard")], id="not a condition"),
    ],
)
def test_guards_are_checked_against_the_entity(order_model: Model, guard: Any, expected: list[tuple[str, str]]) -> None:
    found = errors(order_model, events=[*EVENTS, event(guard=guard)])
    assert found == expected


def test_guards_are_not_checked_without_an_entity() -> None:
    found = errors(None, entity="invoice", events=[*EVENTS, event(guard={"field": "colour", "op": "is_empty"})])
    assert found == [("entity", "unknown_entity")]
