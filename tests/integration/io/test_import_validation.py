"""Every row checked like a create; every error at once, with the file's row numbers; abort, skip and dry runs."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import (
    Probe,
    audits,
    counts,
    created,
    csv_bytes,
    json_bytes,
    listed,
    result,
    row_errors,
    upload,
)

MISSING = str(uuid.UUID(int=7))

#: Bodies a create refuses; the same records in a JSON file fail the same way.
BAD_BODIES: list[dict[str, Any]] = [
    {"name": "no code"},
    {"code": None},
    {"code": "X" * 21},
    {"code": "B-4", "quantity": -1},
    {"code": "B-5", "quantity": 1.5},
    {"code": "B-6", "quantity": "many"},
    {"code": "B-7", "price": "12.345"},
    {"code": "B-8", "price": "123456789.00"},
    {"code": "B-9", "weight": "heavy"},
    {"code": "B-10", "active": "perhaps"},
    {"code": "B-11", "due": "2024-02-30"},
    {"code": "B-12", "seen_at": "yesterday"},
    {"code": "B-13", "kind": "car"},
    {"code": "B-14", "contact": "not-an-email"},
    {"code": "B-15", "customer_id": "not-a-uuid"},
    {"code": "B-16", "customer_id": MISSING},
    {"code": "B-18", "owner_id": "zzz"},
    {"code": "B-19", "permission": {"guest": ["fly"]}},
    {"code": "B-20", "quantity": -5, "kind": "car", "contact": "x", "due": "soon"},
]


def field_codes(body: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((e["field"], e["code"]) for e in body["errors"])


async def test_json_rows_fail_exactly_as_creates_do(admin: Api, item: Any, probe: Probe) -> None:
    expected = []
    for row, body in enumerate(BAD_BODIES, start=1):
        refusal = assert_problem(await admin.post("/api/item", body), 422)
        expected += [(row, field, code) for field, code in field_codes(refusal)]
    unchanged = await probe.unchanged("item")
    answer = assert_problem(await upload(admin, "item", "items.json", json_bytes(BAD_BODIES)), 422, "import-invalid")
    assert sorted(row_errors(answer)) == sorted(expected)
    assert counts(answer) == {
        "rows": len(BAD_BODIES),
        "imported": 0,
        "updated": 0,
        "unchanged": 0,
        "failed": len(BAD_BODIES),
        "skipped": 0,
    }
    await unchanged.check()


async def test_every_error_of_every_row_is_listed_at_once_with_file_rows(admin: Api, item: Any, probe: Probe) -> None:
    data = csv_bytes(
        [
            ["code", "quantity", "kind", "contact", "due", "active", "customer_id"],
            ["A-1", "1", "tool", "a@example.com", "2024-01-01", "yes", ""],
            ["", "-2", "car", "nope", "2024-13-01", "maybe", MISSING],
            ["A-3", "1_000", "toy", "", "", "", ""],
            ["A-4", "", "", "", "", "", ""],
            ["A-5", "3.0", "", "", "", "0", "nope"],
        ]
    )
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", data), 422, "import-invalid")
    assert sorted(row_errors(body)) == [
        (3, "active", "type"),
        (3, "code", "required"),
        (3, "contact", "format"),
        (3, "due", "format"),
        (3, "kind", "enum"),
        (3, "quantity", "min"),
        (4, "quantity", "type"),
        (6, "customer_id", "format"),
    ]
    assert counts(body) == {"rows": 5, "imported": 0, "updated": 0, "unchanged": 0, "failed": 3, "skipped": 2}
    assert "3 of 5" in body["detail"] and "nothing was imported" in body["detail"]
    for error in body["errors"]:
        assert error["message"] and error["field"] == error["column"]
    await unchanged.check()


async def test_a_reference_to_a_missing_row_is_that_rows_error(admin: Api, item: Any, probe: Probe) -> None:
    customer = await created(admin, "customer", {"name": "ACME"})
    data = csv_bytes([["code", "customer_id"], ["A-1", customer["id"]], ["A-2", MISSING]])
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", data), 422, "import-invalid")
    assert row_errors(body) == [(3, "customer_id", "not_found")]
    await unchanged.check()
    report = result(await upload(admin, "item", "items.csv", data, on_error="skip"))
    assert (report["imported"], report["failed"]) == (1, 1)
    assert [r["customer_id"] for r in await listed(admin, "item")] == [customer["id"]]


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_unique_values_repeated_in_the_file_or_already_stored(admin: Api, item: Any, probe: Probe) -> None:
    await created(admin, "item", {"code": "OLD"})
    data = csv_bytes(
        [["code"], ["A-1"], ["A-2"], ["A-3"], ["A-1"], ["OLD"], ["A-2"], ["a-1"]],
    )
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", data), 422, "import-invalid")
    assert row_errors(body) == [(5, "code", "unique"), (6, "code", "unique"), (7, "code", "unique")]
    messages = [e["message"] for e in body["errors"]]
    assert messages[0] == "the same code as row 2" and "already used" in messages[1]
    assert messages[2] == "the same code as row 3"
    await unchanged.check()
    report = result(await upload(admin, "item", "items.csv", data, on_error="skip"))
    assert counts(report) == {"rows": 7, "imported": 4, "updated": 0, "unchanged": 0, "failed": 3, "skipped": 0}
    assert [r["code"] for r in await listed(admin, "item")] == ["A-1", "A-2", "A-3", "OLD", "a-1"]


async def test_a_row_that_is_invalid_does_not_take_its_unique_value(admin: Api, item: Any) -> None:
    data = csv_bytes([["code", "quantity"], ["A-1", "-1"], ["A-1", "1"]])
    report = result(await upload(admin, "item", "items.csv", data, on_error="skip"))
    assert row_errors(report) == [(2, "quantity", "min")] and report["imported"] == 1


async def test_composite_unique_indexes_are_checked_in_the_file_and_the_database(
    admin: Api, item: Any, probe: Probe
) -> None:
    definition = {
        "name": "slot",
        "columns": [{"name": "room", "type": "string"}, {"name": "hour", "type": "integer"}],
        "indexes": [{"columns": ["room", "hour"], "unique": True}],
    }
    assert (await admin.post("/api/entity", definition)).status_code == 201
    await created(admin, "slot", {"room": "A", "hour": 9})
    data = csv_bytes([["room", "hour"], ["A", "10"], ["A", "9"], ["B", "10"], ["A", "10"], ["A", ""], ["A", ""]])
    unchanged = await probe.unchanged("slot")
    body = assert_problem(await upload(admin, "slot", "slots.csv", data), 422, "import-invalid")
    assert row_errors(body) == [(3, "room+hour", "unique"), (5, "room+hour", "unique")]
    await unchanged.check()


@pytest.mark.parametrize("overrides", [{"import_batch_size": 3}])
async def test_abort_writes_nothing_even_when_the_bad_row_is_in_the_last_batch(
    admin: Api, item: Any, probe: Probe
) -> None:
    rows = [["code", "quantity"], *([f"A-{i}", str(i)] for i in range(10)), ["A-10", "-1"]]
    unchanged = await probe.unchanged("item", "customer")
    body = assert_problem(await upload(admin, "item", "items.csv", csv_bytes(rows)), 422, "import-invalid")
    assert row_errors(body) == [(12, "quantity", "min")]
    assert counts(body) == {"rows": 11, "imported": 0, "updated": 0, "unchanged": 0, "failed": 1, "skipped": 10}
    assert body["batches"] == 0
    await unchanged.check()


@pytest.mark.parametrize("overrides", [{"import_batch_size": 3}])
async def test_skip_writes_the_good_rows_of_every_batch_with_an_audit_record_each(
    admin: Api, item: Any, probe: Probe
) -> None:
    rows = [["code", "quantity"], *([f"A-{i}", "-1" if i % 4 == 0 else str(i)] for i in range(10))]
    report = result(await upload(admin, "item", "items.csv", csv_bytes(rows), on_error="skip"))
    assert row_errors(report) == [(2, "quantity", "min"), (6, "quantity", "min"), (10, "quantity", "min")]
    assert counts(report) == {"rows": 10, "imported": 7, "updated": 0, "unchanged": 0, "failed": 3, "skipped": 0}
    assert report["batches"] == 4
    stored = await probe.rows("item")
    assert sorted(r["code"] for r in stored) == ["A-1", "A-2", "A-3", "A-5", "A-6", "A-7", "A-9"]
    records = await audits(probe, "item")
    assert sorted(r["row_id"] for r in records) == sorted(r["id"] for r in stored)
    assert {r["operation"] for r in records} == {"create"}


async def test_skip_with_only_bad_rows_writes_nothing_and_says_so(admin: Api, item: Any, probe: Probe) -> None:
    data = csv_bytes([["code", "quantity"], ["A-1", "-1"], ["", "1"]])
    unchanged = await probe.unchanged("item")
    response = await upload(admin, "item", "items.csv", data, on_error="skip")
    report = result(response)
    assert counts(report) == {"rows": 2, "imported": 0, "updated": 0, "unchanged": 0, "failed": 2, "skipped": 0}
    notify = next(d["attributes"] for d in response.json() if d["type"] == "client.notify")
    assert notify["type"] == "warning" and "2 failed" in notify["message"]
    await unchanged.check()


@pytest.mark.parametrize("on_error", ["abort", "skip"])
async def test_a_dry_run_writes_nothing_and_reports_what_would_happen(
    admin: Api, item: Any, probe: Probe, on_error: str
) -> None:
    await created(admin, "item", {"code": "OLD"})
    data = csv_bytes([["code", "quantity"], ["A-1", "1"], ["A-2", "-1"], ["OLD", "2"], ["A-3", "3"]])
    unchanged = await probe.unchanged("item", "customer")
    report = result(await upload(admin, "item", "items.csv", data, dry_run=True, on_error=on_error))
    assert report["dry_run"] is True
    assert row_errors(report) == [(3, "quantity", "min"), (4, "code", "unique")]
    assert counts(report) == {"rows": 4, "imported": 2, "updated": 0, "unchanged": 0, "failed": 2, "skipped": 0}
    await unchanged.check()


@pytest.mark.parametrize("overrides", [{"import_max_errors": 3, "import_batch_size": 2}])
async def test_the_error_list_is_bounded_but_every_failed_row_is_counted(admin: Api, item: Any) -> None:
    rows = [["code", "quantity"], *([f"A-{i}", "-1"] for i in range(7)), ["A-9", "1"]]
    body = assert_problem(await upload(admin, "item", "items.csv", csv_bytes(rows)), 422, "import-invalid")
    assert row_errors(body) == [(2, "quantity", "min"), (3, "quantity", "min"), (4, "quantity", "min")]
    assert body["errors_truncated"] is True and (body["failed"], body["skipped"]) == (7, 1)
    report = result(await upload(admin, "item", "items.csv", csv_bytes(rows), on_error="skip"))
    assert len(report["errors"]) == 3 and report["errors_truncated"] is True and report["failed"] == 7


async def test_cells_are_read_for_their_column_types(admin: Api, item: Any) -> None:
    data = csv_bytes(
        [
            ["code", "quantity", "price", "weight", "active", "due", "seen_at", "meta", "contact", "name"],
            [
                "A-1",
                " 7 ",
                "1e2",
                "-0.5",
                "YES",
                "2024-02-29",
                "2024-02-29 10:00:00+01:00",
                '{"a": [1]}',
                "X@Example.COM",
                " kept ",
            ],
            ["A-2", "2.0", "0.1", "3", "off", "", "2024-02-29T10:00:00", "[]", "", ""],
            ["A-3", "0", "-3", "1E3", "1", "", "", '"text"', "", "'=1+1"],
        ]
    )
    report = result(await upload(admin, "item", "items.csv", data))
    assert report["imported"] == 3, report
    first, second, third = await listed(admin, "item")
    assert (first["quantity"], first["price"], first["weight"], first["active"]) == (7, "100.00", -0.5, True)
    assert (first["due"], first["seen_at"], first["meta"]) == ("2024-02-29", "2024-02-29T09:00:00Z", {"a": [1]})
    assert (first["contact"], first["name"]) == ("x@example.com", " kept ")
    assert (second["quantity"], second["price"], second["weight"], second["active"]) == (2, "0.10", 3.0, False)
    assert (second["seen_at"], second["meta"], second["name"]) == ("2024-02-29T10:00:00Z", [], None)
    assert (third["price"], third["weight"], third["meta"], third["name"]) == ("-3.00", 1000.0, "text", "=1+1")


async def test_an_empty_cell_takes_the_default_and_a_required_empty_cell_is_missing(admin: Api, item: Any) -> None:
    data = csv_bytes([["code", "quantity", "kind", "active"], ["A-1", "", "", ""]])
    result(await upload(admin, "item", "items.csv", data))
    (row,) = await listed(admin, "item")
    assert (row["quantity"], row["kind"], row["active"]) == (0, "tool", True)


async def test_system_entities_cannot_be_imported(admin: Api, probe: Probe) -> None:
    unchanged = await probe.unchanged("entity", "user_account")
    data = json_bytes([{"name": "sneaky", "columns": []}])
    body = assert_problem(await upload(admin, "entity", "entities.json", data), 400, "system-entity")
    assert "entity" in body["detail"]
    body = assert_problem(await upload(admin, "audit_log", "a.json", json.dumps([{}]).encode()), 405)
    await unchanged.check()


async def test_ids_given_in_the_file_are_checked_like_other_unique_values(admin: Api, item: Any, probe: Probe) -> None:
    stored = await created(admin, "item", {"code": "OLD"})
    fresh = "0190c6d8-0000-7000-8000-00000000000a"
    data = csv_bytes(
        [["id", "code"], [fresh, "A-1"], [fresh, "A-2"], [stored["id"], "A-3"], ["not-a-uuid", "A-4"], ["", "A-5"]]
    )
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", data), 422, "import-invalid")
    assert row_errors(body) == [(3, "id", "unique"), (4, "id", "unique"), (5, "id", "format")]
    await unchanged.check()
    report = result(await upload(admin, "item", "items.csv", data, on_error="skip"))
    assert report["imported"] == 2
    assert {r["code"]: r["id"] for r in await listed(admin, "item")}["A-1"] == fresh
