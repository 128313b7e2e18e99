"""Exports: exact file contents in every format, the caller's rows and columns only, signed short-lived links."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from stateyard.core.clock import FrozenClock
from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import (
    XLSX_TYPE,
    Probe,
    created,
    define,
    download,
    export_link,
    listed,
    read_xlsx,
)

COLUMNS = [
    "id",
    "code",
    "name",
    "quantity",
    "price",
    "weight",
    "active",
    "due",
    "seen_at",
    "kind",
    "meta",
    "contact",
    "customer_id",
]
VAULT = {
    "name": "vault",
    "columns": [
        {"name": "label", "type": "string"},
        {"name": "pin", "type": "password"},
        {"name": "note", "type": "encrypted"},
        {"name": "token", "type": "secret"},
    ],
    "permissions": {
        "table": {"owner": ["all"], "group": ["peek", "read", "create", "update", "delete"]},
        "row": {"owner": ["all"], "group": ["peek", "read"]},
    },
    "row_groups": ["users"],
}


@pytest.fixture
async def items(admin: Api, item: Any) -> list[dict[str, Any]]:
    customer = await created(admin, "customer", {"name": "ACME"})
    bodies = [
        {
            "code": "A-1",
            "name": '=HYPERLINK("http://evil")',
            "quantity": 3,
            "price": "12.50",
            "weight": 0.25,
            "active": True,
            "due": "2024-02-29",
            "seen_at": "2024-01-02T03:04:05Z",
            "kind": "toy",
            "meta": {"a": [1, "x"]},
            "contact": "a@example.com",
            "customer_id": customer["id"],
        },
        {"code": "A-2", "name": "+1 555", "quantity": 0, "price": "-3.00", "active": False, "meta": "@text"},
        {"code": "A-3", "name": 'plain, with "quotes"\nand a newline', "weight": -1.5, "meta": [1, 2]},
        {"code": "A-4", "name": "-minus", "kind": "tool"},
        {"code": "A-5", "name": "@at"},
        {"code": "A-6", "name": "\ttab"},
        {"code": "A-7", "name": "'=already quoted"},
    ]
    return [await created(admin, "item", body) for body in bodies]


def by_code(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in rows}


async def test_csv_contents_are_exact(admin: Api, items: list[dict[str, Any]]) -> None:
    response = await download(admin, "item", format="csv", sort="code")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="item.csv"'
    assert response.headers["cache-control"] == "no-store"
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == COLUMNS
    stored = by_code(await listed(admin, "item"))
    first = dict(zip(COLUMNS, rows[1], strict=True))
    assert first == {
        "id": stored["A-1"]["id"],
        "code": "A-1",
        "name": '\'=HYPERLINK("http://evil")',
        "quantity": "3",
        "price": "12.50",
        "weight": "0.25",
        "active": "true",
        "due": "2024-02-29",
        "seen_at": "2024-01-02T03:04:05+00:00",
        "kind": "toy",
        "meta": '{"a":[1,"x"]}',
        "contact": "a@example.com",
        "customer_id": stored["A-1"]["customer_id"],
    }
    second = dict(zip(COLUMNS, rows[2], strict=True))
    assert (second["name"], second["price"], second["active"], second["weight"], second["due"]) == (
        "'+1 555",
        "-3.00",
        "false",
        "",
        "",
    )
    names = [r[2] for r in rows[1:]]
    assert names[2:] == ['plain, with "quotes"\nand a newline', "'-minus", "'@at", "'\ttab", "''=already quoted"]
    assert len(rows) == 8


async def test_xlsx_cells_are_typed_and_formulas_neutralised(admin: Api, items: list[dict[str, Any]]) -> None:
    response = await download(admin, "item", format="xlsx", sort="code")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX_TYPE
    sheet = read_xlsx(response.content)
    assert sheet[0] == COLUMNS
    first = dict(zip(COLUMNS, sheet[1], strict=True))
    stored = by_code(await listed(admin, "item"))
    assert first["id"] == stored["A-1"]["id"] and first["customer_id"] == stored["A-1"]["customer_id"]
    assert first["quantity"] == 3 and isinstance(first["quantity"], int)
    assert first["price"] == 12.5 and first["weight"] == 0.25
    assert first["active"] is True
    assert first["due"] == dt.datetime(2024, 2, 29) and first["seen_at"] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert first["name"] == '\'=HYPERLINK("http://evil")'
    assert json.loads(first["meta"]) == {"a": [1, "x"]}
    second = dict(zip(COLUMNS, sheet[2], strict=True))
    assert (second["name"], second["price"], second["active"], second["weight"]) == ("'+1 555", -3.0, False, None)
    assert [row[2] for row in sheet[3:]] == [
        'plain, with "quotes"\nand a newline',
        "'-minus",
        "'@at",
        "'\ttab",
        "''=already quoted",
    ]
    # No cell is a formula: openpyxl reads formulas as text starting with "=".
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(response.content))
    for row in book.worksheets[0].iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate


async def test_json_and_json_lines_contents_are_exact(admin: Api, items: list[dict[str, Any]]) -> None:
    stored = await listed(admin, "item")
    expected = [{c: row[c] for c in COLUMNS} for row in sorted(stored, key=lambda r: r["code"])]
    response = await download(admin, "item", format="json", sort="code")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert response.json() == expected
    assert expected[0]["name"] == '=HYPERLINK("http://evil")'  # JSON is data, not a spreadsheet: kept as is
    response = await download(admin, "item", format="jsonl", sort="code")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in response.text.splitlines()] == expected


@pytest.mark.parametrize("format_", ["csv", "xlsx", "json", "jsonl"])
async def test_an_export_without_rows(admin: Api, item: Any, format_: str) -> None:
    response = await download(admin, "item", format=format_, columns=["code", "quantity"])
    assert response.status_code == 200, response.text
    if format_ == "csv":
        assert response.content == b"\xef\xbb\xbfcode,quantity\r\n"
    elif format_ == "xlsx":
        assert read_xlsx(response.content) == [["code", "quantity"]]
    elif format_ == "json":
        assert response.json() == []
    else:
        assert response.content == b""


async def test_columns_filter_and_sort_are_honoured(admin: Api, items: list[dict[str, Any]]) -> None:
    condition = {
        "any": [{"field": "quantity", "op": "gte", "value": 1}, {"field": "name", "op": "starts_with", "value": "@"}]
    }
    response = await download(
        admin, "item", format="json", columns=["quantity", "code"], filter=condition, sort="-code"
    )
    assert response.json() == [{"quantity": 0, "code": "A-5"}, {"quantity": 3, "code": "A-1"}]
    response = await download(
        admin, "item", format="csv", columns=["code", "version", "owner_id"], sort=["-quantity", "code"]
    )
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["code", "version", "owner_id"]
    assert [r[0] for r in rows[1:]] == ["A-1", "A-2", "A-3", "A-4", "A-5", "A-6", "A-7"]
    assert {r[1] for r in rows[1:]} == {"1"}


@pytest.mark.parametrize(
    ("attributes", "status", "code"),
    [
        ({"columns": ["code", "colour"]}, 400, "invalid-fields"),
        ({"columns": ["code", "code"]}, 422, "validation"),
        ({"columns": []}, 422, "validation"),
        ({"filter": {"field": "colour", "op": "equals", "value": 1}}, 400, "invalid-filter"),
        ({"filter": {"field": "quantity", "op": "gt", "value": "many"}}, 400, "invalid-filter"),
        ({"filter": {"field": "name", "op": "explodes"}}, 400, "invalid-filter"),
        ({"filter": "code = 1"}, 400, "invalid-filter"),
        ({"sort": "colour"}, 400, "invalid-sort"),
        ({"format": "pdf"}, 422, "validation"),
        ({"rows": 5}, 422, "validation"),
    ],
)
async def test_bad_export_requests_are_refused_at_the_export_call(
    admin: Api, items: Any, attributes: dict[str, Any], status: int, code: str
) -> None:
    assert_problem(await admin.post("/action/item/export", {"attributes": attributes}), status, code)


async def test_a_filter_the_database_cannot_run_is_never_a_500(admin: Api, items: Any, backend: str) -> None:
    condition = {"field": "name", "op": "regex", "value": "(?P<x>a)"}
    link = await export_link(admin, "item", format="csv", filter=condition)
    response = await admin.as_guest().get(link["url"])
    if backend == "postgresql":
        assert_problem(response, 400, "invalid-filter")
    else:
        assert response.status_code == 200, response.text


async def test_passwords_and_secrets_never_leave_and_encrypted_values_only_for_readers(
    admin: Api, alice: Api, bob: Api
) -> None:
    await define(admin, VAULT)
    await created(alice, "vault", {"label": "alice's", "pin": "correct horse", "note": "alice secret", "token": "t1"})
    await created(bob, "vault", {"label": "bob's", "pin": "battery staple", "note": "bob secret", "token": "t2"})
    for api, readable in (
        (alice, {"alice's": "alice secret", "bob's": None}),
        (admin, {"alice's": "alice secret", "bob's": "bob secret"}),
    ):
        for format_ in ("json", "csv", "xlsx", "jsonl"):
            response = await download(api, "vault", format=format_, sort="label")
            assert response.status_code == 200, response.text
            content = response.content
            assert b"correct horse" not in content and b"battery" not in content and b"argon2" not in content
            assert b"t1" not in content.replace(b'"t1', b"") or format_ == "xlsx"
        rows = (await download(api, "vault", format="json", sort="label")).json()
        assert {r["label"]: r["note"] for r in rows} == readable
        assert all(set(r) == {"id", "label", "note"} for r in rows)
    for column in ("pin", "token"):
        assert_problem(
            await alice.post("/action/vault/export", {"attributes": {"columns": ["label", column]}}),
            400,
            "invalid-fields",
        )


async def test_a_user_exports_exactly_the_rows_they_may_read(admin: Api, alice: Api, bob: Api, item: Any) -> None:
    await created(alice, "item", {"code": "A-1"})
    await created(alice, "item", {"code": "A-2", "permission": {"guest": [], "owner": ["all"], "group": ["peek"]}})
    await created(bob, "item", {"code": "B-1"})
    shared = await created(
        bob, "item", {"code": "B-2", "permission": {"guest": [], "owner": ["all"], "group": ["peek", "read"]}}
    )
    await created(
        bob, "item", {"code": "B-3", "permission": {"guest": [], "owner": ["all"], "group": ["peek", "read"]}}
    )
    await created(admin, "item", {"code": "Z-1"})
    users = (await listed(admin, "usergroup", filter='{"field": "name", "op": "equals", "value": "users"}'))[0]
    await created(bob, "row_share", {"entity": "item", "row_id": shared["id"], "usergroup_id": users["id"]})
    expected = {
        alice: ["A-1", "A-2", "B-2"],
        bob: ["B-1", "B-2", "B-3"],
        admin: ["A-1", "A-2", "B-1", "B-2", "B-3", "Z-1"],
    }
    for api, codes in expected.items():
        assert [r["code"] for r in await listed(api, "item")] == codes
        for format_ in ("json", "jsonl"):
            response = await download(api, "item", format=format_, sort="code")
            lines = [line.rstrip(",") for line in response.text.splitlines() if line.startswith("{")]
            assert [json.loads(line)["code"] for line in lines] == codes
        assert [r[1] for r in read_xlsx((await download(api, "item", format="xlsx", sort="code")).content)[1:]] == codes


async def test_guests_and_callers_without_read_permission_are_refused(
    admin: Api, alice: Api, guest: Api, item: Any
) -> None:
    assert_problem(await guest.post("/action/item/export", {"attributes": {}}), 401, "unauthorized")
    secret = {
        "name": "ledger",
        "columns": [{"name": "amount", "type": "integer"}],
        "permissions": {"table": {"owner": ["all"], "group": []}},
    }
    await define(admin, secret)
    assert_problem(await alice.post("/action/ledger/export", {"attributes": {}}), 403, "forbidden")
    assert_problem(await alice.post("/action/nothing/export", {"attributes": {}}), 404, "not-found")


async def test_the_link_works_without_a_token_and_only_until_it_expires(
    admin: Api, items: Any, clock: FrozenClock, settings: Any
) -> None:
    link = await export_link(admin, "item", format="csv")
    assert link["url"].startswith("/download/") and link["content_type"].startswith("text/csv")
    assert link["name"].startswith("item-") and link["name"].endswith(".csv")
    guest = admin.as_guest()
    assert (await guest.get(link["url"])).status_code == 200
    clock.advance(timedelta(seconds=settings.export_link_ttl_seconds - 1))
    assert (await guest.get(link["url"])).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert_problem(await guest.get(link["url"]), 410, "link-expired")
    assert_problem(await admin.get(link["url"]), 410, "link-expired")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: token.split(".")[0] + "." + token.split(".")[1][:-4] + "abcd." + token.split(".")[2],
        lambda token: "not-a-token",
        lambda token: token + ".extra",
        lambda token: "",
    ],
)
async def test_a_tampered_link_is_404(admin: Api, items: Any, tamper: Any) -> None:
    link = await export_link(admin, "item", format="json")
    token = link["url"].removeprefix("/download/")
    response = await admin.as_guest().get("/download/" + tamper(token))
    assert_problem(response, 404)


async def test_a_link_signed_for_another_purpose_is_404(admin: Api, items: Any) -> None:
    # A sign-in token is a valid JWT of this install, but no download link.
    assert_problem(await admin.as_guest().get(f"/download/{admin.token}"), 404)


async def test_permissions_are_checked_again_when_the_link_is_used(admin: Api, alice: Api, bob: Api, item: Any) -> None:
    one = await created(alice, "item", {"code": "A-1"})
    await created(alice, "item", {"code": "A-2"})
    link = await export_link(alice, "item", format="json", sort="code")
    # The row moves to bob before the link is used: alice may no longer read it.
    response = await admin.patch(
        f"/api/item/{one['id']}",
        {"owner_id": (await bob.me())["id"], "permission": {"guest": [], "owner": ["all"], "group": []}},
    )
    assert response.status_code == 200, response.text
    response = await alice.as_guest().get(link["url"])
    assert [r["code"] for r in response.json()] == ["A-2"]
    # And a user who lost the table's read permission gets a refusal, not a file.
    entity = (await listed(admin, "entity", filter=json.dumps({"field": "name", "op": "equals", "value": "item"})))[0]
    table = {"guest": [], "owner": ["all"], "group": ["create"]}
    response = await admin.patch(f"/api/entity/{entity['id']}", {"permissions": {"table": table}})
    assert response.status_code == 200, response.text
    assert_problem(await alice.as_guest().get(link["url"]), 403, "forbidden")


async def test_a_deleted_account_cannot_use_its_links(admin: Api, alice: Api, item: Any) -> None:
    await created(alice, "item", {"code": "A-1"})
    link = await export_link(alice, "item", format="csv")
    alice_id = (await alice.me())["id"]
    response = await admin.delete(f"/api/user_account/{alice_id}")
    assert response.status_code == 204, response.text
    response = await admin.as_guest().get(link["url"])
    assert 400 <= response.status_code < 500 and response.status_code != 410, response.text
    assert_problem(response, response.status_code)


@pytest.mark.parametrize("format_", ["csv", "jsonl", "xlsx"])
async def test_exports_span_several_batches(admin: Api, item: Any, probe: Probe, format_: str) -> None:
    response = await admin.post("/action/item/random_data", {"attributes": {"count": 2100, "seed": 3}})
    assert response.status_code == 200, response.text
    response = await download(admin, "item", format=format_, columns=["code"], sort="code")
    assert response.status_code == 200
    if format_ == "csv":
        codes = [r[0] for r in csv.reader(io.StringIO(response.content.decode("utf-8-sig")))][1:]
    elif format_ == "jsonl":
        codes = [json.loads(line)["code"] for line in response.text.splitlines()]
    else:
        codes = [r[0] for r in read_xlsx(response.content)[1:]]
    assert codes == sorted(r["code"] for r in await probe.rows("item"))
    assert len(set(codes)) == 2100


@pytest.mark.parametrize(
    "attributes",
    [
        {"columns": "code"},
        {"columns": [1, 2]},
        {"sort": 5},
        {"sort": ["code", 5]},
        {"format": None},
        {"entity": 5},
        {"filter": {"all": "nope"}},
        {"filter": {"field": "code", "op": "regex", "value": "("}},
        {"filter": {"field": "code", "op": "in", "value": "A-1"}},
    ],
)
async def test_malformed_export_inputs_are_4xx_never_500(admin: Api, items: Any, attributes: dict[str, Any]) -> None:
    response = await admin.post("/action/item/export", {"attributes": attributes})
    assert 400 <= response.status_code < 500, response.text
    assert_problem(response, response.status_code)


@pytest.mark.parametrize("path", ["/download/", "/download/%00", "/download/" + "a" * 5000, "/download/a.b.c"])
async def test_odd_download_paths_are_4xx(admin: Api, path: str) -> None:
    response = await admin.as_guest().get(path)
    assert 400 <= response.status_code < 500, response.text
