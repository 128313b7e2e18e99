"""first_failing_rule(): the rule to name when a guard or outcome condition says no."""

from __future__ import annotations

from typing import Any

from stateyard.expressions.conditions import Rule, first_failing_rule, parse
from tests.unit.expressions.conftest import rule


def culprit(data: Any, record: dict[str, Any], previous: dict[str, Any] | None = None) -> tuple[str, str] | None:
    found = first_failing_rule(parse(data, "guard"), record, previous)
    return None if found is None else (found.field, found.path)


def test_none_when_the_condition_holds() -> None:
    assert culprit(rule("a", "equals", 1), {"a": 1}) is None
    assert culprit({"all": [rule("a", "equals", 1), {"not": rule("b", "is_empty")}]}, {"a": 1, "b": 2}) is None
    assert culprit({"all": []}, {}) is None


def test_a_failing_rule_is_itself() -> None:
    found = first_failing_rule(parse(rule("total", "gt", 100), "guard"), {"total": 50})
    assert found == Rule("total", "gt", 100, "guard")


def test_first_failing_item_of_all() -> None:
    condition = {"all": [rule("a", "equals", 1), rule("b", "equals", 2), rule("c", "equals", 3)]}
    assert culprit(condition, {"a": 1, "b": 0, "c": 0}) == ("b", "guard.all[1]")


def test_any_names_its_first_rule_when_all_fail() -> None:
    condition = {"any": [rule("a", "equals", 1), rule("b", "equals", 2)]}
    assert culprit(condition, {"a": 0, "b": 0}) == ("a", "guard.any[0]")


def test_nested_groups() -> None:
    condition = {"all": [rule("a", "is_not_empty"), {"any": [rule("b", "gt", 5), {"all": [rule("c", "lt", 0)]}]}]}
    assert culprit(condition, {"a": 1, "b": 1, "c": 1}) == ("b", "guard.all[1].any[0]")
    assert culprit(condition, {"a": None, "b": 9}) == ("a", "guard.all[0]")


def test_not_names_the_rule_that_holds() -> None:
    """``not any[a, b]`` fails because of whichever rule is true, not just the first one."""
    condition = {"not": {"any": [rule("a", "equals", 1), rule("b", "equals", 2)]}}
    assert culprit(condition, {"a": 0, "b": 2}) == ("b", "guard.not.any[1]")
    assert culprit(condition, {"a": 1, "b": 2}) == ("a", "guard.not.any[0]")
    assert culprit({"not": rule("a", "is_empty")}, {"a": None}) == ("a", "guard.not")


def test_double_negation_names_the_failing_rule() -> None:
    condition = {"not": {"not": {"all": [rule("a", "equals", 1), rule("b", "equals", 2)]}}}
    assert culprit(condition, {"a": 1, "b": 0}) == ("b", "guard.not.not.all[1]")


def test_not_all_names_a_holding_rule() -> None:
    condition = {"all": [rule("x", "equals", 1), {"not": {"all": [rule("a", "equals", 1), rule("b", "equals", 2)]}}]}
    assert culprit(condition, {"x": 1, "a": 1, "b": 2}) == ("a", "guard.all[1].not.all[0]")


def test_changed_is_judged_against_the_previous_row() -> None:
    condition = {"all": [rule("status", "changed"), rule("total", "gt", 10)]}
    assert culprit(condition, {"status": "paid", "total": 20}, {"status": "new"}) is None
    assert culprit(condition, {"status": "new", "total": 20}, {"status": "new"}) == ("status", "guard.all[0]")
    assert culprit(condition, {"status": "paid", "total": 5}, {"status": "new"}) == ("total", "guard.all[1]")
