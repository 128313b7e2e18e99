"""bind(): rules checked against an entity's fields, values coerced to the fields' types."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from stateyard.expressions.conditions import AllOf, ConditionError, FieldSpec, Not, Rule, bind, parse
from tests.unit.expressions.conftest import rule


def bound(data: Any, fields: dict[str, FieldSpec], **kw: Any) -> Any:
    return bind(parse(data), fields, **kw)


def refusal(data: Any, fields: dict[str, FieldSpec], **kw: Any) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        bound(data, fields, **kw)
    return caught.value


def test_filterable_fields(fields: dict[str, FieldSpec]) -> None:
    row = {"id", "owner_id", "version", "created_at", "updated_at"}
    declared = {"title", "kind", "qty", "weight", "price", "active", "due", "seen_at", "ref", "parent_id"}
    assert set(fields) == row | declared
    assert {n: fields[n].kind for n in ("title", "kind", "qty", "price", "active", "due", "ref", "parent_id")} == {
        "title": "text",
        "kind": "text",
        "qty": "number",
        "price": "number",
        "active": "boolean",
        "due": "temporal",
        "ref": "id",
        "parent_id": "id",
    }


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("qty", 5, 5),
        ("qty", 5.0, 5),
        ("weight", 2, 2.0),
        ("price", "12.50", Decimal("12.50")),
        ("price", 3, Decimal(3)),
        ("active", False, False),
        ("due", "2026-03-01", dt.date(2026, 3, 1)),
        ("seen_at", "2026-03-01T12:00:00+02:00", dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)),
        ("seen_at", "2026-03-01T12:00:00", dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)),
        ("ref", "00000000-0000-4000-8000-000000000001", uuid.UUID("00000000-0000-4000-8000-000000000001")),
        ("id", "00000000-0000-4000-8000-000000000001", uuid.UUID("00000000-0000-4000-8000-000000000001")),
        ("created_at", "2026-01-01T00:00:00Z", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)),
        ("version", 2, 2),
        ("title", "x", "x"),
        ("qty", None, None),
    ],
)
def test_value_coerced(fields: dict[str, FieldSpec], field: str, value: Any, expected: Any) -> None:
    result = bound(rule(field, "equals", value), fields)
    assert result.value == expected and type(result.value) is type(expected)


def test_list_values_coerced_nulls_kept(fields: dict[str, FieldSpec]) -> None:
    result = bound(rule("due", "in", ["2026-01-01", None]), fields)
    assert result.value == [dt.date(2026, 1, 1), None]


def test_groups_bound_throughout(fields: dict[str, FieldSpec]) -> None:
    result = bound({"all": [{"not": rule("qty", "gt", 3)}, rule("price", "lt", "1")]}, fields)
    assert isinstance(result, AllOf) and isinstance(result.items[0], Not)
    assert result.items[1] == Rule("price", "lt", Decimal(1), "filter.all[1]")


def test_text_operator_values_left_as_given(fields: dict[str, FieldSpec]) -> None:
    assert bound(rule("title", "contains", "%_"), fields).value == "%_"


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        (rule("colour", "equals", 1), "filter.field", "unknown field 'colour'"),
        (rule("meta", "equals", 1), "filter.field", "unknown field 'meta'"),
        (rule("pin", "is_empty"), "filter.field", "unknown field 'pin'"),
        (rule("secret", "is_empty"), "filter.field", "unknown field 'secret'"),
        (rule("permission", "equals", 1), "filter.field", "unknown field 'permission'"),
        (rule("parent", "is_empty"), "filter.field", "unknown field 'parent'"),
        (rule("qty", "equals", "abc"), "filter.value", "not a valid value for 'qty'"),
        (rule("qty", "equals", True), "filter.value", "not a valid value for 'qty'"),
        (rule("qty", "equals", 1.5), "filter.value", "not a valid value for 'qty'"),
        (rule("qty", "equals", 2**63), "filter.value", "not a valid value for 'qty'"),
        (rule("weight", "gt", "1"), "filter.value", "not a valid value for 'weight'"),
        (rule("price", "gt", "1,5"), "filter.value", "not a valid value for 'price'"),
        (rule("price", "gt", "Infinity"), "filter.value", "not a valid value for 'price'"),
        (rule("active", "equals", 1), "filter.value", "not a valid value for 'active'"),
        (rule("active", "equals", "true"), "filter.value", "not a valid value for 'active'"),
        (rule("due", "lt", "2026-02-30"), "filter.value", "not a valid value for 'due'"),
        (rule("seen_at", "lt", "noon"), "filter.value", "not a valid value for 'seen_at'"),
        (rule("ref", "equals", "abc"), "filter.value", "not a valid value for 'ref'"),
        (rule("title", "equals", 5), "filter.value", "not a valid value for 'title'"),
        (rule("qty", "in", [1, "two"]), "filter.value", "not a valid value for 'qty'"),
        (rule("qty", "contains", "1"), "filter.op", "'contains' applies to text fields"),
        (rule("due", "starts_with", "2026"), "filter.op", "applies to text fields"),
        (rule("ref", "regex", "^0"), "filter.op", "applies to text fields"),
        (rule("active", "gt", True), "filter.op", "cannot order boolean"),
        (rule("ref", "lte", "00000000-0000-4000-8000-000000000001"), "filter.op", "cannot order id"),
        (rule("qty", "changed"), "filter.op", "'changed' applies only"),
        ({"any": [rule("qty", "is_empty"), rule("nope", "is_empty")]}, "filter.any[1].field", "unknown field"),
    ],
)
def test_refusals(fields: dict[str, FieldSpec], data: Any, path: str, message: str) -> None:
    error = refusal(data, fields)
    assert error.path == path and message in error.message, (error.path, error.message)


def test_unknown_field_lists_known_ones(fields: dict[str, FieldSpec]) -> None:
    assert "known: active, created_at, due" in refusal(rule("x", "is_empty"), fields).message


def test_changed_allowed_where_previous_exists(fields: dict[str, FieldSpec]) -> None:
    assert bound(rule("qty", "changed"), fields, allow_changed=True).op == "changed"


def test_json_fields_take_only_equality_and_emptiness() -> None:
    fields = {"meta": FieldSpec("meta", "json")}
    for op, value in (("equals", 1), ("not_equals", 1), ("is_empty", None), ("is_not_empty", None)):
        data = rule("meta", op, value) if value is not None else rule("meta", op)
        assert bind(parse(data), fields).op == op  # type: ignore[union-attr]
    for data in (rule("meta", "in", [1]), rule("meta", "contains", "a"), rule("meta", "gt", 1)):
        with pytest.raises(ConditionError):
            bind(parse(data), fields)


def test_field_without_coercion_keeps_value() -> None:
    fields = {"n": FieldSpec("n", "number")}
    assert bind(parse(rule("n", "equals", "raw")), fields).value == "raw"  # type: ignore[union-attr]
