"""Readers: formats, encodings and delimiters detected, records with the row numbers a person sees."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
from typing import Any

import openpyxl
import pytest

from stateyard.io.errors import RecordError, SourceError
from stateyard.io.readers import (
    MAX_CELL_CHARS,
    SAMPLE_BYTES,
    ReadOptions,
    Source,
    detect_delimiter,
    detect_encoding,
    detect_format,
    open_source,
)
from stateyard.io.xlsx_guard import XlsxLimits

LIMITS = XlsxLimits(max_uncompressed_bytes=64 * 1024 * 1024, max_ratio=100.0)


def source(kind: Any, data: bytes, **options: Any) -> Source:
    return open_source(kind, io.BytesIO(data), len(data), ReadOptions(**options), LIMITS)


def records(kind: Any, data: bytes, **options: Any) -> list[tuple[int, Any]]:
    return list(source(kind, data, **options).records())


def xlsx(rows: list[list[Any]], *, title: str = "S", more: dict[str, list[list[Any]]] | None = None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for name, extra in (more or {}).items():
        other = book.create_sheet(name)
        for row in extra:
            other.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content_type", "given", "kind"),
    [
        ("a.CSV", None, None, "csv"),
        ("a.tsv", None, None, "csv"),
        ("a.txt", None, None, "csv"),
        ("a.xlsx", None, None, "xlsx"),
        ("a.json", None, None, "json"),
        ("a.jsonl", None, None, "jsonl"),
        ("a.ndjson", None, None, "jsonl"),
        ("upload", "text/csv; charset=utf-8", None, "csv"),
        ("upload", "application/x-ndjson", None, "jsonl"),
        ("a.csv", "application/json", "json", "json"),
        ("a.json", None, None, "json"),
    ],
)
def test_formats_are_given_or_told_by_the_name_or_media_type(
    name: str, content_type: str | None, given: str | None, kind: str
) -> None:
    assert detect_format(name, content_type, given) == kind


@pytest.mark.parametrize(
    ("name", "content_type", "given"), [("a.xml", None, None), ("a", "application/pdf", None), ("a.csv", None, "xls")]
)
def test_unknown_formats(name: str, content_type: str | None, given: str | None) -> None:
    with pytest.raises(SourceError) as caught:
        detect_format(name, content_type, given)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("sample", "encoding"),
    [
        (codecs.BOM_UTF8 + b"a,b", "utf-8-sig"),
        ("a,b".encode("utf-16"), "utf-16"),
        ("é,ü".encode(), "utf-8"),
        ("é,€".encode("cp1252"), "cp1252"),
        (b"\x81,\x8d", "latin-1"),
        (b"plain", "utf-8"),
        ("aé".encode()[:-1], "utf-8"),  # a character cut by the sample's end
    ],
)
def test_encodings(sample: bytes, encoding: str) -> None:
    assert detect_encoding(sample) == encoding


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [
        ("a,b,c", ","),
        ("a;b;c", ";"),
        ("a\tb", "\t"),
        ("a|b|c", "|"),
        ("a", ","),
        ("a;b,c", ","),
        ("a;b;c,d", ";"),
        ("", ","),
    ],
)
def test_delimiters(line: str, delimiter: str) -> None:
    assert detect_delimiter(line) == delimiter


def test_csv_records_carry_spreadsheet_row_numbers() -> None:
    data = b'\n code , name \n1,a\n\n,\n2,"b\nc"\n3,d\n'
    reader = source("csv", data)
    assert reader.headers == ["code", "name"]
    assert list(reader.records()) == [
        (3, {"code": "1", "name": "a"}),
        (6, {"code": "2", "name": "b\nc"}),
        (7, {"code": "3", "name": "d"}),
    ]


def test_short_rows_and_long_rows() -> None:
    found = records("csv", b"a,b\n1\n1,2,\n1,2,3\n")
    assert found[0] == (2, {"a": "1"}) and found[1] == (3, {"a": "1", "b": "2"})
    row, error = found[2]
    assert row == 4 and isinstance(error, RecordError) and error.code == "cells"


def test_long_cells_are_read_up_to_the_limit_and_a_longer_one_is_that_rows_error() -> None:
    long = "x" * (200 * 1024)
    too_long = "y" * (MAX_CELL_CHARS + 1)
    found = records("csv", f"a,b\n1,{long}\n2,{too_long}\n3,z\n".encode())
    assert found[0] == (2, {"a": "1", "b": long})
    row, error = found[1]
    assert row == 3 and isinstance(error, RecordError) and error.code == "max_length"
    assert found[2] == (4, {"a": "3", "b": "z"})


@pytest.mark.parametrize("data", [b"\x00\x01\x02PK", b"a,b\n1,\x00\n"])
def test_binary_data_is_not_csv(data: bytes) -> None:
    with pytest.raises(SourceError) as caught:
        source("csv", data)
    assert "not a text file" in caught.value.message


def test_an_undecodable_row_is_named_exactly_even_after_the_sample() -> None:
    lines = [b"code,name"] + [b"A-%d,ascii only" % i for i in range(6000)] + ["B,Smörgås".encode("cp1252"), b"C,x"]
    data = b"\n".join(lines) + b"\n"
    assert len(data) > SAMPLE_BYTES
    with pytest.raises(SourceError) as caught:
        records("csv", data)
    assert caught.value.row == 6002 and "row 6002" in caught.value.message
    assert records("csv", data, encoding="cp1252")[-2] == (6002, {"code": "B", "name": "Smörgås"})


def test_a_given_delimiter_and_encoding() -> None:
    data = "a:b\né:1\n".encode("latin-1")
    assert records("csv", data, delimiter=":", encoding="latin-1") == [(2, {"a": "é", "b": "1"})]


@pytest.mark.parametrize(
    ("options", "words"),
    [({"delimiter": ""}, "delimiter"), ({"delimiter": "\n"}, "delimiter"), ({"encoding": "nope"}, "encoding")],
)
def test_bad_csv_options(options: dict[str, str], words: str) -> None:
    with pytest.raises(SourceError) as caught:
        source("csv", b"a\n1\n", **options)
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("kind", "options"),
    [("json", {"delimiter": ","}), ("xlsx", {"encoding": "utf-8"}), ("jsonl", {"sheet": 1}), ("csv", {"sheet": "S"})],
)
def test_options_of_other_formats(kind: Any, options: dict[str, Any]) -> None:
    with pytest.raises(SourceError):
        source(kind, b"[]", **options)


def test_an_empty_csv() -> None:
    with pytest.raises(SourceError) as caught:
        source("csv", b"\r\n ,  \n")
    assert "empty" in caught.value.message


def test_xlsx_typed_cells_and_row_numbers() -> None:
    data = xlsx(
        [
            [None],
            ["code", "n", "when", "ok"],
            ["A", 1, dt.datetime(2024, 1, 2), True],
            [None],
            ["B", 2.5, dt.date(2024, 1, 3), False],
        ]
    )
    reader = source("xlsx", data)
    assert reader.headers == ["code", "n", "when", "ok"]
    found = list(reader.records())
    assert [row for row, _ in found] == [3, 5]
    first = found[0][1]
    assert first["code"] == "A" and first["n"] == 1 and first["ok"] is True
    assert first["when"] in (dt.datetime(2024, 1, 2), dt.date(2024, 1, 2))
    assert found[1][1]["n"] == 2.5


def test_xlsx_sheets_by_name_and_number() -> None:
    data = xlsx([["a"], [1]], title="First", more={"Second": [["b"], [2]]})
    assert source("xlsx", data).headers == ["a"]
    assert source("xlsx", data, sheet="Second").headers == ["b"]
    assert source("xlsx", data, sheet=2).headers == ["b"]
    named = xlsx([["a"], [1]], title="First", more={"2024": [["y"], [2]]})
    assert source("xlsx", named, sheet=2024).headers == ["y"]
    for wrong in ("Third", 3, 0, -1):
        with pytest.raises(SourceError):
            source("xlsx", data, sheet=wrong)


def test_an_empty_sheet() -> None:
    with pytest.raises(SourceError) as caught:
        source("xlsx", xlsx([]))
    assert "empty" in caught.value.message


def test_xlsx_values_beyond_the_headers_fall_under_an_unnamed_header() -> None:
    # The sheet's width includes the value: the header row reads as a named and an unnamed column.
    reader = source("xlsx", xlsx([["a"], [1, 2], [3]]))
    assert reader.headers == ["a", ""]
    assert list(reader.records()) == [(2, {"a": 1, "": 2}), (3, {"a": 3, "": None})]


def test_json_arrays_stream_objects() -> None:
    data = codecs.BOM_UTF8 + b'  \n[{"a": 1.5, "b": {"c": [1]}}, 2, {"a": null}]'
    assert source("json", data).headers is None
    found = records("json", data)
    assert found[0] == (1, {"a": 1.5, "b": {"c": [1]}})
    assert isinstance(found[1][1], RecordError) and found[1][0] == 2
    assert found[2] == (3, {"a": None})


@pytest.mark.parametrize(("data", "words"), [(b'{"a": 1}', "jsonl"), (b"", "array"), (b"a,b", "array")])
def test_json_that_is_no_array(data: bytes, words: str) -> None:
    with pytest.raises(SourceError) as caught:
        source("json", data)
    assert words in caught.value.message


def test_json_broken_midway_names_the_object_after_which_it_broke() -> None:
    with pytest.raises(SourceError) as caught:
        records("json", json.dumps([{"a": 1}, {"a": 2}]).encode()[:-5])
    assert caught.value.row is not None and caught.value.row >= 2


def test_json_lines() -> None:
    data = codecs.BOM_UTF8 + b'{"a": 1}\r\n\n  \n{oops}\n[1]\n{"a": 2}'
    found = records("jsonl", data)
    assert found[0] == (1, {"a": 1})
    assert isinstance(found[1][1], RecordError) and found[1][0] == 4 and found[1][1].code == "invalid_json"
    assert isinstance(found[2][1], RecordError) and found[2][0] == 5 and found[2][1].code == "type"
    assert found[3] == (6, {"a": 2})


def test_xlsx_headers_read_as_the_sheet_shows_them() -> None:
    reader = source("xlsx", xlsx([[2024, 1.5, True, " code "], [1, 2, 3, "A"]]))
    assert reader.headers == ["2024", "1.5", "True", "code"]
