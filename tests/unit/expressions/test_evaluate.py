"""evaluate(): what each operator means in Python, null included (the SQL side must agree)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from stateyard.expressions.conditions import Rule, evaluate, parse
from tests.unit.expressions.conftest import rule


def holds(data: Any, record: dict[str, Any], previous: dict[str, Any] | None = None) -> bool:
    return evaluate(parse(data), record, previous)


@pytest.mark.parametrize(
    ("data", "value", "expected"),
    [
        (rule("a", "equals", 1), 1, True),
        (rule("a", "equals", 1), 2, False),
        (rule("a", "equals", 1), None, False),
        (rule("a", "equals", None), None, True),
        (rule("a", "equals", None), 0, False),
        (rule("a", "equals", "x"), "X", False),
        (rule("a", "not_equals", 1), None, True),
        (rule("a", "not_equals", 1), 1, False),
        (rule("a", "not_equals", None), "", True),
        (rule("a", "not_equals", None), None, False),
        (rule("a", "gt", 1), 2, True),
        (rule("a", "gt", 1), 1, False),
        (rule("a", "gte", 1), 1, True),
        (rule("a", "lt", 1), 0, True),
        (rule("a", "lte", 1), 2, False),
        (rule("a", "gt", 1), None, False),
        (rule("a", "lt", 1), None, False),
        (rule("a", "lte", None), 1, False),
        (rule("a", "gte", None), None, False),
        (rule("a", "gt", 1), "2", False),
        (rule("a", "lt", "b"), "a", True),
        (rule("a", "lt", "a"), "B", True),
        (rule("a", "contains", "b"), "abc", True),
        (rule("a", "contains", "B"), "abc", False),
        (rule("a", "contains", ""), "abc", True),
        (rule("a", "contains", "b"), None, False),
        (rule("a", "contains", "%"), "100%", True),
        (rule("a", "contains", "_"), "ab", False),
        (rule("a", "not_contains", "b"), "abc", False),
        (rule("a", "not_contains", "b"), None, True),
        (rule("a", "not_contains", "z"), "", True),
        (rule("a", "starts_with", "ab"), "abc", True),
        (rule("a", "starts_with", "bc"), "abc", False),
        (rule("a", "starts_with", "a"), None, False),
        (rule("a", "ends_with", "bc"), "abc", True),
        (rule("a", "ends_with", "%"), "50%", True),
        (rule("a", "ends_with", "c"), None, False),
        (rule("a", "is_empty"), None, True),
        (rule("a", "is_empty"), "", True),
        (rule("a", "is_empty"), [], True),
        (rule("a", "is_empty"), {}, True),
        (rule("a", "is_empty"), 0, False),
        (rule("a", "is_empty"), False, False),
        (rule("a", "is_empty"), " ", False),
        (rule("a", "is_not_empty"), 0, True),
        (rule("a", "is_not_empty"), "", False),
        (rule("a", "is_not_empty"), None, False),
        (rule("a", "in", [1, 2]), 2, True),
        (rule("a", "in", [1, 2]), 3, False),
        (rule("a", "in", [1, 2]), None, False),
        (rule("a", "in", [1, None]), None, True),
        (rule("a", "in", []), 1, False),
        (rule("a", "not_in", [1, 2]), 3, True),
        (rule("a", "not_in", [1, 2]), None, True),
        (rule("a", "not_in", [1, None]), None, False),
        (rule("a", "not_in", []), None, True),
        (rule("a", "regex", "^a.c$"), "abc", True),
        (rule("a", "regex", "b"), "abc", True),
        (rule("a", "regex", "^b"), "abc", False),
        (rule("a", "regex", "^$"), "", True),
        (rule("a", "regex", ".*"), None, False),
        (rule("a", "regex", "^1"), 12, True),
    ],
)
def test_rule(data: dict[str, Any], value: Any, expected: bool) -> None:
    assert holds(data, {"a": value}) is expected


def test_missing_field_is_null() -> None:
    assert holds(rule("a", "is_empty"), {})
    assert holds(rule("a", "not_equals", 1), {})
    assert not holds(rule("a", "equals", 1), {})


def test_typed_values_compare_by_value() -> None:
    assert holds(rule("a", "equals", 1), {"a": Decimal("1.00")})
    assert holds(rule("a", "lt", 1), {"a": Decimal("0.99")})
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert evaluate(Rule("a", "gt", when - dt.timedelta(seconds=1)), {"a": when})
    assert evaluate(Rule("a", "equals", dt.date(2026, 1, 1)), {"a": dt.date(2026, 1, 1)})


def test_uncomparable_values_do_not_match() -> None:
    """An aware and a naive time cannot be ordered: the rule is false, not an error."""
    assert evaluate(Rule("a", "gt", dt.datetime(2026, 1, 1)), {"a": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)}) is False
    assert holds(rule("a", "gt", 1), {"a": [2]}) is False


def test_contains_on_a_list_means_membership() -> None:
    assert holds(rule("tags", "contains", "red"), {"tags": ["red", "blue"]})
    assert not holds(rule("tags", "contains", "re"), {"tags": ["red"]})
    assert holds(rule("tags", "not_contains", "re"), {"tags": ["red"]})


def test_dotted_field_reads_nested_values() -> None:
    record = {"customer": {"address": {"country": "FR"}}, "a.b": 1}
    assert holds(rule("customer.address.country", "equals", "FR"), record)
    assert holds(rule("customer.phone", "is_empty"), record)
    assert holds(rule("customer.address.country.code", "is_empty"), record)
    assert holds(rule("a.b", "equals", 1), record)


def test_regex_is_bounded() -> None:
    assert holds(rule("a", "regex", "^(a+)+$"), {"a": "a" * 40 + "!"}) is False


def test_changed_compares_with_previous() -> None:
    assert holds(rule("a", "changed"), {"a": 2}, {"a": 1})
    assert not holds(rule("a", "changed"), {"a": 1}, {"a": 1})
    assert holds(rule("a", "changed"), {"a": None}, {"a": 1})
    assert holds(rule("a", "changed"), {"a": 1}, {})
    assert not holds(rule("a", "changed"), {"a": 1})


def test_groups() -> None:
    record = {"a": 1, "b": None}
    assert holds({"all": [rule("a", "equals", 1), rule("b", "is_empty")]}, record)
    assert not holds({"all": [rule("a", "equals", 1), rule("b", "is_not_empty")]}, record)
    assert holds({"any": [rule("a", "equals", 2), rule("b", "is_empty")]}, record)
    assert not holds({"any": [rule("a", "equals", 2), rule("b", "equals", 3)]}, record)
    assert holds({"all": []}, record) and not holds({"any": []}, record)
    assert holds({"not": {"any": []}}, record)


def test_not_of_a_rule_on_null_is_true() -> None:
    """A null is not 1, not above 1 and not in [1]: negations hold, like not_equals and not_in."""
    record = {"a": None}
    for data in (
        rule("a", "equals", 1),
        rule("a", "gt", 1),
        rule("a", "in", [1]),
        rule("a", "contains", "x"),
        rule("a", "starts_with", "x"),
        rule("a", "regex", "x"),
    ):
        assert holds({"not": data}, record), data
    assert holds({"not": rule("a", "equals", 1)}, record) == holds(rule("a", "not_equals", 1), record)
    assert holds({"not": rule("a", "in", [1])}, record) == holds(rule("a", "not_in", [1]), record)
    assert holds({"not": rule("a", "contains", "x")}, record) == holds(rule("a", "not_contains", "x"), record)
