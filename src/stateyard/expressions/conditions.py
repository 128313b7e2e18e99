"""The one condition language: a JSON tree that filters lists, guards transitions and gates outcomes.

Groups are ``{"all": [...]}``, ``{"any": [...]}`` and ``{"not": ...}``; rules are
``{"field": "total", "op": "gt", "value": 100}``. A condition is parsed once into typed
Structs, checked against the fields it may name, and then either compiled to SQL (lists)
or evaluated in Python (guards, outcome conditions). Both share one definition of each
operator, so a rule means the same thing in a list filter and in a guard; ``null`` values
compare like Python's ``None`` (equal only to ``null``, never greater or smaller).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, false, not_, or_, true

from stateyard.core.db import bounded_regex_search

MAX_DEPTH = 16
MAX_RULES = 200
MAX_REGEX_LENGTH = 200
MAX_LIST_VALUES = 1000

NO_VALUE_OPS = frozenset({"is_empty", "is_not_empty", "changed"})
LIST_OPS = frozenset({"in", "not_in"})
TEXT_OPS = frozenset({"contains", "not_contains", "starts_with", "ends_with", "regex"})
ORDER_OPS = frozenset({"gt", "gte", "lt", "lte"})
OPERATORS = frozenset({"equals", "not_equals"} | NO_VALUE_OPS | LIST_OPS | TEXT_OPS | ORDER_OPS)


class ConditionError(ValueError):
    """A condition that cannot be used; ``path`` points into the JSON tree (``filter.all[1].op``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class Rule(msgspec.Struct, frozen=True):
    field: str
    op: str
    value: Any = None
    path: str = ""


class AllOf(msgspec.Struct, frozen=True):
    items: tuple[Condition, ...]


class AnyOf(msgspec.Struct, frozen=True):
    items: tuple[Condition, ...]


class Not(msgspec.Struct, frozen=True):
    item: Condition


Condition = Rule | AllOf | AnyOf | Not


#: The kind of a free-form field (event payloads): any operator applies, values are compared as sent.
ANY_KIND = "any"


class FieldSpec(msgspec.Struct, frozen=True):
    """What a condition may know about one field: how to coerce values and, for SQL, its column.

    ``kind`` is ``text``, ``number``, ``boolean``, ``temporal``, ``id`` or ``json``; it decides which
    operators apply. ``coerce`` turns a rule's JSON value into the field's Python type, raising
    ``ValueError`` with a sentence when it cannot.
    """

    name: str
    kind: str
    coerce: Callable[[Any], Any] | None = None
    sql: Any = None


def parse(data: Any, path: str = "filter") -> Condition:
    """Parse a JSON value into a condition, refusing anything malformed with a precise path."""
    counter = [0]
    return _parse(data, path, 0, counter)


def _parse(data: Any, path: str, depth: int, counter: list[int]) -> Condition:
    if depth > MAX_DEPTH:
        raise ConditionError(path, f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(data, dict):
        raise ConditionError(path, "expected an object: a rule {field, op, value} or a group {all|any|not}")
    keys = set(data)
    for group in ("all", "any"):
        if group in keys:
            if keys != {group}:
                raise ConditionError(path, f"a '{group}' group takes no other keys (found {sorted(keys - {group})})")
            items = data[group]
            if not isinstance(items, list):
                raise ConditionError(f"{path}.{group}", "expected an array of conditions")
            parsed = tuple(_parse(item, f"{path}.{group}[{i}]", depth + 1, counter) for i, item in enumerate(items))
            return AllOf(parsed) if group == "all" else AnyOf(parsed)
    if "not" in keys:
        if keys != {"not"}:
            raise ConditionError(path, "a 'not' group takes no other keys")
        return Not(_parse(data["not"], f"{path}.not", depth + 1, counter))
    return _parse_rule(data, path, counter)


def _parse_rule(data: dict[str, Any], path: str, counter: list[int]) -> Rule:
    counter[0] += 1
    if counter[0] > MAX_RULES:
        raise ConditionError(path, f"more than {MAX_RULES} rules")
    unknown = set(data) - {"field", "op", "value"}
    if unknown:
        raise ConditionError(path, f"unknown key(s) {sorted(unknown)}; a rule has field, op and value")
    field, op = data.get("field"), data.get("op")
    if not isinstance(field, str) or not field:
        raise ConditionError(f"{path}.field", "expected a field name")
    if not isinstance(op, str):
        raise ConditionError(f"{path}.op", "expected an operator name")
    if op not in OPERATORS:
        raise ConditionError(f"{path}.op", f"unknown operator '{op}' (known: {', '.join(sorted(OPERATORS))})")
    value: Any = data.get("value")  # any JSON value; checked against the operator below
    if op in NO_VALUE_OPS:
        if "value" in data:
            raise ConditionError(f"{path}.value", f"'{op}' takes no value")
    elif op in LIST_OPS:
        if not isinstance(value, list):
            raise ConditionError(f"{path}.value", f"'{op}' needs an array of values")
        if len(value) > MAX_LIST_VALUES:
            raise ConditionError(f"{path}.value", f"at most {MAX_LIST_VALUES} values")
        if any(isinstance(v, list | dict) for v in value):
            raise ConditionError(f"{path}.value", f"'{op}' takes an array of plain values")
    elif "value" not in data:
        raise ConditionError(f"{path}.value", f"'{op}' needs a value")
    elif isinstance(value, list | dict):
        raise ConditionError(f"{path}.value", f"'{op}' takes a plain value, not {type(value).__name__}")
    if op in TEXT_OPS and not isinstance(value, str):
        raise ConditionError(f"{path}.value", f"'{op}' needs a string")
    if op == "regex":
        if len(value) > MAX_REGEX_LENGTH:
            raise ConditionError(f"{path}.value", f"a pattern is at most {MAX_REGEX_LENGTH} characters")
        try:
            re.compile(value)
        except re.error as exc:
            raise ConditionError(f"{path}.value", f"invalid regular expression: {exc}") from None
    return Rule(field=field, op=op, value=value, path=path)


def rules(condition: Condition) -> list[Rule]:
    if isinstance(condition, Rule):
        return [condition]
    if isinstance(condition, Not):
        return rules(condition.item)
    return [r for item in condition.items for r in rules(item)]


def _wildcard(fields: Mapping[str, FieldSpec], name: str) -> FieldSpec | None:
    """``payload.amount`` matches a ``payload.*`` field: free-form data whose keys are not known ahead."""
    prefix, dot, _ = name.partition(".")
    found = fields.get(prefix + ".*") if dot else None
    return msgspec.structs.replace(found, name=name) if found is not None else None


def bind(condition: Condition, fields: Mapping[str, FieldSpec], *, allow_changed: bool = False) -> Condition:
    """Check every rule against the known fields and coerce its value to the field's type."""
    if isinstance(condition, AllOf):
        return AllOf(tuple(bind(c, fields, allow_changed=allow_changed) for c in condition.items))
    if isinstance(condition, AnyOf):
        return AnyOf(tuple(bind(c, fields, allow_changed=allow_changed) for c in condition.items))
    if isinstance(condition, Not):
        return Not(bind(condition.item, fields, allow_changed=allow_changed))
    rule = condition
    spec = fields.get(rule.field) or _wildcard(fields, rule.field)
    if spec is None:
        known = ", ".join(sorted(fields))
        raise ConditionError(f"{rule.path}.field", f"unknown field '{rule.field}' (known: {known})")
    if rule.op == "changed" and not allow_changed:
        raise ConditionError(
            f"{rule.path}.op", "'changed' applies only where a previous version exists (update triggers)"
        )
    if spec.kind == ANY_KIND:
        return rule
    if rule.op in TEXT_OPS and spec.kind != "text":
        raise ConditionError(f"{rule.path}.op", f"'{rule.op}' applies to text fields; '{rule.field}' is {spec.kind}")
    if rule.op in ORDER_OPS and spec.kind not in ("number", "temporal", "text"):
        raise ConditionError(f"{rule.path}.op", f"'{rule.op}' cannot order {spec.kind} field '{rule.field}'")
    if spec.kind == "json" and rule.op not in ("is_empty", "is_not_empty", "changed", "equals", "not_equals"):
        raise ConditionError(f"{rule.path}.op", f"'{rule.op}' does not apply to json field '{rule.field}'")
    if spec.coerce is None or rule.op in NO_VALUE_OPS or rule.op in TEXT_OPS:
        return rule
    try:
        if rule.op in LIST_OPS:
            value: Any = [None if v is None else spec.coerce(v) for v in rule.value]
        else:
            value = None if rule.value is None else spec.coerce(rule.value)
    except ValueError as exc:
        raise ConditionError(f"{rule.path}.value", f"not a valid value for '{rule.field}': {exc}") from None
    return msgspec.structs.replace(rule, value=value)


# ---- Python evaluation -------------------------------------------------------------------


def evaluate(condition: Condition, record: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> bool:
    if isinstance(condition, AllOf):
        return all(evaluate(c, record, previous) for c in condition.items)
    if isinstance(condition, AnyOf):
        return any(evaluate(c, record, previous) for c in condition.items)
    if isinstance(condition, Not):
        return not evaluate(condition.item, record, previous)
    return _evaluate_rule(condition, _lookup(record, condition.field), previous)


def first_failing_rule(
    condition: Condition, record: Mapping[str, Any], previous: Mapping[str, Any] | None = None
) -> Rule | None:
    """A rule that explains why ``condition`` is false for ``record`` (None when it holds).

    Under a ``not``, the culprit is a rule that holds: ``not any[a, b]`` fails because of
    whichever of ``a`` and ``b`` is true, not simply because of the first one.
    """
    if evaluate(condition, record, previous):
        return None
    if isinstance(condition, Rule):
        return condition
    if isinstance(condition, AllOf | AnyOf):
        for item in condition.items:
            found = first_failing_rule(item, record, previous)
            if found is not None:
                return found
        return None
    return _first_holding_rule(condition.item, record, previous)


def _first_holding_rule(
    condition: Condition, record: Mapping[str, Any], previous: Mapping[str, Any] | None
) -> Rule | None:
    """A rule that makes ``condition`` true for ``record`` (None when it is false)."""
    if not evaluate(condition, record, previous):
        return None
    if isinstance(condition, Rule):
        return condition
    if isinstance(condition, AllOf | AnyOf):
        for item in condition.items:
            found = _first_holding_rule(item, record, previous)
            if found is not None:
                return found
        return None
    return first_failing_rule(condition.item, record, previous)


def _lookup(record: Mapping[str, Any], field: str) -> Any:
    if field in record:
        return record[field]
    current: Any = record
    for part in field.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


def _evaluate_rule(rule: Rule, actual: Any, previous: Mapping[str, Any] | None) -> bool:
    op, expected = rule.op, rule.value
    if op == "equals":
        return bool(actual == expected)
    if op == "not_equals":
        return bool(actual != expected)
    if op == "is_empty":
        return actual is None or actual in ("", [], {})
    if op == "is_not_empty":
        return not (actual is None or actual in ("", [], {}))
    if op == "changed":
        return previous is not None and _lookup(previous, rule.field) != actual
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op in ORDER_OPS:
        if actual is None or expected is None:
            return False
        try:
            if op == "gt":
                return bool(actual > expected)
            if op == "gte":
                return bool(actual >= expected)
            if op == "lt":
                return bool(actual < expected)
            return bool(actual <= expected)
        except TypeError:
            return False
    if op == "regex":
        return bounded_regex_search(expected, actual) if actual is not None else False
    return _evaluate_text(op, actual, expected)


def _evaluate_text(op: str, actual: Any, expected: str) -> bool:
    if isinstance(actual, Sequence) and not isinstance(actual, str) and op in ("contains", "not_contains"):
        found = expected in actual
        return found if op == "contains" else not found
    if actual is None:
        return op == "not_contains"
    text = str(actual)
    if op == "contains":
        return expected in text
    if op == "not_contains":
        return expected not in text
    if op == "starts_with":
        return text.startswith(expected)
    return text.endswith(expected)


# ---- SQL compilation ---------------------------------------------------------------------


def to_sql(condition: Condition, fields: Mapping[str, FieldSpec]) -> ColumnElement[bool]:
    """Compile a bound condition to a SQL expression over the fields' ``sql`` columns."""
    if isinstance(condition, AllOf):
        return and_(true(), *(to_sql(c, fields) for c in condition.items))
    if isinstance(condition, AnyOf):
        return or_(false(), *(to_sql(c, fields) for c in condition.items))
    if isinstance(condition, Not):
        return not_(to_sql(condition.item, fields))
    spec = fields[condition.field]
    if spec.sql is None:
        raise ConditionError(f"{condition.path}.field", f"'{condition.field}' cannot be used in a list filter")
    return _rule_sql(condition, spec)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _known(col: Any, test: ColumnElement[bool]) -> ColumnElement[bool]:
    """``test`` where ``col`` has a value, FALSE (never NULL) where it is null.

    SQL compares null to anything as unknown, and ``NOT unknown`` is still unknown, so a bare
    ``col = 5`` would drop null rows from ``{"not": {..equals 5}}`` where Python keeps them.
    """
    return and_(col.is_not(None), test)


def _rule_sql(rule: Rule, spec: FieldSpec) -> ColumnElement[bool]:
    col, op, value = spec.sql, rule.op, rule.value
    if op == "equals":
        return col.is_(None) if value is None else _known(col, col == value)
    if op == "not_equals":
        return col.is_not(None) if value is None else or_(col != value, col.is_(None))
    if op in ("is_empty", "is_not_empty"):
        empty = or_(col.is_(None), col == "") if spec.kind == "text" else col.is_(None)
        return empty if op == "is_empty" else not_(empty)
    if op in ORDER_OPS:
        if value is None:
            return false()
        return _known(col, {"gt": col > value, "gte": col >= value, "lt": col < value, "lte": col <= value}[op])
    if op in LIST_OPS:
        plain = [v for v in value if v is not None]
        has_null = len(plain) != len(value)
        inside = or_(_known(col, col.in_(plain)) if plain else false(), col.is_(None) if has_null else false())
        if op == "in":
            return inside
        return or_(not_(inside), col.is_(None)) if not has_null else not_(inside)
    if op == "regex":
        return _known(col, col.regexp_match(value))
    pattern = _like_escape(value)
    if op in ("contains", "not_contains"):
        match = _known(col, col.like(f"%{pattern}%", escape="\\"))
        return match if op == "contains" else not_(match)
    if op == "starts_with":
        return _known(col, col.like(f"{pattern}%", escape="\\"))
    return _known(col, col.like(f"%{pattern}", escape="\\"))
