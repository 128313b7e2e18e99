"""Upserts: a key finds the stored row to update; a re-run of the same file changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import (
    Probe,
    audits,
    counts,
    created,
    csv_bytes,
    define,
    json_bytes,
    listed,
    result,
    row_errors,
    upload,
)

SLOT = {
    "name": "slot",
    "columns": [
        {"name": "room", "type": "string", "required": True},
        {"name": "hour", "type": "integer", "required": True},
        {"name": "booked_by", "type": "string"},
        {"name": "pin", "type": "password"},
        {"name": "note", "type": "encrypted"},
        {"name": "extra", "type": "json"},
    ],
    "indexes": [{"columns": ["room", "hour"], "unique": True}],
}


async def test_an_upsert_updates_found_rows_and_inserts_the_others(admin: Api, item: Any, probe: Probe) -> None:
    old = await created(admin, "item", {"code": "A-1", "name": "old", "quantity": 1, "kind": "toy"})
    data = csv_bytes([["code", "name", "quantity"], ["A-1", "new", "2"], ["A-2", "fresh", "3"]])
    report = result(await upload(admin, "item", "items.csv", data, mode="upsert", key="code"))
    assert counts(report) == {"rows": 2, "imported": 1, "updated": 1, "unchanged": 0, "failed": 0, "skipped": 0}
    first, second = await listed(admin, "item")
    assert (first["id"], first["name"], first["quantity"], first["version"]) == (old["id"], "new", 2, 2)
    # Cells the file leaves empty, and columns it does not have, keep what is stored.
    assert first["kind"] == "toy"
    assert (second["name"], second["quantity"], second["version"]) == ("fresh", 3, 1)
    records = sorted(await audits(probe, "item"), key=lambda r: (r["operation"], str(r["row_id"])))
    assert [(r["operation"], str(r["row_id"])) for r in records] == [
        ("create", old["id"]),
        ("create", second["id"]),
        ("update", old["id"]),
    ]
    update = records[2]
    assert update["before"] == {"name": "old", "quantity": 1} and update["after"] == {"name": "new", "quantity": 2}


async def test_running_the_same_file_again_changes_nothing(admin: Api, item: Any, probe: Probe) -> None:
    customer = await created(admin, "customer", {"name": "ACME"})
    data = csv_bytes(
        [
            [
                "code",
                "name",
                "quantity",
                "price",
                "weight",
                "active",
                "due",
                "seen_at",
                "meta",
                "contact",
                "customer_id",
            ],
            [
                "A-1",
                "Hammer",
                "1",
                "1.50",
                "0.1",
                "yes",
                "2024-01-02",
                "2024-01-02T03:04:05.123456Z",
                '{"a": 1}',
                "A@B.CO",
                customer["id"],
            ],
            ["A-2", "=SUM(A1)", "2", "", "", "no", "", "2024-01-02 03:04:05+01:00", "[1, 2]", "", ""],
        ]
    )
    first = result(await upload(admin, "item", "items.csv", data, mode="upsert", key="code"))
    assert first["imported"] == 2
    unchanged = await probe.unchanged("item")
    again = result(await upload(admin, "item", "items.csv", data, mode="upsert", key="code"))
    assert counts(again) == {"rows": 2, "imported": 0, "updated": 0, "unchanged": 2, "failed": 0, "skipped": 0}
    await unchanged.check()


async def test_a_composite_key_and_secret_columns(admin: Api, probe: Probe) -> None:
    await define(admin, SLOT)
    await created(admin, "slot", {"room": "A", "hour": 9, "booked_by": "ann", "pin": "12345678", "note": "n"})
    await created(admin, "slot", {"room": "A", "hour": 10, "booked_by": "bob"})
    data = csv_bytes(
        [
            ["room", "hour", "booked_by", "pin", "note", "extra"],
            ["A", "9", "ann", "12345678", "n", ""],
            ["A", "10", "carl", "", "", '{"x": 1}'],
            ["B", "9", "dan", "", "", ""],
        ]
    )
    report = result(await upload(admin, "slot", "slots.csv", data, mode="upsert", key=["room", "hour"]))
    assert counts(report) == {"rows": 3, "imported": 1, "updated": 1, "unchanged": 1, "failed": 0, "skipped": 0}
    booked = {(r["room"], r["hour"]): r["booked_by"] for r in await listed(admin, "slot")}
    assert booked == {("A", 9): "ann", ("A", 10): "carl", ("B", 9): "dan"}
    unchanged = await probe.unchanged("slot")
    again = result(await upload(admin, "slot", "slots.csv", data, mode="upsert", key=["room", "hour"]))
    assert (again["unchanged"], again["updated"], again["imported"]) == (3, 0, 0)
    await unchanged.check()


async def test_a_key_on_a_reference_and_a_column(admin: Api, item: Any) -> None:
    acme = await created(admin, "customer", {"name": "ACME"})
    globex = await created(admin, "customer", {"name": "Globex"})
    await created(admin, "item", {"code": "A-1", "customer_id": acme["id"], "quantity": 1})
    data = csv_bytes([["customer_id", "code", "quantity"], [acme["id"], "A-1", "5"], [globex["id"], "A-1", "6"]])
    report = result(
        await upload(admin, "item", "items.csv", data, mode="upsert", key=["customer_id", "code"], on_error="skip")
    )
    # The second row's key finds nothing, and its code is taken: that row's unique error.
    assert (report["updated"], report["imported"]) == (1, 0)
    assert row_errors(report) == [(3, "code", "unique")]


async def test_an_upsert_by_id_and_a_file_that_carries_ids(admin: Api, item: Any, probe: Probe) -> None:
    one = await created(admin, "item", {"code": "A-1", "quantity": 1})
    two = await created(admin, "item", {"code": "A-2", "quantity": 2})
    data = csv_bytes([["id", "code", "quantity"], [one["id"], "A-1", "10"], [two["id"], "A-2", "2"]])
    report = result(await upload(admin, "item", "items.csv", data, mode="upsert", key="id"))
    assert (report["updated"], report["unchanged"], report["failed"]) == (1, 1, 0)
    # The same file by code: the ids it carries are those of the rows the key finds.
    report = result(await upload(admin, "item", "items.csv", data, mode="upsert", key="code"))
    assert (report["updated"], report["unchanged"], report["failed"]) == (0, 2, 0)
    # A file whose id is not the found row's is that row's error.
    swapped = csv_bytes([["id", "code", "quantity"], [two["id"], "A-1", "10"]])
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", swapped, mode="upsert", key="code"), 422)
    assert row_errors(body) == [(2, "id", "conflict")]
    await unchanged.check()


async def test_an_upsert_cannot_take_another_rows_unique_value(admin: Api, item: Any, probe: Probe) -> None:
    await created(admin, "item", {"code": "A-1"})
    await created(admin, "item", {"code": "A-2"})
    data = json_bytes([{"id": (await listed(admin, "item"))[0]["id"], "code": "A-2"}])
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.json", data, mode="upsert", key="id"), 422)
    assert row_errors(body) == [(1, "code", "unique")]
    await unchanged.check()


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"mode": "upsert"}, "key", "required"),
        ({"mode": "upsert", "key": "colour"}, "key", "unknown"),
        ({"mode": "upsert", "key": ["code", "code"]}, "key", "duplicate"),
        ({"mode": "upsert", "key": "owner_id"}, "key", "unknown"),
        ({"mode": "upsert", "key": "version"}, "key", "unknown"),
        ({"mode": "insert", "key": "code"}, "key", "unsupported_option"),
        ({"mode": "merge", "key": "code"}, "mode", "invalid"),
        ({"on_error": "ignore"}, "on_error", "invalid"),
    ],
)
async def test_bad_key_options_are_422(
    admin: Api, item: Any, probe: Probe, fields: dict[str, Any], field: str, code: str
) -> None:
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", csv_bytes([["code"], ["A-1"]]), **fields), 422)
    assert (field, code) in [(e["field"], e["code"]) for e in body["errors"]], body
    await unchanged.check()


@pytest.mark.parametrize("key", ["pin", "note", "extra"])
async def test_secret_and_json_columns_cannot_be_keys(admin: Api, probe: Probe, key: str) -> None:
    await define(admin, SLOT)
    unchanged = await probe.unchanged("slot")
    data = csv_bytes([["room", "hour", key], ["A", "1", "x"]])
    body = assert_problem(await upload(admin, "slot", "slots.csv", data, mode="upsert", key=key), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("key", "unsupported")]
    await unchanged.check()


async def test_a_file_without_the_key_column_fails_every_row(admin: Api, item: Any, probe: Probe) -> None:
    data = csv_bytes([["name", "quantity"], ["x", "1"], ["y", "2"]])
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", data, mode="upsert", key="code"), 422)
    assert row_errors(body) == [(2, "code", "required"), (3, "code", "required")]
    assert "upsert key" in body["errors"][0]["message"]
    await unchanged.check()


async def test_repeated_and_unreadable_keys_are_row_errors(admin: Api, item: Any, probe: Probe) -> None:
    await define(admin, SLOT)
    data = csv_bytes(
        [
            ["room", "hour", "booked_by"],
            ["A", "9", "x"],
            ["A", "10", "y"],
            ["A", "9", "z"],
            ["B", "nine", "w"],
            ["", "1", ""],
        ]
    )
    unchanged = await probe.unchanged("slot")
    body = assert_problem(await upload(admin, "slot", "s.csv", data, mode="upsert", key=["room", "hour"]), 422)
    assert row_errors(body) == [
        (4, "room+hour", "duplicate_key"),
        (5, "hour", "type"),
        (6, "room", "required"),
    ]
    assert body["errors"][0]["message"] == "the same key as row 2"
    await unchanged.check()


async def test_a_key_that_finds_several_stored_rows_is_ambiguous(admin: Api, item: Any, probe: Probe) -> None:
    await created(admin, "item", {"code": "A-1", "name": "twin"})
    await created(admin, "item", {"code": "A-2", "name": "twin"})
    data = csv_bytes([["name", "quantity"], ["twin", "3"]])
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", data, mode="upsert", key="name"), 422)
    assert row_errors(body) == [(2, "name", "ambiguous_key")]
    await unchanged.check()


async def test_a_dry_run_upsert_counts_updates_without_writing(admin: Api, item: Any, probe: Probe) -> None:
    await created(admin, "item", {"code": "A-1", "quantity": 1})
    await created(admin, "item", {"code": "A-2", "quantity": 2})
    data = csv_bytes([["code", "quantity"], ["A-1", "1"], ["A-2", "5"], ["A-3", "1"]])
    unchanged = await probe.unchanged("item")
    report = result(await upload(admin, "item", "items.csv", data, mode="upsert", key="code", dry_run=True))
    assert counts(report) == {"rows": 3, "imported": 1, "updated": 1, "unchanged": 1, "failed": 0, "skipped": 0}
    await unchanged.check()
