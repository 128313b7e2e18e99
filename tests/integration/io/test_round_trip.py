"""Round trips: export a table, import the file into an empty copy of it, find the same rows and values."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import Api
from tests.integration.io.conftest import ITEM, XLSX_TYPE, created, define, download, listed, result, upload

CONTENT_TYPES = {"csv": "text/csv", "xlsx": XLSX_TYPE, "json": "application/json", "jsonl": "application/x-ndjson"}

#: Values chosen to break a naive writer or reader: formula-like text, quotes, line breaks,
#: leading zeros, JSON values of every kind, negative and exact numbers, empty values.
BODIES: list[dict[str, Any]] = [
    {
        "code": "00123",
        "name": "=SUM(A1:A9)",
        "quantity": 7,
        "price": "12345678.91",
        "weight": 0.1,
        "active": True,
        "due": "2024-02-29",
        "seen_at": "2024-01-02T03:04:05Z",
        "kind": "toy",
        "meta": {"nested": {"list": [1, 2.5, "three", None, True]}},
        "contact": "someone@example.com",
    },
    {
        "code": "-5",
        "name": 'line one\nline two, "quoted"; semi\ttab',
        "quantity": 0,
        "price": "-0.01",
        "weight": -1234.5678,
        "active": False,
        "due": "1999-12-31",
        "seen_at": "2024-06-30T23:59:59.250000Z",
        "meta": [1, "=2", {"a": None}],
    },
    {"code": "+44", "name": "'=already quoted", "meta": "plain text"},
    {"code": "@home", "name": "''+two apostrophes", "meta": "=formula text"},
    {"code": "true", "name": "1e5", "meta": -5},
    {"code": "2024-01-01", "name": "  spaced  ", "meta": 3.25},
    {"code": "ünïcødé ✓", "name": "日本語", "meta": True},
    {"code": "empty"},
    {"code": "zero", "quantity": 0, "weight": 0.0, "price": "0.00", "meta": 0},
    {"code": "tab", "name": "\tstarts with a tab", "meta": ""},
]


@pytest.fixture
async def originals(admin: Api, item: Any) -> list[dict[str, Any]]:
    customer = await created(admin, "customer", {"name": "ACME"})
    copy_definition = copy.deepcopy(ITEM)
    copy_definition["name"] = "item_copy"
    await define(admin, copy_definition)
    for index, body in enumerate(BODIES):
        await created(admin, "item", {**body, "customer_id": customer["id"]} if index % 2 == 0 else body)
    return await listed(admin, "item")


@pytest.mark.parametrize("format_", ["json", "jsonl", "csv", "xlsx"])
async def test_an_export_imports_into_an_empty_copy_unchanged(
    admin: Api, originals: list[dict[str, Any]], format_: str
) -> None:
    response = await download(admin, "item", format=format_)
    assert response.status_code == 200, response.text
    name = f"items.{format_}"
    report = result(await upload(admin, "item_copy", name, response.content, CONTENT_TYPES[format_], strict=True))
    assert (report["imported"], report["failed"], report["unknown_headers"]) == (len(BODIES), 0, []), report
    copies = await listed(admin, "item_copy")
    assert len(copies) == len(originals)
    for original, copied in zip(originals, copies, strict=True):
        assert copied == original, f"{format_}: {original['code']!r}"
    # Importing the same file again with the id as key finds every row unchanged.
    again = result(
        await upload(admin, "item_copy", name, response.content, CONTENT_TYPES[format_], mode="upsert", key="id")
    )
    assert (again["unchanged"], again["updated"], again["imported"]) == (len(BODIES), 0, 0), again


@pytest.mark.parametrize("format_", ["json", "jsonl"])
async def test_json_keeps_nulls_and_empty_strings(admin: Api, originals: list[dict[str, Any]], format_: str) -> None:
    """A JSON null is a value, as in a create body: it overrides a default (a CSV cell cannot say null)."""
    await created(admin, "item", {"code": "nulls", "active": None, "kind": None, "quantity": None, "name": ""})
    response = await download(admin, "item", format=format_)
    result(await upload(admin, "item_copy", f"items.{format_}", response.content, CONTENT_TYPES[format_]))
    copied = {r["code"]: r for r in await listed(admin, "item_copy")}["nulls"]
    assert (copied["active"], copied["kind"], copied["quantity"], copied["name"]) == (None, None, None, "")
    assert await listed(admin, "item_copy") == await listed(admin, "item")


@pytest.mark.parametrize("format_", ["csv", "xlsx", "json"])
async def test_owners_and_row_permissions_survive_an_administrators_round_trip(
    admin: Api, alice: Api, item: Any, format_: str
) -> None:
    copy_definition = copy.deepcopy(ITEM)
    copy_definition["name"] = "item_copy"
    await define(admin, copy_definition)
    await created(
        alice, "item", {"code": "A-1", "permission": {"guest": ["peek"], "owner": ["all"], "group": ["read"]}}
    )
    await created(admin, "item", {"code": "Z-1"})
    columns = ["id", "code", "owner_id", "permission"]
    response = await download(admin, "item", format=format_, columns=columns)
    report = result(await upload(admin, "item_copy", f"items.{format_}", response.content, CONTENT_TYPES[format_]))
    assert report["imported"] == 2, report
    originals = [{c: r[c] for c in columns} for r in await listed(admin, "item")]
    copies = [{c: r[c] for c in columns} for r in await listed(admin, "item_copy")]
    assert copies == originals
    assert [r["code"] for r in await listed(alice, "item_copy")] == ["A-1"]
