"""Column types guessed from values: the most specific type every value fits, and only if rows will fit it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from stateyard.io.errors import RecordError
from stateyard.io.infer import ColumnGuess, Inference, column_names


def guess(values: list[Any], *, typed: bool = False) -> str:
    column = ColumnGuess("h", typed=typed)
    for value in values:
        column.see(value)
    return column.type()


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (["yes", "No", "TRUE", "off"], "boolean"),
        (["1", "0", "1"], "integer"),
        (["1", "-2", "+3", "", None], "integer"),
        (["1", "2.5", "1e3"], "float"),
        (["9223372036854775808"], "float"),
        (["2024-01-02", "2024-02-29"], "date"),
        (["2024-01-02", "2024-01-02T03:04:05Z"], "datetime"),
        (["2024-01-02 03:04", "2024-01-02T03:04:05+01:00"], "datetime"),
        (["0190c6d8-0000-7000-8000-000000000000"], "uuid"),
        (["a@example.com", "B@x.org"], "email"),
        (["https://example.com/a?b=c", "http://x.org"], "url"),
        (["abc", "1"], "string"),
        (["x" * 256], "text"),
        (["two\nlines", "short"], "text"),
        ([], "string"),
        (["", None], "string"),
        (["01234", "90210"], "string"),
        (["007"], "string"),
        (["0", "0.5", "-0.25"], "float"),
        (["1_000"], "string"),
        (["http://[oops"], "string"),
        (["a@b.c" + "x" * 320], "text"),
        (["2024-02-30"], "string"),
        (["y", "n"], "boolean"),
    ],
)
def test_text_values(values: list[Any], kind: str) -> None:
    assert guess(values) == kind


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([1, 2.0], "integer"),
        ([1.5, 2], "float"),
        ([2**63], "float"),
        ([True, False], "boolean"),
        ([dt.date(2024, 1, 2), dt.datetime(2024, 1, 3)], "date"),
        ([dt.datetime(2024, 1, 3, 4, 5)], "datetime"),
        ([1, "abc"], "string"),
        ([True, "maybe"], "string"),
        ([dt.time(3, 4)], "string"),
        ([dt.timedelta(hours=1)], "string"),
        ([{"a": 1}, "x"], "json"),
    ],
)
def test_spreadsheet_cells(values: list[Any], kind: str) -> None:
    assert guess(values) == kind


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([1, 2], "integer"),
        ([1, 2.5], "float"),
        ([True], "boolean"),
        (["yes", "no"], "string"),
        (["1", "2"], "string"),
        (["2024-01-02"], "date"),
        (["a@example.com"], "email"),
        ([1, "one"], "json"),
        ([True, "yes"], "json"),
        ([[1], {"a": 1}], "json"),
        (["", "x"], "string"),
        ([None, 3], "integer"),
    ],
)
def test_json_values_only_fit_types_that_take_them_as_they_are(values: list[Any], kind: str) -> None:
    assert guess(values, typed=True) == kind


def test_column_names_are_valid_and_distinct() -> None:
    names = column_names(["Unit price", "unit_price", "2nd", "", "version", "Prix (€)", "a" * 80, "ID"])
    assert list(names.values()) == [
        "unit_price",
        "unit_price_2",
        "c_2nd",
        "column_4",
        "file_version",
        "prix",
        "a" * 60,
        "file_id",
    ]


def test_an_inference_over_records() -> None:
    inference = Inference(["Name", "Qty", "id"])
    for record in (
        {"Name": "a", "Qty": "1", "id": "0190c6d8-0000-7000-8000-000000000001"},
        RecordError("type", "not an object"),
        {"Name": "b", "Qty": "2", "id": "0190c6d8-0000-7000-8000-000000000002", "Extra": "2024-01-01"},
    ):
        inference.see(record)
    columns, mapping = inference.columns()
    assert inference.rows == 2
    assert [(c.name, c.type, c.label) for c in columns] == [
        ("name", "string", "Name"),
        ("qty", "integer", "Qty"),
        ("extra", "date", "Extra"),
    ]
    assert mapping == {"id": "id", "Name": "name", "Qty": "qty", "Extra": "extra"}


def test_an_id_header_that_is_not_all_uuids_becomes_a_column() -> None:
    inference = Inference(["id"])
    inference.see({"id": "7"})
    columns, mapping = inference.columns()
    assert [(c.name, c.type) for c in columns] == [("file_id", "integer")] and mapping == {"id": "file_id"}
