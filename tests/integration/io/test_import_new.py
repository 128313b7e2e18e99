"""``/action/entity/import_new``: an entity made from a file, its rows imported in one go."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import (
    XLSX_TYPE,
    Probe,
    csv_bytes,
    file_value,
    json_bytes,
    jsonl_bytes,
    listed,
    upload_new,
    xlsx_bytes,
)

IDS = [str(uuid.UUID(int=i + 1)) for i in range(3)]
LONG = "word " * 60


def answer(response: Any, kind: str = "entity") -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return next(d["attributes"] for d in response.json() if d["type"] == kind)


def value_of(response: Any) -> dict[str, Any]:
    """The whole performer value: entity, mapping and import report."""
    entity = answer(response)
    report = next(d["attributes"] for d in response.json() if d["type"] == "import_result")
    return {"entity": entity, "import": report}


async def declared_columns(admin: Api, name: str) -> list[dict[str, Any]]:
    """The columns of entity ``name`` as ``entity_column`` rows, in their order."""
    found = await listed(admin, "entity", filter=json.dumps({"field": "name", "op": "equals", "value": name}))
    assert len(found) == 1, found
    response = await admin.get(
        "/api/entity_column",
        params={"filter": json.dumps({"field": "entity_id", "op": "equals", "value": found[0]["id"]}), "per_page": 100},
    )
    assert response.status_code == 200, response.text
    return sorted(response.json()["data"], key=lambda c: c.get("position", 0))


async def columns_of(admin: Api, name: str) -> dict[str, str]:
    return {c["name"]: c["type"] for c in await declared_columns(admin, name)}


CSV_ROWS = [
    ["Code", "Count", "Unit price", "In stock", "Since", "Seen at", "Contact", "Site", "Ref", "Notes", "Zip", "Empty"],
    [
        "A-1",
        "3",
        "1.5",
        "yes",
        "2024-01-02",
        "2024-01-02T03:04:05Z",
        "a@example.com",
        "https://example.com/a",
        IDS[0],
        LONG,
        "01234",
        "",
    ],
    [
        "A-2",
        "-4",
        "2",
        "no",
        "2024-02-29",
        "2024-02-29 10:00:00+01:00",
        "B@Example.com",
        "http://example.org",
        IDS[1],
        "short",
        "90210",
        "",
    ],
    ["A-3", "", "1e3", "TRUE", "", "", "", "", "", "multi\nline", "00501", ""],
]
EXPECTED = {
    "code": "string",
    "count": "integer",
    "unit_price": "float",
    "in_stock": "boolean",
    "since": "date",
    "seen_at": "datetime",
    "contact": "email",
    "site": "url",
    "ref": "uuid",
    "notes": "text",
    "zip": "string",
    "empty": "string",
}


async def test_a_csv_file_makes_an_entity_with_inferred_types_and_its_rows(admin: Api, probe: Probe) -> None:
    response = await upload_new(admin, "stock.csv", csv_bytes(CSV_ROWS), name="stock")
    value = value_of(response)
    assert value["entity"]["name"] == "stock"
    assert value["import"]["imported"] == 3 and value["import"]["failed"] == 0
    assert await columns_of(admin, "stock") == EXPECTED
    labels = {c["name"]: c.get("label") for c in await declared_columns(admin, "stock")}
    assert labels["unit_price"] == "Unit price" and labels["in_stock"] == "In stock"
    rows = await listed(admin, "stock")
    first, second, third = rows
    assert (first["count"], first["unit_price"], first["in_stock"], first["since"]) == (3, 1.5, True, "2024-01-02")
    assert (first["seen_at"], first["contact"], first["ref"], first["zip"]) == (
        "2024-01-02T03:04:05Z",
        "a@example.com",
        IDS[0],
        "01234",
    )
    assert (second["count"], second["contact"], second["seen_at"]) == (-4, "b@example.com", "2024-02-29T09:00:00Z")
    assert (third["count"], third["unit_price"], third["notes"], third["zip"]) == (None, 1000.0, "multi\nline", "00501")
    assert len([r for r in await probe.rows("audit_log") if r["entity"] == "stock"]) == 3


async def test_json_files_infer_json_columns_and_keep_ids(admin: Api) -> None:
    records = [
        {"id": IDS[0], "name": "one", "tags": ["a", "b"], "size": 1, "ratio": 0.5, "ok": True, "extra": {"k": 1}},
        {"id": IDS[1], "name": "two", "tags": [], "size": 2.0, "ratio": 1, "ok": False, "extra": None},
        {"id": IDS[2], "name": "three", "size": -3, "ratio": 2.25},
    ]
    value_of(await upload_new(admin, "things.json", json_bytes(records), "application/json", name="thing"))
    assert await columns_of(admin, "thing") == {
        "name": "string",
        "tags": "json",
        "size": "integer",
        "ratio": "float",
        "ok": "boolean",
        "extra": "json",
    }
    rows = {r["id"]: r for r in await listed(admin, "thing")}
    assert sorted(rows) == IDS
    assert rows[IDS[0]]["tags"] == ["a", "b"] and rows[IDS[0]]["extra"] == {"k": 1} and rows[IDS[1]]["size"] == 2


async def test_json_values_of_mixed_kinds_still_fit_their_column(admin: Api) -> None:
    records = [
        {"code": "x", "mixed": 1, "flag": True, "when": "2024-01-01"},
        {"code": "y", "mixed": "one", "flag": "yes", "when": 20240101},
        {"code": 5, "mixed": [1], "flag": None, "when": None},
    ]
    value = value_of(await upload_new(admin, "mixed.jsonl", jsonl_bytes(records), name="mixed"))
    assert value["import"]["imported"] == 3, value
    assert await columns_of(admin, "mixed") == {"code": "json", "mixed": "json", "flag": "json", "when": "json"}
    rows = await listed(admin, "mixed", sort="created_at")
    assert [(r["code"], r["mixed"], r["flag"], r["when"]) for r in sorted(rows, key=lambda r: str(r["code"]))] == [
        (5, [1], None, None),
        ("x", 1, True, "2024-01-01"),
        ("y", "one", "yes", 20240101),
    ]


async def test_an_xlsx_sheet_with_typed_cells(admin: Api) -> None:
    rows = [
        ["Name", "Qty", "Price", "Active", "Day", "At"],
        ["a", 1, 1.25, True, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4, 5)],
        ["b", 2, 3, False, dt.date(2024, 1, 3), dt.datetime(2024, 1, 3, 0, 0, 1)],
    ]
    response = await upload_new(admin, "sheet.xlsx", xlsx_bytes({"Data": rows}), XLSX_TYPE, name="sheet_data")
    value_of(response)
    assert await columns_of(admin, "sheet_data") == {
        "name": "string",
        "qty": "integer",
        "price": "float",
        "active": "boolean",
        "day": "date",
        "at": "datetime",
    }
    first, second = sorted(await listed(admin, "sheet_data"), key=lambda r: r["name"])
    assert (first["qty"], first["price"], first["active"], first["day"], first["at"]) == (
        1,
        1.25,
        True,
        "2024-01-02",
        "2024-01-02T03:04:05Z",
    )
    assert (second["qty"], second["price"]) == (2, 3.0)


async def test_awkward_headers_become_valid_distinct_names(admin: Api) -> None:
    data = csv_bytes(
        [["Name", "name", "2nd value", "version", "Prix (€)", "", "a__b"], ["x", "why", "1", "2", "3", "", "z"]]
    )
    value_of(await upload_new(admin, "odd.csv", data, name="odd"))
    assert list(await columns_of(admin, "odd")) == ["name", "name_2", "c_2nd_value", "file_version", "prix", "a_b"]
    (row,) = await listed(admin, "odd")
    assert (row["name"], row["name_2"], row["c_2nd_value"], row["file_version"], row["version"]) == (
        "x",
        "why",
        1,
        2,
        1,
    )


async def test_values_that_look_like_urls_but_are_not_stay_text(admin: Api) -> None:
    data = csv_bytes([["link", "mail"], ["http://[oops", "a@b.c"], ["https://example.com", "x" * 320 + "@b.co"]])
    value = value_of(await upload_new(admin, "links.csv", data, name="links"))
    assert value["import"]["imported"] == 2, value
    assert await columns_of(admin, "links") == {"link": "string", "mail": "text"}


async def test_a_dry_run_shows_the_definition_and_creates_nothing(admin: Api, probe: Probe) -> None:
    unchanged = await probe.unchanged("entity", "entity_column")
    response = await upload_new(admin, "stock.csv", csv_bytes(CSV_ROWS), name="stock", dry_run=True)
    plan = answer(response, "entity_import_plan")
    assert plan["rows"] == 3
    assert {c["name"]: c["type"] for c in plan["definition"]["columns"]} == EXPECTED
    assert plan["mapping"]["Unit price"] == "unit_price"
    await unchanged.check()
    assert_problem(await admin.get("/api/stock"), 404)


@pytest.mark.parametrize("name", ["Stock", "2stock", "api", "a b", "x" * 70, "entity"])
async def test_an_invalid_or_reserved_name_is_refused_and_nothing_is_created(
    admin: Api, probe: Probe, name: str
) -> None:
    unchanged = await probe.unchanged("entity", "entity_column")
    response = await upload_new(admin, "stock.csv", csv_bytes(CSV_ROWS), name=name)
    assert 400 <= response.status_code < 500 and response.status_code != 404, response.text
    assert_problem(response, response.status_code)
    await unchanged.check()


async def test_a_taken_name_is_409_and_the_existing_entity_is_untouched(admin: Api, item: Any, probe: Probe) -> None:
    unchanged = await probe.unchanged("entity", "entity_column", "item")
    for dry_run in (False, True):
        response = await upload_new(admin, "stock.csv", csv_bytes(CSV_ROWS), name="item", dry_run=dry_run)
        assert response.status_code in (400, 409), response.text
        body = assert_problem(response, response.status_code)
        assert "item" in json.dumps(body)
    await unchanged.check()


async def test_users_without_create_on_entity_are_403_and_guests_401(alice: Api, guest: Api, probe: Probe) -> None:
    unchanged = await probe.unchanged("entity", "entity_column")
    assert_problem(await upload_new(alice, "s.csv", csv_bytes(CSV_ROWS), name="stock"), 403, "forbidden")
    assert_problem(await upload_new(alice, "s.csv", csv_bytes(CSV_ROWS), name="stock", dry_run=True), 403, "forbidden")
    assert_problem(await upload_new(guest, "s.csv", csv_bytes(CSV_ROWS), name="stock"), 401, "unauthorized")
    await unchanged.check()


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("s.csv", b"\n", 400),
        ("s.json", b'{"a": 1}', 400),
        ("s.bin", b"abc", 400),
        ("s.csv", b"", 422),
    ],
)
async def test_unreadable_files_create_nothing(admin: Api, probe: Probe, name: str, data: bytes, status: int) -> None:
    unchanged = await probe.unchanged("entity", "entity_column")
    assert_problem(await upload_new(admin, name, data, "application/octet-stream", name="stock"), status)
    await unchanged.check()


async def test_a_file_without_columns_is_422(admin: Api, probe: Probe) -> None:
    unchanged = await probe.unchanged("entity", "entity_column")
    body = assert_problem(await upload_new(admin, "e.json", b"[]", name="stock"), 422)
    assert body["errors"][0]["field"] == "file"
    await unchanged.check()


@pytest.mark.parametrize("overrides", [{"import_max_rows": 2}])
async def test_too_many_rows_is_413_and_creates_nothing(admin: Api, probe: Probe) -> None:
    unchanged = await probe.unchanged("entity", "entity_column")
    assert_problem(await upload_new(admin, "s.csv", csv_bytes(CSV_ROWS), name="stock"), 413, "too-many-rows")
    await unchanged.check()


async def test_import_new_with_the_file_in_json_attributes(admin: Api) -> None:
    attributes = {"file": file_value("stock.csv", csv_bytes(CSV_ROWS)), "name": "stock", "label": "Stock list"}
    value = value_of(await admin.post("/action/entity/import_new", {"attributes": attributes}))
    assert value["entity"]["label"] == "Stock list" and value["import"]["imported"] == 3


async def test_durations_and_numeric_headers_of_a_sheet(admin: Api) -> None:
    rows = [["Task", "Spent", 2024], ["a", dt.timedelta(hours=1, minutes=30), 10], ["b", dt.timedelta(days=1), 20]]
    value = value_of(await upload_new(admin, "times.xlsx", xlsx_bytes({"Data": rows}), XLSX_TYPE, name="times"))
    assert value["import"]["imported"] == 2, value
    assert await columns_of(admin, "times") == {"task": "string", "spent": "string", "c_2024": "integer"}
    stored = sorted(await listed(admin, "times"), key=lambda r: r["task"])
    assert [(r["spent"], r["c_2024"]) for r in stored] == [("1:30:00", 10), ("1 day, 0:00:00", 20)]
