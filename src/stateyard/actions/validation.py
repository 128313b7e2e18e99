"""Check an action definition when it is saved: every name, type and template, with its path."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import msgspec

from stateyard.actions.directives import DIRECTIVE_TYPES, build
from stateyard.actions.registry import ActionRegistry
from stateyard.actions.schemas import CRUD_METHODS, ActionDef, OutcomeDef
from stateyard.core.errors import FieldError, ProblemError
from stateyard.entities.registry import Snapshot
from stateyard.entities.types import COLUMN_TYPES, COMMON_OPTIONS
from stateyard.expressions import conditions, templates
from stateyard.expressions.conditions import ANY_KIND, ConditionError, FieldSpec

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: Names every template context has; a reference may not take one.
CONTEXT_NAMES = frozenset({"subject", "input", "user", "env", "trigger"})
USER_FIELDS = frozenset({"id", "email", "is_admin"})
INPUT_TYPES = (set(COLUMN_TYPES) - {"password", "encrypted", "secret", "permission"}) | {"file"}
ACTION_OUTCOME = "action"
LIST_ATTRIBUTES = frozenset({"filter", "sort", "page", "per_page"})


def _struct_fields(kind: type[msgspec.Struct]) -> tuple[set[str], set[str]]:
    fields = msgspec.structs.fields(kind)
    return {f.encode_name for f in fields}, {f.encode_name for f in fields if f.required}


def action_errors(
    action: ActionDef, snapshot: Snapshot, registry: ActionRegistry, declared: Collection[tuple[str, str]] = ()
) -> list[FieldError]:
    """Every problem of ``action``; ``declared`` names the other declared actions, as (entity, name)."""
    errors: list[FieldError] = []
    callable_actions = {*declared, (action.entity, action.name)}

    def add(field: str, code: str, message: str) -> None:
        errors.append(FieldError(field, code, message))

    if not NAME.match(action.name):
        add("name", "invalid_name", f"'{action.name}' is not a valid action name")
    model = snapshot.get(action.entity)
    if model is None:
        add("entity", "unknown_entity", f"there is no entity named '{action.entity}'")
    elif registry.find(action.entity, action.name) is not None:
        add("name", "duplicate", f"'{action.name}' is a built-in action of '{action.entity}'")
    subject_fields: frozenset[str] | None = None
    if model is not None:
        subject_fields = frozenset(model.field_names())
    input_names: set[str] = set()
    for i, field in enumerate(action.in_fields):
        where = f"in_fields[{i}]"
        if not NAME.match(field.name):
            add(f"{where}.name", "invalid_name", f"'{field.name}' is not a valid input name")
        elif field.name in input_names:
            add(f"{where}.name", "duplicate", f"input '{field.name}' is declared twice")
        elif field.name == f"{action.entity}_id":
            add(f"{where}.name", "reserved", f"'{field.name}' names the instance; choose another name")
        input_names.add(field.name)
        if field.type not in INPUT_TYPES:
            add(
                f"{where}.type",
                "unknown_type",
                f"unknown input type '{field.type}' (known: {', '.join(sorted(INPUT_TYPES))})",
            )
            continue
        if field.type == "file":
            continue
        ctype = COLUMN_TYPES[field.type]
        given = {k for k, v in msgspec.structs.asdict(field).items() if v not in (None, False, [])}
        extra = given - COMMON_OPTIONS - ctype.options - {"trim", "lowercase"}
        for option in sorted(extra):
            add(f"{where}.{option}", "unsupported_option", f"a {field.type} input has no '{option}' option")
        if extra:
            continue
        for message in ctype.definition_errors(field.as_column()):
            add(where, "invalid_input", message)
    known: dict[str, frozenset[str] | None] = {
        "input": frozenset(input_names),
        "user": USER_FIELDS,
    }
    if action.instance_required:
        known["subject"] = subject_fields
    if action.condition is not None:
        _check_condition(action.condition, "condition", condition_fields(known), errors)
    unknown_groups = [g for g in action.groups if g not in snapshot.groups]
    if unknown_groups:
        add("groups", "unknown_group", f"unknown group(s): {', '.join(unknown_groups)}")
    if not action.outcomes:
        add("outcomes", "required", "an action needs at least one outcome")
    for i, outcome in enumerate(action.outcomes):
        where = f"outcomes[{i}]"
        _check_outcome(outcome, where, snapshot, registry, known, errors)
        if outcome.type == ACTION_OUTCOME:
            errors.extend(_nested_action_errors(outcome, where, action.entity, snapshot, registry, callable_actions))
        if outcome.condition is not None:
            _check_condition(outcome.condition, f"{where}.condition", condition_fields(known), errors)
        if outcome.reference is not None:
            if not NAME.match(outcome.reference) or outcome.reference in CONTEXT_NAMES:
                add(f"{where}.reference", "invalid_name", f"'{outcome.reference}' cannot name a result")
            elif outcome.reference in known:
                add(f"{where}.reference", "duplicate", f"'{outcome.reference}' already names an earlier result")
            else:
                known[outcome.reference] = None
    return errors


def condition_fields(known: dict[str, frozenset[str] | None]) -> dict[str, FieldSpec]:
    """What an action's conditions may name: each known field (``subject.total``), any field of a reference."""
    fields: dict[str, FieldSpec] = {}
    for name, names in known.items():
        if names is None:
            fields[f"{name}.*"] = FieldSpec(f"{name}.*", ANY_KIND)
        else:
            fields.update({f"{name}.{f}": FieldSpec(f"{name}.{f}", ANY_KIND) for f in names})
    return fields


def _nested_action_errors(
    outcome: OutcomeDef,
    where: str,
    entity: str,
    snapshot: Snapshot,
    registry: ActionRegistry,
    declared: Collection[tuple[str, str]],
) -> list[FieldError]:
    """An ``action`` outcome: a written-out entity and name must name an action; its inputs are an object."""
    errors: list[FieldError] = []
    attributes = outcome.attributes
    target_entity, name, inputs = attributes.get("entity", entity), attributes.get("name"), attributes.get("attributes")
    static_entity = not templates.is_template(target_entity)
    if static_entity and (not isinstance(target_entity, str) or snapshot.get(target_entity) is None):
        errors.append(FieldError(f"{where}.attributes.entity", "unknown_entity", f"no entity '{target_entity}'"))
        static_entity = False
    if name is not None and not templates.is_template(name):
        if not isinstance(name, str):
            errors.append(FieldError(f"{where}.attributes.name", "type", "expected the name of an action"))
        elif static_entity and (target_entity, name) not in declared and registry.find(target_entity, name) is None:
            errors.append(
                FieldError(f"{where}.attributes.name", "unknown_action", f"'{target_entity}' has no action '{name}'")
            )
    if inputs is not None and not isinstance(inputs, dict) and not templates.is_template(inputs):
        errors.append(FieldError(f"{where}.attributes.attributes", "type", "expected an object of named inputs"))
    return errors


def _check_condition(raw: Any, where: str, fields: dict[str, FieldSpec], errors: list[FieldError]) -> None:
    try:
        conditions.bind(conditions.parse(raw, where), fields)
    except ConditionError as exc:
        errors.append(FieldError(exc.path, "invalid_condition", exc.message))


def _check_outcome(
    outcome: OutcomeDef,
    where: str,
    snapshot: Snapshot,
    registry: ActionRegistry,
    known: dict[str, frozenset[str] | None],
    errors: list[FieldError],
) -> None:
    def add(field: str, code: str, message: str) -> None:
        errors.append(FieldError(field, code, message))

    kind = outcome.type
    keys = set(outcome.attributes)
    raw: frozenset[str] = frozenset()
    if kind in DIRECTIVE_TYPES:
        allowed, required = _struct_fields(DIRECTIVE_TYPES[kind])
    elif kind in registry.performers:
        allowed, required = _struct_fields(registry.performers[kind].input)
        raw = registry.performers[kind].raw_attributes
    elif kind == ACTION_OUTCOME:
        allowed, required = {"entity", "name", "attributes"}, {"name"}
    elif snapshot.get(kind) is not None:
        model = snapshot.model(kind)
        if outcome.method not in CRUD_METHODS:
            add(f"{where}.method", "invalid_method", f"a '{kind}' outcome needs a method: {', '.join(CRUD_METHODS)}")
            return
        if outcome.method == "list":
            allowed, required = set(LIST_ATTRIBUTES), set()
        elif outcome.method == "create":
            allowed, required = {"id", "permission", "owner_id", *model.field_names()}, set()
        else:
            allowed = (
                {"id", "version", "permission", "owner_id", *model.field_names()}
                if outcome.method == "update"
                else {"id"}
            )
            required = {"id"}
    else:
        known_types = ", ".join(sorted([*DIRECTIVE_TYPES, *registry.performers, ACTION_OUTCOME]))
        add(f"{where}.type", "unknown_type", f"unknown outcome type '{kind}' (performers, entities or {known_types})")
        return
    if outcome.method is not None and snapshot.get(kind) is None:
        add(f"{where}.method", "unsupported_option", "only entity outcomes take a method")
    for key in sorted(keys - allowed):
        add(f"{where}.attributes.{key}", "unknown", f"a '{kind}' outcome takes no attribute '{key}'")
    for key in sorted(required - keys):
        add(f"{where}.attributes.{key}", "required", f"a '{kind}' outcome needs '{key}'")
    if kind in registry.performers:
        errors.extend(_static_value_errors(registry.performers[kind].input, outcome.attributes, raw, where))
    elif kind in DIRECTIVE_TYPES and not keys - allowed and not required - keys:
        errors.extend(_static_directive_errors(kind, outcome.attributes, where))
    rendered = {k: v for k, v in outcome.attributes.items() if k not in raw}
    problems = templates.check(rendered, known, f"{where}.attributes")
    if raw:
        # A performer's own templates also see the names of its ``context`` attribute.
        local = outcome.attributes.get("context")
        own = {**known, **({str(k): None for k in local} if isinstance(local, dict) else {})}
        verbatim = {k: v for k, v in outcome.attributes.items() if k in raw}
        problems += templates.check(verbatim, own, f"{where}.attributes")
    for problem in problems:
        add(problem.path, "invalid_template", problem.message)


def _has_template(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_template(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_template(v) for v in value)
    return templates.is_template(value)


def _static_directive_errors(kind: str, attributes: dict[str, Any], where: str) -> list[FieldError]:
    """A directive written out without templates is built now, exactly as it will be when the action runs."""
    if _has_template(attributes):
        checked = {k: v for k, v in attributes.items() if not _has_template(v)}
        return _static_value_errors(DIRECTIVE_TYPES[kind], checked, frozenset(), where)
    try:
        build(kind, attributes, f"{where}.attributes")
    except ProblemError as exc:
        return list(exc.errors or [])
    return []


def _static_value_errors(
    kind: type[msgspec.Struct], attributes: dict[str, Any], skip: frozenset[str], where: str
) -> list[FieldError]:
    """A performer attribute without templates is checked now, exactly as it will be when the action runs."""
    errors: list[FieldError] = []
    for field in msgspec.structs.fields(kind):
        name = field.encode_name
        if name not in attributes or name in skip or _has_template(attributes[name]):
            continue
        try:
            msgspec.convert(attributes[name], field.type)
        except msgspec.ValidationError as exc:
            errors.append(FieldError(f"{where}.attributes.{name}", "invalid", str(exc).split(" - at ")[0]))
    return errors


def _entities_used(action: ActionDef, registry: ActionRegistry) -> set[str]:
    """The entities an action runs on, writes through CRUD outcomes, or whose actions it calls."""
    used = {action.entity}
    for outcome in action.outcomes:
        if outcome.type == ACTION_OUTCOME:
            target = outcome.attributes.get("entity", action.entity)
            if isinstance(target, str):
                used.add(target)
        elif outcome.type not in DIRECTIVE_TYPES and outcome.type not in registry.performers:
            used.add(outcome.type)
    return used


def dependency_check(catalog: Any, registry: ActionRegistry) -> Any:
    """Refuse entity changes that would break a declared action: dropping an entity it uses, or a field it names."""

    def check(after: Snapshot | None, entity: str) -> list[str]:
        actions = catalog.all()
        declared = [(a.entity, a.name) for a in actions]
        problems = []
        for action in actions:
            if entity not in _entities_used(action, registry):
                continue
            label = f"action '{action.entity}.{action.name}'"
            if after is None:
                problems.append(f"{label} uses it")
                continue
            errors = action_errors(action, after, registry, declared)
            if errors:
                problems.append(f"{label} would break ({errors[0].field}: {errors[0].message})")
        return problems

    return check
