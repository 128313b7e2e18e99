"""sort, page, per_page, fields and include on lists; every bad parameter is a 400 that names it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from stateyard.core.clock import FrozenClock
from tests.conftest import Api, assert_problem

ROWS = [
    ("Anvil", 3, "tool"),
    ("Bolt", 1, "part"),
    ("Crane", 3, "toy"),
    ("Drill", 2, "tool"),
    ("Eel", 1, "toy"),
    ("Fork", 2, "part"),
    ("Gear", 3, "part"),
]


@pytest.fixture
async def rows(admin: Api, gadget: Any, clock: FrozenClock) -> None:
    for title, qty, kind in ROWS:
        response = await admin.post("/api/gadget", {"title": title, "qty": qty, "kind": kind})
        assert response.status_code == 201, response.text
        clock.advance(dt.timedelta(seconds=1))


async def listed(api: Api, **params: str) -> dict[str, Any]:
    response = await api.get("/api/gadget", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def titles(body: dict[str, Any]) -> list[str]:
    return [row["title"] for row in body["data"]]


async def test_default_order_is_stable_and_meta_complete(admin: Api, rows: None) -> None:
    body = await listed(admin)
    assert titles(body) == [r[0] for r in ROWS]
    assert body["meta"] == {"total": 7, "page": 1, "per_page": 25}


async def test_sort_ascending_and_descending(admin: Api, rows: None) -> None:
    assert titles(await listed(admin, sort="-title")) == [r[0] for r in reversed(ROWS)]
    assert titles(await listed(admin, sort="+title")) == [r[0] for r in ROWS]
    assert titles(await listed(admin, sort="-created_at")) == [r[0] for r in reversed(ROWS)]


async def test_sort_by_several_fields(admin: Api, rows: None) -> None:
    body = await listed(admin, sort="-qty,title")
    assert titles(body) == ["Anvil", "Crane", "Gear", "Drill", "Fork", "Bolt", "Eel"]
    body = await listed(admin, sort="kind, -qty")
    assert titles(body) == ["Gear", "Fork", "Bolt", "Anvil", "Drill", "Crane", "Eel"]


async def test_sort_with_filter_and_pages(admin: Api, rows: None) -> None:
    condition = '{"field": "kind", "op": "not_equals", "value": "toy"}'
    first = await listed(admin, sort="-qty,title", per_page="2", filter=condition)
    second = await listed(admin, sort="-qty,title", per_page="2", page="2", filter=condition)
    third = await listed(admin, sort="-qty,title", per_page="2", page="3", filter=condition)
    assert (titles(first), titles(second), titles(third)) == (["Anvil", "Gear"], ["Drill", "Fork"], ["Bolt"])
    assert first["meta"] == {"total": 5, "page": 1, "per_page": 2}
    assert third["meta"] == {"total": 5, "page": 3, "per_page": 2}


async def test_page_past_the_end_is_empty_with_total(admin: Api, rows: None) -> None:
    body = await listed(admin, page="9", per_page="3")
    assert body["data"] == [] and body["meta"] == {"total": 7, "page": 9, "per_page": 3}


async def test_per_page_at_the_maximum(admin: Api, rows: None) -> None:
    assert (await listed(admin, per_page="500"))["meta"]["per_page"] == 500


BAD_PAGING = [
    ({"per_page": "501"}, "per_page"),
    ({"per_page": "0"}, "per_page"),
    ({"per_page": "-5"}, "per_page"),
    ({"per_page": "ten"}, "per_page"),
    ({"per_page": "2.5"}, "per_page"),
    ({"page": "0"}, "page"),
    ({"page": "-1"}, "page"),
    ({"page": "two"}, "page"),
    ({"page": "1e3"}, "page"),
]


async def test_bad_paging(admin: Api, rows: None) -> None:
    for params, parameter in BAD_PAGING:
        body = assert_problem(await admin.get("/api/gadget", params=params), 400, "bad-request")
        assert body["parameter"] == parameter, params


async def test_bad_sort(admin: Api, rows: None) -> None:
    for sort in ("colour", "-colour", "meta", "pin", "secret", "permission", "title,nope", "-"):
        body = assert_problem(await admin.get("/api/gadget", params={"sort": sort}), 400, "invalid-sort")
        assert body["parameter"] == "sort" and "Cannot sort by" in body["detail"], sort


async def test_fields_projection(admin: Api, rows: None) -> None:
    body = await listed(admin, fields="title,qty", sort="title", per_page="1")
    assert body["data"] == [{"id": body["data"][0]["id"], "title": "Anvil", "qty": 3}]


async def test_fields_projection_on_get(admin: Api, rows: None) -> None:
    row = (await listed(admin, per_page="1"))["data"][0]
    response = await admin.get(f"/api/gadget/{row['id']}", params={"fields": "kind,version"})
    assert response.json() == {"id": row["id"], "version": 1, "kind": "tool"}


async def test_bad_fields(admin: Api, rows: None) -> None:
    row_url = f"/api/gadget/{(await listed(admin))['data'][0]['id']}"
    for fields in ("colour", "title,colour", "pin"):
        body = assert_problem(await admin.get("/api/gadget", params={"fields": fields}), 400, "invalid-fields")
        assert body["parameter"] == "fields"
        assert_problem(await admin.get(row_url, params={"fields": fields}), 400, "invalid-fields")


async def test_unknown_include(admin: Api, rows: None) -> None:
    body = assert_problem(await admin.get("/api/gadget", params={"include": "owner"}), 400, "invalid-include")
    assert body["parameter"] == "include"
    row = (await listed(admin))["data"][0]
    assert_problem(await admin.get(f"/api/gadget/{row['id']}", params={"include": "owner"}), 400, "invalid-include")


async def test_unknown_parameter(admin: Api, rows: None) -> None:
    for name in ("limit", "q", "Filter", "offset"):
        body = assert_problem(await admin.get("/api/gadget", params={name: "1"}), 400, "unknown-parameter")
        assert body["parameters"] == [name] and name in body["detail"]


async def test_unknown_parameter_on_get(admin: Api, rows: None) -> None:
    row = (await listed(admin))["data"][0]
    response = await admin.get(f"/api/gadget/{row['id']}", params={"sort": "title"})
    assert_problem(response, 400, "unknown-parameter")


async def test_repeated_parameter(admin: Api, rows: None) -> None:
    for name, value in (("page", "1"), ("filter", "{}"), ("sort", "title"), ("fields", "title"), ("per_page", "5")):
        body = assert_problem(await admin.get(f"/api/gadget?{name}={value}&{name}={value}"), 400, "bad-request")
        assert body["parameter"] == name and "more than once" in body["detail"]
