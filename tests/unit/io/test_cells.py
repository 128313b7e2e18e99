"""Cells to values and back: the conversions an import and an export make, and formula neutralisation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from stateyard.entities.types import FieldProblem
from stateyard.io.cells import cell_reader, csv_converter, csv_text, json_cell, neutralise, unneutralise

FORMULA_STARTS = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "=", "-"]


@pytest.mark.parametrize("text", FORMULA_STARTS)
def test_formula_starts_get_an_apostrophe(text: str) -> None:
    assert neutralise(text) == "'" + text
    assert unneutralise(neutralise(text)) == text


@pytest.mark.parametrize("text", ["plain", "", "'quoted", "a=b", " =x", "1-2", "''", "'", "é=", "\nx"])
def test_other_text_is_left_alone(text: str) -> None:
    assert neutralise(text) == text
    assert unneutralise(text) == text


@pytest.mark.parametrize("text", ["'=x", "''=x", "'''-1", "'@a"])
def test_apostrophes_before_a_formula_start_are_escaped_too_so_the_round_trip_is_exact(text: str) -> None:
    escaped = neutralise(text)
    assert escaped == "'" + text
    assert unneutralise(escaped) == text


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("7", 7),
        (" 7 ", 7),
        ("+7", 7),
        ("-0", 0),
        ("3.0", 3),
        ("1e3", 1000),
        ("9223372036854775807", 2**63 - 1),
        ("12345678901234567890", 12345678901234567890),
        (Decimal("4"), 4),
        (5.0, 5.0),
        (True, True),
    ],
)
def test_integer_cells(raw: Any, value: Any) -> None:
    assert cell_reader("integer")(raw) == value


@pytest.mark.parametrize("raw", ["1.5", "1_000", "x", "", "0x10", "1.0000000000000001", "nan", "inf", "1e999999"])
def test_integer_cells_that_are_no_integer(raw: str) -> None:
    with pytest.raises(FieldProblem) as caught:
        cell_reader("integer")(raw)
    assert caught.value.code in ("type", "max", "min")


def test_a_huge_exponent_is_refused_without_building_the_number() -> None:
    with pytest.raises(FieldProblem):
        cell_reader("integer")("1e999999999")


@pytest.mark.parametrize(
    ("raw", "value"), [("1.5", 1.5), ("-2", -2.0), ("1e-3", 0.001), (" 4 ", 4.0), (Decimal("0.5"), 0.5)]
)
def test_float_cells(raw: Any, value: float) -> None:
    assert cell_reader("float")(raw) == value


@pytest.mark.parametrize("raw", ["1_0", "one", "1,5"])
def test_float_cells_that_are_no_number(raw: str) -> None:
    with pytest.raises(FieldProblem):
        cell_reader("float")(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("yes", True),
        ("Y", True),
        ("TRUE", True),
        ("1", True),
        (" on ", True),
        ("no", False),
        ("n", False),
        ("0", False),
        ("Off", False),
        (1, True),
        (0.0, False),
        (False, False),
    ],
)
def test_boolean_cells(raw: Any, value: bool) -> None:
    assert cell_reader("boolean")(raw) is value


@pytest.mark.parametrize("raw", ["maybe", "2", "", "t"])
def test_boolean_cells_that_are_no_boolean(raw: str) -> None:
    with pytest.raises(FieldProblem) as caught:
        cell_reader("boolean")(raw)
    assert caught.value.code == "type"


def test_numbers_that_are_no_boolean_are_left_for_the_column_to_refuse() -> None:
    assert cell_reader("boolean")(2) == 2


def test_date_and_datetime_cells() -> None:
    assert cell_reader("date")(dt.datetime(2024, 1, 2)) == dt.date(2024, 1, 2)
    assert cell_reader("date")("2024-01-02") == "2024-01-02"
    with pytest.raises(FieldProblem):
        cell_reader("date")(dt.datetime(2024, 1, 2, 3, 4))
    with pytest.raises(FieldProblem):
        cell_reader("date")(dt.datetime(2024, 1, 2, tzinfo=dt.UTC))
    assert cell_reader("datetime")(dt.date(2024, 1, 2)) == dt.datetime(2024, 1, 2)
    assert cell_reader("datetime")(dt.datetime(2024, 1, 2, 3)) == dt.datetime(2024, 1, 2, 3)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("00123", "00123"),
        (123.0, "123"),
        (1.5, "1.5"),
        (10**16 * 1.0, "10000000000000000"),
        (True, "true"),
        (Decimal("1.10"), "1.10"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.datetime(2024, 1, 2, 3, 4), "2024-01-02T03:04:00"),
        (dt.time(3, 4), "03:04:00"),
        (dt.timedelta(hours=1, minutes=30), "1:30:00"),
        ("'=x", "=x"),
        (" kept ", " kept "),
    ],
)
def test_text_cells(raw: Any, value: str) -> None:
    for kind in ("string", "text", "enum", "email", "url", "uuid", "decimal", "password", "encrypted"):
        assert cell_reader(kind)(raw) == value


@pytest.mark.parametrize(
    ("raw", "value"),
    [('{"a": [1]}', {"a": [1]}), ("[]", []), ('"text"', "text"), ("5", 5), ("true", True), ("null", None), ("'-5", -5)],
)
def test_json_cells(raw: str, value: Any) -> None:
    assert cell_reader("json")(raw) == value


@pytest.mark.parametrize("raw", ["text", "{a: 1}", "'{", ""])
def test_json_cells_that_are_no_json(raw: str) -> None:
    with pytest.raises(FieldProblem) as caught:
        cell_reader("json")(raw)
    assert caught.value.code == "format"


def test_unknown_kinds_are_taken_as_they_are() -> None:
    marker = object()
    assert cell_reader("no-such-kind")(marker) is marker


@pytest.mark.parametrize("value", [{"a": 1}, [1, "=x"], "=x", "-", "plain", -5, 2.5, True, None, ""])
def test_json_values_survive_a_cell(value: Any) -> None:
    assert cell_reader("json")(json_cell(value)) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("=x", "'=x"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (-1.5, "-1.5"),
        (Decimal("-3.00"), "-3.00"),
        (dt.date(2024, 1, 2), "2024-01-02"),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2024-01-02T03:04:05+00:00"),
        ({"a": [1, None]}, '{"a":[1,null]}'),
        (["-x"], '["-x"]'),
    ],
)
def test_csv_text(value: Any, text: str) -> None:
    assert csv_text(value) == text


def test_csv_converters_by_kind() -> None:
    assert csv_converter("integer") is None and csv_converter("float") is None
    assert csv_converter("decimal")(Decimal("-1.50")) == "-1.50"  # type: ignore[misc]
    assert csv_converter("boolean")(True) == "true"  # type: ignore[misc]
    assert csv_converter("date")(dt.date(2024, 1, 2)) == "2024-01-02"  # type: ignore[misc]
    assert csv_converter("string")("-5") == "'-5"  # type: ignore[misc]
    assert csv_converter("json")("text") == '"text"'  # type: ignore[misc]
    assert csv_converter("json")(-5) == "'-5"  # type: ignore[misc]
