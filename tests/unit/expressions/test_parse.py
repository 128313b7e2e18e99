"""parse(): the JSON shape of conditions, refused with the path of the first bad spot."""

from __future__ import annotations

from typing import Any

import pytest

from stateyard.expressions.conditions import (
    MAX_DEPTH,
    MAX_LIST_VALUES,
    MAX_REGEX_LENGTH,
    MAX_RULES,
    AllOf,
    AnyOf,
    ConditionError,
    Not,
    Rule,
    parse,
    rules,
)


def rule(field: str, op: str, *value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, **({"value": value[0]} if value else {})}


def refusal(data: Any, where: str = "filter") -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse(data, where)
    return caught.value


def test_rule() -> None:
    assert parse(rule("total", "gt", 100)) == Rule("total", "gt", 100, "filter")


def test_groups_keep_order_and_paths() -> None:
    parsed = parse({"all": [rule("a", "equals", 1), {"any": [rule("b", "is_empty"), {"not": rule("c", "in", [1])}]}]})
    assert isinstance(parsed, AllOf)
    first, second = parsed.items
    assert first == Rule("a", "equals", 1, "filter.all[0]")
    assert isinstance(second, AnyOf) and isinstance(second.items[1], Not)
    assert [r.path for r in rules(parsed)] == ["filter.all[0]", "filter.all[1].any[0]", "filter.all[1].any[1].not"]


def test_empty_groups_are_allowed() -> None:
    assert parse({"all": []}) == AllOf(())
    assert parse({"any": []}) == AnyOf(())


def test_root_name_is_the_callers() -> None:
    assert refusal(rule("a", "nope", 1), where="guard").path == "guard.op"


def test_null_value_is_a_value() -> None:
    assert parse(rule("a", "equals", None)).value is None  # type: ignore[union-attr]


def test_every_operator_is_known() -> None:
    ops = ["equals", "not_equals", "gt", "gte", "lt", "lte", "contains", "not_contains", "starts_with"]
    ops += ["ends_with", "is_empty", "is_not_empty", "in", "not_in", "regex", "changed"]
    for op in ops:
        value: tuple[Any, ...] = ()
        if op in ("in", "not_in"):
            value = ([1],)
        elif op not in ("is_empty", "is_not_empty", "changed"):
            value = ("x",)
        assert parse(rule("a", op, *value)).op == op  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ([], "filter", "expected an object"),
        ("a", "filter", "expected an object"),
        (None, "filter", "expected an object"),
        ({}, "filter.field", "expected a field name"),
        ({"field": "", "op": "equals", "value": 1}, "filter.field", "expected a field name"),
        ({"field": 5, "op": "equals", "value": 1}, "filter.field", "expected a field name"),
        ({"field": "a", "value": 1}, "filter.op", "expected an operator name"),
        ({"field": "a", "op": 3, "value": 1}, "filter.op", "expected an operator name"),
        (rule("a", "EQUALS", 1), "filter.op", "unknown operator 'EQUALS'"),
        (rule("a", "eq", 1), "filter.op", "unknown operator 'eq'"),
        ({"field": "a", "op": "equals", "value": 1, "x": 1}, "filter", "unknown key(s) ['x']"),
        (rule("a", "equals"), "filter.value", "'equals' needs a value"),
        (rule("a", "gt"), "filter.value", "'gt' needs a value"),
        (rule("a", "equals", [1]), "filter.value", "plain value, not list"),
        (rule("a", "lt", {"x": 1}), "filter.value", "plain value, not dict"),
        (rule("a", "is_empty", None), "filter.value", "'is_empty' takes no value"),
        (rule("a", "changed", 1), "filter.value", "'changed' takes no value"),
        (rule("a", "in", 1), "filter.value", "needs an array"),
        (rule("a", "in"), "filter.value", "needs an array"),
        (rule("a", "not_in", "1"), "filter.value", "needs an array"),
        (rule("a", "in", [1, [2]]), "filter.value", "plain values"),
        (rule("a", "in", [{"x": 1}]), "filter.value", "plain values"),
        (rule("a", "in", list(range(MAX_LIST_VALUES + 1))), "filter.value", f"at most {MAX_LIST_VALUES}"),
        (rule("a", "contains", 5), "filter.value", "'contains' needs a string"),
        (rule("a", "starts_with", None), "filter.value", "needs a string"),
        (rule("a", "regex", 1), "filter.value", "needs a string"),
        (rule("a", "regex", "x" * (MAX_REGEX_LENGTH + 1)), "filter.value", f"at most {MAX_REGEX_LENGTH}"),
        (rule("a", "regex", "(open"), "filter.value", "invalid regular expression"),
        (rule("a", "regex", "*"), "filter.value", "invalid regular expression"),
        ({"all": {}}, "filter.all", "expected an array"),
        ({"any": "x"}, "filter.any", "expected an array"),
        ({"all": [], "field": "a"}, "filter", "takes no other keys"),
        ({"any": [], "all": []}, "filter", "takes no other keys"),
        ({"not": rule("a", "is_empty"), "any": []}, "filter", "takes no other keys"),
        ({"not": []}, "filter.not", "expected an object"),
        ({"all": [rule("a", "is_empty"), 7]}, "filter.all[1]", "expected an object"),
        ({"any": [{"not": rule("a", "bad", 1)}]}, "filter.any[0].not.op", "unknown operator"),
    ],
)
def test_refusals(data: Any, path: str, message: str) -> None:
    error = refusal(data)
    assert (error.path, message in error.message) == (path, True), error.message
    assert str(error).startswith(f"{path}: ")


def test_longest_regex_is_accepted() -> None:
    assert parse(rule("a", "regex", "x" * MAX_REGEX_LENGTH)).op == "regex"  # type: ignore[union-attr]


def test_depth_limit() -> None:
    data: Any = rule("a", "is_empty")
    for _ in range(MAX_DEPTH):
        data = {"not": data}
    parse(data)
    assert "deeper than" in refusal({"not": data}).message


def test_rule_limit_counts_across_groups() -> None:
    half = [rule("a", "is_empty")] * (MAX_RULES // 2)
    parse({"all": [{"any": half}, {"any": half}]})
    error = refusal({"all": [{"any": half}, {"any": [*half, rule("a", "is_empty")]}]})
    assert error.path == f"filter.all[1].any[{MAX_RULES // 2}]" and "more than" in error.message
