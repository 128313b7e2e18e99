"""Check a machine definition before it is saved, reporting every problem with its path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from stateyard.core.errors import FieldError
from stateyard.entities.compiler import Model
from stateyard.expressions import conditions
from stateyard.expressions.conditions import ANY_KIND, ConditionError, FieldSpec
from stateyard.machines.schemas import MachineDef

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: Names the transitions library gives meaning to on a model; an event may not take them.
RESERVED_EVENTS = frozenset({"trigger", "may_trigger", "state", "start", "migrate"})
RESERVED_EVENT_PREFIXES = ("to_", "may_", "is_")


def guard_fields(model: Model) -> dict[str, FieldSpec]:
    """What a guard may name: the row's fields and, free-form, ``payload.<key>``."""
    fields: dict[str, FieldSpec] = dict(model.condition_fields)
    fields["payload.*"] = FieldSpec("payload.*", ANY_KIND)
    return fields


def machine_errors(definition: MachineDef, model: Model | None, groups: set[str]) -> list[FieldError]:
    errors: list[FieldError] = []

    def add(field: str, code: str, message: str) -> None:
        errors.append(FieldError(field, code, message))

    if model is None:
        add("entity", "unknown_entity", f"there is no entity named '{definition.entity}'")
    states: dict[str, int] = {}
    if not definition.states:
        add("states", "required", "a machine needs at least one state")
    for i, state in enumerate(definition.states):
        if not NAME.match(state.name):
            add(f"states[{i}].name", "invalid_name", f"'{state.name}' is not a valid state name")
        elif state.name in states:
            add(f"states[{i}].name", "duplicate", f"state '{state.name}' is declared twice")
        states.setdefault(state.name, i)
    if definition.initial_state not in states:
        add("initial_state", "unknown_state", f"the initial state '{definition.initial_state}' is not among the states")
    final = {s.name for s in definition.states if s.final}
    seen_events: set[str] = set()
    edges: dict[str, set[str]] = {name: set() for name in states}
    fields = guard_fields(model) if model is not None else None
    for i, event in enumerate(definition.events):
        where = f"events[{i}]"
        if (
            not NAME.match(event.name)
            or event.name in RESERVED_EVENTS
            or event.name.startswith(RESERVED_EVENT_PREFIXES)
        ):
            add(f"{where}.name", "invalid_name", f"'{event.name}' is not a valid or available event name")
        elif event.name in seen_events:
            add(f"{where}.name", "duplicate", f"event '{event.name}' is declared twice")
        seen_events.add(event.name)
        if not event.src:
            add(f"{where}.src", "required", "an event needs at least one source state")
        for j, src in enumerate(event.src):
            if src not in states:
                add(f"{where}.src[{j}]", "unknown_state", f"unknown state '{src}'")
            elif src in final:
                add(f"{where}.src[{j}]", "final_state", f"'{src}' is final: no event may leave it")
        if len(set(event.src)) != len(event.src):
            add(f"{where}.src", "duplicate", "a source state is listed twice")
        if event.dst not in states:
            add(f"{where}.dst", "unknown_state", f"unknown state '{event.dst}'")
        else:
            for src in event.src:
                if src in edges:
                    edges[src].add(event.dst)
        unknown_groups = [g for g in event.groups if g not in groups]
        if unknown_groups:
            add(f"{where}.groups", "unknown_group", f"unknown group(s): {', '.join(unknown_groups)}")
        if event.guard is not None and fields is not None:
            try:
                conditions.bind(conditions.parse(event.guard, f"{where}.guard"), fields)
            except ConditionError as exc:
                add(exc.path, "invalid_guard", exc.message)
    if definition.initial_state in states:
        reachable = _reachable(definition.initial_state, edges)
        for name, i in states.items():
            if name not in reachable:
                add(
                    f"states[{i}]", "unreachable", f"state '{name}' cannot be reached from '{definition.initial_state}'"
                )
    return errors


def _reachable(start: str, edges: Mapping[str, set[str]]) -> set[str]:
    seen = {start}
    frontier = [start]
    while frontier:
        for nxt in edges.get(frontier.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return seen


def bound_guard(guard: Any, model: Model, where: str) -> conditions.Condition | None:
    if guard is None:
        return None
    return conditions.bind(conditions.parse(guard, where), guard_fields(model))


def dependency_check(catalog: Any) -> Any:
    """Refuse entity changes that would break a machine: dropping its entity, or a field its guards use."""

    def check(after: Any, entity: str) -> list[str]:
        problems = []
        for info in catalog.for_entity(entity):
            if after is None:
                problems.append(f"state machine '{info.name}' runs on it")
                continue
            errors = machine_errors(catalog.current_definition(info.name), after.get(entity), set(after.groups))
            if errors:
                problems.append(f"state machine '{info.name}' would break ({errors[0].field}: {errors[0].message})")
        return problems

    return check
