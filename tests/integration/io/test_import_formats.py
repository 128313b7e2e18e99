"""Every file format an import reads, detected or given, and files that are not what they claim (400)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import (
    XLSX_TYPE,
    Probe,
    counts,
    csv_bytes,
    import_json,
    json_bytes,
    jsonl_bytes,
    listed,
    result,
    row_errors,
    upload,
    xlsx_bytes,
)

ROWS = [["code", "name", "quantity"], ["A-1", "Hammer", "3"], ["A-2", "Nail", "40"]]


async def names(api: Api) -> list[tuple[str, str | None, int]]:
    return [(r["code"], r["name"], r["quantity"]) for r in await listed(api, "item")]


# -- CSV ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
async def test_csv_delimiters_are_detected(admin: Api, item: Any, delimiter: str) -> None:
    data = csv_bytes([*ROWS, ["A-3", "Saw, large", "1"]], delimiter=delimiter)
    report = result(await upload(admin, "item", "items.csv", data))
    assert counts(report) == {"rows": 3, "imported": 3, "updated": 0, "unchanged": 0, "failed": 0, "skipped": 0}
    assert report["errors"] == [] and report["unknown_headers"] == []
    assert await names(admin) == [("A-1", "Hammer", 3), ("A-2", "Nail", 40), ("A-3", "Saw, large", 1)]


async def test_csv_with_and_without_a_utf8_bom(admin: Api, item: Any) -> None:
    plain = csv_bytes([["code", "name"], ["A-1", "Crème brûlée"]])
    report = result(await upload(admin, "item", "plain.csv", plain))
    assert report["imported"] == 1 and report["unknown_headers"] == []
    bom = "\ufeff".encode() + csv_bytes([["code", "name"], ["A-2", "Ünïcödé ✓"]])
    report = result(await upload(admin, "item", "bom.csv", bom))
    assert report["imported"] == 1 and report["unknown_headers"] == []
    assert await names(admin) == [("A-1", "Crème brûlée", 0), ("A-2", "Ünïcödé ✓", 0)]


@pytest.mark.parametrize(
    ("encoding", "text"),
    [("cp1252", "Caf\u00e9 \u2013 5 \u20ac"), ("latin-1", "Niño \x81")],
)
async def test_legacy_encodings_are_detected(admin: Api, item: Any, encoding: str, text: str) -> None:
    data = csv_bytes([["code", "name"], ["A-1", text]], encoding=encoding)
    result(await upload(admin, "item", "legacy.csv", data))
    assert await names(admin) == [("A-1", text, 0)]


async def test_a_given_encoding_reads_what_detection_cannot(admin: Api, item: Any, probe: Probe) -> None:
    # ASCII for the first 64 KiB, then Windows-1252: detection says UTF-8, which fails late in the file.
    rows = [["code", "name"], *([f"A-{i}", "plain ascii name, quite long to fill the sample"] for i in range(1500))]
    rows.append(["B-1", "Smörgåsbord"])
    data = csv_bytes(rows, encoding="cp1252")
    assert len(data) > 64 * 1024
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "late.csv", data), 400, "invalid-file")
    assert body["row"] == 1502 and "encoding" in body["detail"]
    await unchanged.check()
    report = result(await upload(admin, "item", "late.csv", data, encoding="cp1252"))
    assert report["imported"] == 1501
    assert (
        await admin.get("/api/item", params={"filter": json.dumps({"field": "code", "op": "equals", "value": "B-1"})})
    ).json()["data"][0]["name"] == "Smörgåsbord"


async def test_a_given_delimiter_wins_over_detection(admin: Api, item: Any) -> None:
    # The header line holds more commas than colons, but the file's delimiter is the colon.
    data = b'code:"name, with commas, many"\nA-1:x\n'
    report = result(
        await upload(admin, "item", "items.txt", data, delimiter=":", mapping={"name, with commas, many": "name"})
    )
    assert report["imported"] == 1
    assert await names(admin) == [("A-1", "x", 0)]


async def test_utf16_with_a_bom_is_read(admin: Api, item: Any) -> None:
    data = "code\tname\r\nA-1\tΩmega\r\n".encode("utf-16")
    result(await upload(admin, "item", "export.txt", data))
    assert await names(admin) == [("A-1", "Ωmega", 0)]


async def test_quoted_cells_blank_lines_and_spreadsheet_row_numbers(admin: Api, item: Any) -> None:
    data = b'code,name,quantity\r\nA-1,"two\nlines, and a ""quote""",1\r\n\r\n,,\r\nA-2,ok,-1\r\nA-3,ok,x\r\n'
    response = await upload(admin, "item", "items.csv", data, on_error="skip")
    report = result(response)
    # Rows as a spreadsheet numbers them: header 1, the multi-line cell is row 2, the blank lines 3 and 4.
    assert row_errors(report) == [(5, "quantity", "min"), (6, "quantity", "type")]
    assert counts(report) == {"rows": 3, "imported": 1, "updated": 0, "unchanged": 0, "failed": 2, "skipped": 0}
    assert await names(admin) == [("A-1", 'two\nlines, and a "quote"', 1)]


async def test_a_row_with_more_cells_than_headers_is_that_rows_error(admin: Api, item: Any, probe: Probe) -> None:
    data = b"code,name\nA-1,x\nA-2,y,surplus\nA-3,z,\n"
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", data), 422, "import-invalid")
    assert row_errors(body) == [(3, None, "cells")]
    await unchanged.check()
    # A trailing empty cell is no surplus value.
    report = result(await upload(admin, "item", "items.csv", data, on_error="skip"))
    assert report["imported"] == 2 and row_errors(report) == [(3, None, "cells")]


async def test_an_empty_csv_file_and_a_header_only_file(admin: Api, item: Any) -> None:
    body = assert_problem(await upload(admin, "item", "empty.csv", b"\n\n"), 400, "invalid-file")
    assert "empty" in body["detail"]
    report = result(await upload(admin, "item", "header.csv", b"code,name\n"))
    assert counts(report) == {"rows": 0, "imported": 0, "updated": 0, "unchanged": 0, "failed": 0, "skipped": 0}


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"delimiter": ";;"}, "delimiter"), ({"delimiter": '"'}, "delimiter"), ({"encoding": "klingon"}, "encoding")],
)
async def test_bad_read_options_are_400(
    admin: Api, item: Any, probe: Probe, fields: dict[str, str], field: str
) -> None:
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", csv_bytes(ROWS), **fields), 400, "invalid-file")
    assert field in body["detail"]
    await unchanged.check()


@pytest.mark.parametrize(
    ("name", "fields"),
    [("items.json", {"delimiter": ";"}), ("items.json", {"encoding": "utf-8"}), ("items.csv", {"sheet": "Data"})],
)
async def test_options_of_another_format_are_400(admin: Api, item: Any, name: str, fields: dict[str, str]) -> None:
    data = csv_bytes(ROWS) if name.endswith(".csv") else json_bytes([{"code": "A-1"}])
    assert_problem(await upload(admin, "item", name, data, **fields), 400, "invalid-file")


# -- XLSX -----------------------------------------------------------------------------------------

TYPED = [
    ["code", "quantity", "price", "weight", "active", "due", "seen_at", "name"],
    ["X-1", 3, 12.5, 0.25, True, dt.date(2024, 2, 29), dt.datetime(2024, 1, 2, 3, 4, 5), 123],
    ["X-2", 4.0, 7, 1, False, dt.datetime(2024, 3, 1), dt.datetime(2024, 1, 2), "00123"],
]


async def test_xlsx_typed_cells_become_typed_values(admin: Api, item: Any) -> None:
    data = xlsx_bytes({"Items": TYPED})
    report = result(await upload(admin, "item", "items.xlsx", data, XLSX_TYPE))
    assert report["imported"] == 2 and report["format"] == "xlsx"
    first, second = await listed(admin, "item")
    assert (first["quantity"], Decimal(first["price"]), first["weight"], first["active"]) == (
        3,
        Decimal("12.5"),
        0.25,
        True,
    )
    assert (first["due"], first["seen_at"], first["name"]) == ("2024-02-29", "2024-01-02T03:04:05Z", "123")
    assert (second["quantity"], Decimal(second["price"]), second["weight"], second["active"]) == (
        4,
        Decimal(7),
        1.0,
        False,
    )
    assert (second["due"], second["seen_at"], second["name"]) == ("2024-03-01", "2024-01-02T00:00:00Z", "00123")


async def test_xlsx_sheet_by_name_and_by_number(admin: Api, item: Any) -> None:
    data = xlsx_bytes(
        {
            "Notes": [["just", "a", "cover sheet"], ["x", "y", "z"]],
            "Stock 2024": [["code", "name"], ["S-1", "by name"]],
            "Third": [["code", "name"], ["T-1", "by number"]],
        }
    )
    result(await upload(admin, "item", "book.xlsx", data, sheet="Stock 2024"))
    result(await upload(admin, "item", "book.xlsx", data, sheet=3))
    result(await import_json(admin, "item", "book.xlsx", data, sheet=2, mode="upsert", key="code"))
    assert await names(admin) == [("S-1", "by name", 0), ("T-1", "by number", 0)]
    # The first sheet by default: its headers match nothing, so its row has no code.
    body = assert_problem(await upload(admin, "item", "book.xlsx", data), 422, "import-invalid")
    assert body["unknown_headers"] == ["just", "a", "cover sheet"]
    assert row_errors(body) == [(2, "code", "required")]


async def test_a_sheet_named_by_a_number_through_a_form_field(admin: Api, item: Any) -> None:
    """A form field cannot say whether "2024" is a position or a name: a number that is no position of the
    file but names one of its sheets means that sheet; a number that is a position means the position."""
    data = xlsx_bytes(
        {
            "Cover": [["just", "a", "cover sheet"], ["x", "y", "z"]],
            "2024": [["code", "name"], ["Y-1", "by year"]],
            "1": [["code", "name"], ["P-1", "named one"]],
        }
    )
    result(await upload(admin, "item", "book.xlsx", data, sheet="2024"))
    assert await names(admin) == [("Y-1", "by year", 0)]
    body = assert_problem(await upload(admin, "item", "book.xlsx", data, sheet="1"), 422, "import-invalid")
    assert body["unknown_headers"] == ["just", "a", "cover sheet"]
    assert row_errors(body) == [(2, "code", "required")]
    assert await names(admin) == [("Y-1", "by year", 0)]


@pytest.mark.parametrize("sheet", ["Missing", 4, 0])
async def test_an_unknown_sheet_is_400_naming_the_sheets(admin: Api, item: Any, probe: Probe, sheet: Any) -> None:
    data = xlsx_bytes({"One": ROWS, "Two": ROWS, "Three": ROWS})
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "book.xlsx", data, sheet=sheet), 400, "invalid-file")
    assert "sheet" in body["detail"]
    await unchanged.check()


async def test_xlsx_row_numbers_are_the_spreadsheets(admin: Api, item: Any) -> None:
    data = xlsx_bytes({"Items": [[None], [None], ["code", "quantity"], ["A-1", 1], [None, None], ["A-2", "many"]]})
    body = assert_problem(await upload(admin, "item", "items.xlsx", data), 422, "import-invalid")
    assert row_errors(body) == [(6, "quantity", "type")]


async def test_xlsx_bad_cells_are_row_errors(admin: Api, item: Any) -> None:
    data = xlsx_bytes(
        {
            "Items": [
                ["code", "quantity", "due", "active"],
                ["A-1", 1.5, dt.datetime(2024, 1, 1, 12, 30), "maybe"],
                ["A-2", 2, dt.date(2024, 1, 1), "yes"],
            ]
        }
    )
    body = assert_problem(await upload(admin, "item", "items.xlsx", data), 422, "import-invalid")
    assert sorted(row_errors(body)) == [(2, "active", "type"), (2, "due", "format"), (2, "quantity", "type")]
    assert (body["failed"], body["skipped"]) == (1, 1)


# -- JSON and JSON Lines --------------------------------------------------------------------------


async def test_json_arrays_keep_their_types(admin: Api, item: Any) -> None:
    records = [
        {
            "code": "J-1",
            "quantity": 2,
            "price": "3.10",
            "active": False,
            "meta": {"tags": ["a", "b"]},
            "due": "2024-05-06",
        },
        {"code": "J-2", "meta": [1, 2], "weight": 1.5, "seen_at": "2024-05-06T07:08:09+02:00"},
    ]
    report = result(await upload(admin, "item", "items.json", json_bytes(records), "application/json"))
    assert report["imported"] == 2 and report["format"] == "json"
    first, second = await listed(admin, "item")
    assert (first["quantity"], first["price"], first["active"], first["meta"], first["due"]) == (
        2,
        "3.10",
        False,
        {"tags": ["a", "b"]},
        "2024-05-06",
    )
    assert (second["meta"], second["weight"], second["seen_at"]) == ([1, 2], 1.5, "2024-05-06T05:08:09Z")


async def test_json_values_are_not_converted_like_cells(admin: Api, item: Any) -> None:
    records = [{"code": "J-1", "quantity": "3"}, {"code": "J-2", "active": "yes"}, {"code": 5}]
    body = assert_problem(await upload(admin, "item", "items.json", json_bytes(records)), 422, "import-invalid")
    assert row_errors(body) == [(1, "quantity", "type"), (2, "active", "type"), (3, "code", "type")]


async def test_json_elements_that_are_not_objects_are_row_errors(admin: Api, item: Any) -> None:
    data = json_bytes([{"code": "J-1"}, [1, 2], "J-3", {"code": "J-4"}])
    report = result(await upload(admin, "item", "items.json", data, on_error="skip"))
    assert row_errors(report) == [(2, None, "type"), (3, None, "type")]
    assert (report["imported"], report["failed"]) == (2, 2)


async def test_json_lines_bad_lines_are_that_rows_error(admin: Api, item: Any, probe: Probe) -> None:
    data = b'{"code": "L-1"}\n\n{"code": "L-3", oops}\n[1]\n{"code": "L-5", "quantity": 5}\n{"code": "L-6"'
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.jsonl", data), 422, "import-invalid")
    assert row_errors(body) == [(3, None, "invalid_json"), (4, None, "type"), (6, None, "invalid_json")]
    assert (body["rows"], body["failed"], body["skipped"]) == (5, 3, 2)
    await unchanged.check()
    report = result(await upload(admin, "item", "items.ndjson", data, on_error="skip"))
    assert (report["imported"], report["failed"], report["format"]) == (2, 3, "jsonl")
    assert await names(admin) == [("L-1", None, 0), ("L-5", None, 5)]


async def test_json_lines_with_a_bom_and_crlf(admin: Api, item: Any) -> None:
    data = "\ufeff".encode() + b'{"code": "L-1"}\r\n{"code": "L-2"}\r\n'
    report = result(await upload(admin, "item", "items.jsonl", data))
    assert report["imported"] == 2


async def test_a_file_in_json_attributes_as_a_data_url(admin: Api, item: Any) -> None:
    import base64

    url = "data:application/x-ndjson;base64," + base64.b64encode(jsonl_bytes([{"code": "D-1"}])).decode()
    response = await admin.post("/action/item/import", {"attributes": {"file": url}})
    assert result(response)["imported"] == 1
    # A data URL has no name: the media type tells the format.
    url = "data:application/json;base64," + base64.b64encode(json_bytes([{"code": "D-2"}])).decode()
    assert result(await admin.post("/action/item/import", {"attributes": {"file": url}}))["format"] == "json"


# -- files that are not what they claim -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type", "fields"),
    [
        ("items.xml", "application/xml", {}),
        ("items", "application/octet-stream", {}),
        ("items.csv", "text/csv", {"format": "xml"}),
        ("items.csv", "text/csv", {"format": "CSV;"}),
    ],
)
async def test_unknown_formats_are_400(
    admin: Api, item: Any, probe: Probe, name: str, content_type: str, fields: dict[str, str]
) -> None:
    unchanged = await probe.unchanged("item")
    body = assert_problem(
        await upload(admin, "item", name, csv_bytes(ROWS), content_type, **fields), 400, "invalid-file"
    )
    assert "format" in body["detail"]
    await unchanged.check()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@pytest.mark.parametrize(
    ("name", "data", "fields", "words"),
    [
        ("items.csv", PNG, {}, "not a text file"),
        ("items.csv", xlsx_bytes({"S": ROWS}), {}, "not a text file"),
        ("items.xlsx", csv_bytes(ROWS), {}, "not an XLSX"),
        ("items.csv", csv_bytes(ROWS), {"format": "xlsx"}, "not an XLSX"),
        ("items.json", b'{"code": "A-1"}', {}, "array"),
        ("items.json", b'{"code": "A-1"}\n{"code": "A-2"}\n', {}, "jsonl"),
        ("items.json", b"code,name\nA-1,x\n", {}, "array"),
        ("items.json", b'[{"code": "A-1"}, {"code": ', {}, "invalid"),
        ("items.json", b'[{"code": "A-1"} {"code": "A-2"}]', {}, "invalid"),
        ("items.json", PNG, {}, "array"),
        ("items.jsonl", PNG, {}, None),
    ],
)
async def test_files_that_are_not_what_they_claim_are_400(
    admin: Api, item: Any, probe: Probe, name: str, data: bytes, fields: dict[str, str], words: str | None
) -> None:
    unchanged = await probe.unchanged("item")
    response = await upload(admin, "item", name, data, **fields)
    if words is None:  # JSON Lines: each undecodable line is that row's error
        body = assert_problem(response, 422, "import-invalid")
        assert body["failed"] >= 1 and body["imported"] == 0
    else:
        body = assert_problem(response, 400, "invalid-file")
        assert words in body["detail"], body["detail"]
    await unchanged.check()


async def test_an_empty_upload_and_a_non_file_are_422(admin: Api, item: Any) -> None:
    body = assert_problem(await upload(admin, "item", "items.csv", b""), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("file", "empty")]
    body = assert_problem(await admin.post("/action/item/import", {"attributes": {"file": "not a file"}}), 422)
    assert body["errors"][0]["field"] == "file"
    body = assert_problem(await admin.post("/action/item/import", {"attributes": {}}), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("file", "required")]


async def test_unknown_inputs_and_unknown_entities(admin: Api, item: Any) -> None:
    body = assert_problem(await upload(admin, "item", "items.csv", csv_bytes(ROWS), colour="red"), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("colour", "unknown")]
    assert_problem(await upload(admin, "nothing", "items.csv", csv_bytes(ROWS)), 404, "not-found")
    assert_problem(await import_json(admin, "item", "items.csv", csv_bytes(ROWS), entity="nothing"), 404, "not-found")


@pytest.mark.parametrize(
    "attributes",
    [
        {"sheet": True},
        {"sheet": 1.5},
        {"mapping": {"code": 5}},
        {"mapping": "code"},
        {"delimiter": 5},
        {"strict": "very"},
        {"dry_run": "no"},
        {"key": [1, 2]},
        {"key": {"a": 1}},
        {"file": {"name": "x.csv", "content": "!!!not base64"}},
        {"file": {"name": "x.csv"}},
        {"file": 5},
        {"file": "data:text/csv;base64,@@@"},
        {"format": 5},
        {"encoding": ["utf-8"]},
    ],
)
async def test_malformed_inputs_are_4xx_never_500(
    admin: Api, item: Any, probe: Probe, attributes: dict[str, Any]
) -> None:
    from tests.integration.io.conftest import file_value

    unchanged = await probe.unchanged("item")
    body = {"file": file_value("items.csv", csv_bytes(ROWS)), **attributes}
    response = await admin.post("/action/item/import", {"attributes": body})
    assert 400 <= response.status_code < 500, response.text
    assert_problem(response, response.status_code)
    await unchanged.check()


@pytest.mark.parametrize(
    "data",
    [
        b'code,name\nA-1,"never closed\nA-2,x\n',
        b"code,name\n" + b"A-0,x\n" * 12000 + b"A-1,\x00nul\n",
        b"\xef\xbb\xbf",
        b"code\n" + b"x" * (5 * 1024 * 1024) + b"\n",
    ],
)
async def test_broken_csv_files_are_4xx_never_500(admin: Api, item: Any, probe: Probe, data: bytes) -> None:
    unchanged = await probe.unchanged("item")
    response = await upload(admin, "item", "items.csv", data)
    assert 400 <= response.status_code < 500, response.text
    assert_problem(response, response.status_code)
    await unchanged.check()


@pytest.mark.parametrize(
    ("data", "row"),
    [(b'code,name\nA-1,x\nA-2,"never closed\nA-3,x\n', 3), (b'code,name\nA-1,"quoted"tail\n', 2)],
)
async def test_malformed_quoting_names_its_row(admin: Api, item: Any, data: bytes, row: int) -> None:
    body = assert_problem(await upload(admin, "item", "items.csv", data), 400, "invalid-file")
    assert body["row"] == row and f"row {row}" in body["detail"]
