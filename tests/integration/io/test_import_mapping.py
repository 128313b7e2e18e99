"""Headers to fields: by name or label, case- and space-insensitively, or by an explicit mapping."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import (
    Probe,
    csv_bytes,
    json_bytes,
    jsonl_bytes,
    listed,
    result,
    row_errors,
    upload,
    xlsx_bytes,
)


async def test_headers_match_names_and_labels_loosely(admin: Api, item: Any) -> None:
    data = csv_bytes([[" CODE ", "item  name", "Quantity", "SEEN-AT", "Customer_ID"], ["A-1", "Hammer", "2", "", ""]])
    report = result(await upload(admin, "item", "items.csv", data))
    assert report["imported"] == 1 and report["unknown_headers"] == [] and report["ignored_headers"] == []
    (row,) = await listed(admin, "item")
    assert (row["code"], row["name"], row["quantity"]) == ("A-1", "Hammer", 2)


async def test_unknown_headers_are_reported_never_dropped_in_silence(admin: Api, item: Any) -> None:
    data = csv_bytes([["code", "colour", "Size (cm)", "version", "created_at"], ["A-1", "red", "3", "7", "2020-01-01"]])
    report = result(await upload(admin, "item", "items.csv", data))
    assert report["imported"] == 1
    assert report["unknown_headers"] == ["colour", "Size (cm)"]
    assert report["ignored_headers"] == [
        {"header": "version", "reason": "managed by the platform"},
        {"header": "created_at", "reason": "managed by the platform"},
    ]
    (row,) = await listed(admin, "item")
    assert row["version"] == 1


async def test_an_unnamed_column_with_values_is_reported(admin: Api, item: Any) -> None:
    data = csv_bytes([["code", "", "name"], ["A-1", "stray", "x"], ["A-2", "", "y"]])
    report = result(await upload(admin, "item", "items.csv", data))
    assert report["imported"] == 2 and report["unknown_headers"] == [""]


async def test_strict_refuses_unknown_headers_and_names_them(admin: Api, item: Any, probe: Probe) -> None:
    data = csv_bytes([["code", "colour", "size"], ["A-1", "red", "3"]])
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", data, strict=True), 400, "import-headers")
    assert body["unknown_headers"] == ["colour", "size"]
    assert "'colour'" in body["detail"] and "code" in body["detail"]
    # Platform-managed headers are not unknown: strict still takes them.
    data = csv_bytes([["code", "version"], ["A-1", "3"]])
    await unchanged.check()
    assert result(await upload(admin, "item", "items.csv", data, strict=True))["imported"] == 1


async def test_strict_on_json_records_makes_unknown_keys_row_errors(admin: Api, item: Any, probe: Probe) -> None:
    data = jsonl_bytes([{"code": "A-1"}, {"code": "A-2", "colour": "red"}])
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.jsonl", data, strict=True), 422, "import-invalid")
    assert row_errors(body) == [(2, "colour", "unknown")]
    await unchanged.check()
    report = result(await upload(admin, "item", "items.jsonl", data))
    assert report["imported"] == 2 and report["unknown_headers"] == ["colour"]


async def test_an_explicit_mapping_wins_and_null_leaves_a_header_out(admin: Api, item: Any) -> None:
    data = csv_bytes([["Ref", "name", "Description", "Qty."], ["A-1", "not me", "Hammer", "4"]])
    mapping = {"Ref": "code", "name": None, "Description": "name", "Qty.": "quantity"}
    report = result(await upload(admin, "item", "items.csv", data, mapping=mapping, strict=True))
    assert report["imported"] == 1 and report["unknown_headers"] == []
    assert report["ignored_headers"] == [{"header": "name", "reason": "mapped to null"}]
    (row,) = await listed(admin, "item")
    assert (row["code"], row["name"], row["quantity"]) == ("A-1", "Hammer", 4)


async def test_an_explicit_mapping_on_json_keys_and_xlsx_headers(admin: Api, item: Any) -> None:
    data = json_bytes([{"Reference": "J-1", "Notes": "x"}])
    report = result(await upload(admin, "item", "items.json", data, mapping={"Reference": "code", "Notes": None}))
    assert report["imported"] == 1 and report["ignored_headers"] == [{"header": "Notes", "reason": "mapped to null"}]
    data = xlsx_bytes({"S": [["Reference", "Amount"], ["X-1", 5]]})
    report = result(
        await upload(admin, "item", "items.xlsx", data, mapping={"Reference": "code", "Amount": "quantity"})
    )
    assert report["imported"] == 1
    assert [(r["code"], r["quantity"]) for r in await listed(admin, "item")] == [("J-1", 0), ("X-1", 5)]


async def test_a_mapping_to_a_field_that_does_not_exist_is_422(admin: Api, item: Any, probe: Probe) -> None:
    data = csv_bytes([["Ref", "code"], ["x", "A-1"]])
    unchanged = await probe.unchanged("item")
    body = assert_problem(
        await upload(admin, "item", "items.csv", data, mapping={"Ref": "reference"}), 422, "validation"
    )
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("mapping.Ref", "unknown")]
    await unchanged.check()


@pytest.mark.parametrize("target", ["version", "created_at", "customer"])
async def test_a_mapping_to_a_field_a_file_may_not_set_is_422(admin: Api, item: Any, target: str) -> None:
    data = csv_bytes([["code", "X"], ["A-1", "1"]])
    body = assert_problem(await upload(admin, "item", "items.csv", data, mapping={"X": target}), 422, "validation")
    assert body["errors"][0]["field"] == "mapping.X"


async def test_a_mapping_naming_a_missing_header_is_400_listing_the_headers(
    admin: Api, item: Any, probe: Probe
) -> None:
    data = csv_bytes([["Code", "Name"], ["A-1", "x"]])
    unchanged = await probe.unchanged("item")
    body = assert_problem(
        await upload(admin, "item", "items.csv", data, mapping={"code": "code"}), 400, "import-headers"
    )
    assert "'code'" in body["detail"] and "'Code'" in body["detail"]
    await unchanged.check()


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (["code", "name", "code"], "more than once"),
        (["code", "CODE"], "both fill 'code'"),
        (["code", "name", "Item name"], "both fill 'name'"),
    ],
)
async def test_duplicate_headers_are_400(admin: Api, item: Any, probe: Probe, header: list[str], words: str) -> None:
    data = csv_bytes([header, ["A-1"] * len(header)])
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.csv", data), 400, "import-headers")
    assert words in body["detail"], body["detail"]
    await unchanged.check()


async def test_a_duplicate_header_mapped_apart_is_fine(admin: Api, item: Any) -> None:
    data = csv_bytes([["code", "CODE"], ["A-1", "old"]])
    report = result(await upload(admin, "item", "items.csv", data, mapping={"CODE": None}))
    assert report["imported"] == 1


async def test_json_keys_filling_one_field_twice_are_400(admin: Api, item: Any, probe: Probe) -> None:
    data = json_bytes([{"code": "A-1", "Code": "A-2"}])
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "items.json", data), 400, "import-headers")
    assert "both fill 'code'" in body["detail"]
    await unchanged.check()


async def test_a_mapping_that_is_not_an_object_is_422(admin: Api, item: Any) -> None:
    data = csv_bytes([["code"], ["A-1"]])
    body = assert_problem(await upload(admin, "item", "items.csv", data, mapping=["code"]), 422, "validation")
    assert body["errors"][0]["field"] == "mapping"
