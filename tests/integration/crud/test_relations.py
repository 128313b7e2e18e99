"""include= and the relation endpoints for belongs_to, has_many and many_to_many."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from sqlalchemy import update

from tests.conftest import Api, assert_problem
from tests.integration.crud.conftest import Probe


async def created(api: Api, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"/api/{entity}", body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def shelf(admin: Api, library: Any) -> dict[str, Any]:
    """Two authors, three books (one without author), two tags linked to the first book."""
    ann = await created(admin, "author", {"name": "Ann"})
    bob = await created(admin, "author", {"name": "Bob"})
    books = [
        await created(admin, "book", {"title": "One", "pages": 100, "author_id": ann["id"]}),
        await created(admin, "book", {"title": "Two", "pages": 300, "author_id": ann["id"]}),
        await created(admin, "book", {"title": "Orphan", "pages": 50}),
    ]
    tags = [await created(admin, "tag", {"label": label}) for label in ("red", "blue")]
    for tag in tags:
        response = await admin.post(f"/api/book/{books[0]['id']}/tags", {"id": tag["id"]})
        assert response.status_code == 204, response.text
    return {"ann": ann, "bob": bob, "books": books, "tags": tags}


async def test_include_belongs_to_on_list(admin: Api, shelf: dict[str, Any]) -> None:
    body = (await admin.get("/api/book", params={"include": "author", "sort": "title"})).json()
    by_title = {b["title"]: b for b in body["data"]}
    assert by_title["One"]["author"] == shelf["ann"]
    assert by_title["Two"]["author"]["name"] == "Ann"
    assert by_title["Orphan"]["author"] is None
    assert by_title["One"]["author_id"] == shelf["ann"]["id"]


async def test_include_belongs_to_on_get(admin: Api, shelf: dict[str, Any]) -> None:
    book = shelf["books"][0]
    body = (await admin.get(f"/api/book/{book['id']}", params={"include": "author"})).json()
    assert body["author"] == shelf["ann"]


async def test_include_has_many(admin: Api, shelf: dict[str, Any]) -> None:
    body = (await admin.get("/api/author", params={"include": "books", "sort": "name"})).json()
    ann, bob = body["data"]
    assert [b["title"] for b in ann["books"]] == ["One", "Two"]
    assert bob["books"] == []
    one = (await admin.get(f"/api/author/{shelf['ann']['id']}", params={"include": "books"})).json()
    assert [b["id"] for b in one["books"]] == [b["id"] for b in shelf["books"][:2]]


async def test_include_has_many_orders_by_creation_time(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    """Included rows come in creation order, not id order (they differ for rows from another clock)."""
    one, two = shelf["books"][:2]
    table = probe.platform.registry.snapshot.models["book"].table

    async def backdate_two() -> None:
        async with probe.platform.db.write() as conn:
            earlier = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
            await conn.execute(update(table).where(table.c.id == uuid.UUID(two["id"])).values(created_at=earlier))

    await probe.call(backdate_two)
    body = (await admin.get(f"/api/author/{shelf['ann']['id']}", params={"include": "books"})).json()
    assert [b["id"] for b in body["books"]] == [two["id"], one["id"]]


async def test_include_many_to_many_and_several_at_once(admin: Api, shelf: dict[str, Any]) -> None:
    body = (await admin.get("/api/book", params={"include": "tags,author", "sort": "title"})).json()
    by_title = {b["title"]: b for b in body["data"]}
    assert sorted(t["label"] for t in by_title["One"]["tags"]) == ["blue", "red"]
    assert by_title["Two"]["tags"] == [] and by_title["Two"]["author"]["name"] == "Ann"
    book = (await admin.get(f"/api/book/{shelf['books'][0]['id']}", params={"include": "tags"})).json()
    assert {t["id"] for t in book["tags"]} == {t["id"] for t in shelf["tags"]}


async def test_include_on_create_response(admin: Api, shelf: dict[str, Any]) -> None:
    response = await admin.post(
        "/api/book", {"title": "New", "author_id": shelf["bob"]["id"]}, params={"include": "author"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["author"] == shelf["bob"]


async def test_include_with_fields_projection(admin: Api, shelf: dict[str, Any]) -> None:
    body = (await admin.get("/api/book", params={"include": "author", "fields": "title", "sort": "title"})).json()
    assert body["data"][0] == {"id": body["data"][0]["id"], "title": "One", "author": shelf["ann"]}


async def test_related_belongs_to_endpoint(admin: Api, shelf: dict[str, Any]) -> None:
    response = await admin.get(f"/api/book/{shelf['books'][0]['id']}/author")
    assert response.status_code == 200 and response.json() == shelf["ann"]
    orphan = await admin.get(f"/api/book/{shelf['books'][2]['id']}/author")
    assert orphan.status_code == 200 and orphan.json() is None


async def test_related_has_many_with_paging_and_filter(admin: Api, shelf: dict[str, Any]) -> None:
    url = f"/api/author/{shelf['ann']['id']}/books"
    first = (await admin.get(url, params={"per_page": "1", "sort": "-pages"})).json()
    assert [b["title"] for b in first["data"]] == ["Two"]
    assert first["meta"] == {"total": 2, "page": 1, "per_page": 1}
    second = (await admin.get(url, params={"per_page": "1", "page": "2", "sort": "-pages"})).json()
    assert [b["title"] for b in second["data"]] == ["One"]
    small = {"field": "pages", "op": "lt", "value": 200}
    filtered = (await admin.get(url, params={"filter": json.dumps(small)})).json()
    assert [b["title"] for b in filtered["data"]] == ["One"] and filtered["meta"]["total"] == 1
    none = (await admin.get(f"/api/author/{shelf['bob']['id']}/books")).json()
    assert none == {"data": [], "meta": {"total": 0, "page": 1, "per_page": 25}}


async def test_related_many_to_many(admin: Api, shelf: dict[str, Any]) -> None:
    url = f"/api/book/{shelf['books'][0]['id']}/tags"
    body = (await admin.get(url, params={"sort": "label"})).json()
    assert [t["label"] for t in body["data"]] == ["blue", "red"] and body["meta"]["total"] == 2
    red = (
        await admin.get(url, params={"filter": json.dumps({"field": "label", "op": "equals", "value": "red"})})
    ).json()
    assert [t["label"] for t in red["data"]] == ["red"]


async def test_related_list_parameters_checked(admin: Api, shelf: dict[str, Any]) -> None:
    url = f"/api/author/{shelf['ann']['id']}/books"
    for params, code in (
        ({"include": "nope"}, "invalid-include"),
        ({"sort": "nope"}, "invalid-sort"),
        ({"fields": "nope"}, "invalid-fields"),
        ({"nope": "1"}, "unknown-parameter"),
        ({"per_page": "0"}, "bad-request"),
    ):
        assert_problem(await admin.get(url, params=params), 400, code)


async def test_link_and_unlink(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    two, red = shelf["books"][1], shelf["tags"][0]
    url = f"/api/book/{two['id']}/tags"
    linked = await admin.post(url, {"id": red["id"]})
    assert linked.status_code == 204 and linked.content == b""
    assert [t["id"] for t in (await admin.get(url)).json()["data"]] == [red["id"]]
    assert (two["id"], red["id"]) in await probe.links("book", "tags")
    unlinked = await admin.delete(f"{url}/{red['id']}")
    assert unlinked.status_code == 204
    assert (await admin.get(url)).json()["data"] == []
    assert (two["id"], red["id"]) not in await probe.links("book", "tags")
    operations = [e["operation"] for e in await probe.rows("audit_log") if e["row_id"] == uuid.UUID(two["id"])]
    assert operations[-2:] == ["link", "unlink"]


async def test_linking_twice_keeps_one_link(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    one, red = shelf["books"][0], shelf["tags"][0]
    state = await probe.unchanged("book", "tag")
    before = await probe.links("book", "tags")
    assert (await admin.post(f"/api/book/{one['id']}/tags", {"id": red["id"]})).status_code == 204
    assert await probe.links("book", "tags") == before
    await state.check()


LINK_REFUSALS: list[tuple[Any, str]] = [
    ({"id": "0190c6d8-0000-7000-8000-000000000000"}, "not_found"),
    ({"id": "not-a-uuid"}, "format"),
    ({"id": 5}, "format"),
    ({}, "required"),
    ({"id": "0190c6d8-0000-7000-8000-000000000000", "extra": 1}, "required"),
]


async def test_link_refusals(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("book", "tag")
    before = await probe.links("book", "tags")
    url = f"/api/book/{shelf['books'][1]['id']}/tags"
    for body, code in LINK_REFUSALS:
        problem = assert_problem(await admin.post(url, body), 422, "validation")
        assert [(e["field"], e["code"]) for e in problem["errors"]] == [("id", code)], body
    assert await probe.links("book", "tags") == before
    await state.check()


async def test_link_wrong_entity_row_is_not_found(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    """An author's id is not a tag's id, even though both rows exist."""
    state = await probe.unchanged("book", "tag")
    response = await admin.post(f"/api/book/{shelf['books'][1]['id']}/tags", {"id": shelf["ann"]["id"]})
    assert_problem(response, 422, "validation")
    await state.check()


async def test_link_from_missing_row(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("book", "tag")
    missing = "0190c6d8-0000-7000-8000-000000000000"
    response = await admin.post(f"/api/book/{missing}/tags", {"id": shelf["tags"][0]["id"]})
    assert_problem(response, 404, "not-found")
    await state.check()


async def test_link_needs_a_json_object(admin: Api, shelf: dict[str, Any]) -> None:
    url = f"/api/book/{shelf['books'][1]['id']}/tags"
    assert_problem(await admin.post(url, [shelf["tags"][0]["id"]]), 400, "invalid-body")
    assert_problem(
        await admin.post(url, content=b"", headers={"Content-Type": "application/json"}), 400, "invalid-body"
    )


async def test_unlink_missing_link(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("book", "tag")
    before = await probe.links("book", "tags")
    two, red = shelf["books"][1], shelf["tags"][0]
    assert_problem(await admin.delete(f"/api/book/{two['id']}/tags/{red['id']}"), 404, "not-found")
    assert_problem(await admin.delete(f"/api/book/{two['id']}/tags/not-a-uuid"), 404, "not-found")
    assert await probe.links("book", "tags") == before
    await state.check()


@pytest.mark.parametrize(("entity", "relation"), [("book", "author"), ("author", "books")])
async def test_link_only_for_many_to_many(
    admin: Api, shelf: dict[str, Any], probe: Probe, entity: str, relation: str
) -> None:
    source = shelf["books"][2] if entity == "book" else shelf["bob"]
    target = shelf["ann"] if entity == "book" else shelf["books"][2]
    state = await probe.unchanged("book", "author")
    body = assert_problem(await admin.post(f"/api/{entity}/{source['id']}/{relation}", {"id": target["id"]}), 405)
    assert body["type"] == "urn:stateyard:problem:method-not-allowed"
    assert_problem(await admin.delete(f"/api/{entity}/{source['id']}/{relation}/{target['id']}"), 405)
    await state.check()


async def test_unknown_relation(admin: Api, shelf: dict[str, Any]) -> None:
    book = shelf["books"][0]
    assert_problem(await admin.get(f"/api/book/{book['id']}/readers"), 404, "not-found")
    assert_problem(await admin.post(f"/api/book/{book['id']}/readers", {"id": book["id"]}), 404, "not-found")


async def test_related_of_missing_row(admin: Api, shelf: dict[str, Any]) -> None:
    assert_problem(await admin.get("/api/author/0190c6d8-0000-7000-8000-000000000000/books"), 404, "not-found")
    assert_problem(await admin.get("/api/author/nope/books"), 404, "not-found")


async def test_belongs_to_must_name_an_existing_row(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("book")
    missing = "0190c6d8-0000-7000-8000-000000000000"
    body = assert_problem(await admin.post("/api/book", {"title": "X", "author_id": missing}), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("author_id", "not_found")]
    body = assert_problem(await admin.post("/api/book", {"title": "X", "author_id": "nope"}), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("author_id", "format")]
    wrong_entity = {"title": "X", "author_id": shelf["tags"][0]["id"]}
    assert_problem(await admin.post("/api/book", wrong_entity), 422, "validation")
    book = shelf["books"][2]
    body = assert_problem(await admin.patch(f"/api/book/{book['id']}", {"author_id": missing}), 422, "validation")
    assert [e["field"] for e in body["errors"]] == ["author_id"]
    await state.check()


async def test_belongs_to_can_be_set_and_cleared(admin: Api, shelf: dict[str, Any]) -> None:
    book = shelf["books"][2]
    set_ = await admin.patch(f"/api/book/{book['id']}", {"author_id": shelf["bob"]["id"]})
    assert set_.status_code == 200 and set_.json()["author_id"] == shelf["bob"]["id"]
    cleared = await admin.patch(f"/api/book/{book['id']}", {"author_id": None})
    assert cleared.status_code == 200 and cleared.json()["author_id"] is None


async def test_relation_name_is_not_a_field(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("book")
    body = {"title": "X", "author": shelf["ann"]["id"], "tags": [shelf["tags"][0]["id"]]}
    problem = assert_problem(await admin.post("/api/book", body), 422, "validation")
    assert {(e["field"], e["code"]) for e in problem["errors"]} == {("author", "unknown"), ("tags", "unknown")}
    await state.check()


async def test_deleting_a_referenced_row_is_a_conflict(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("author", "book")
    body = assert_problem(await admin.delete(f"/api/author/{shelf['ann']['id']}"), 409, "in-use")
    assert body["entity"] == "author"
    await state.check()


async def test_deleting_a_linked_row_removes_its_links(admin: Api, shelf: dict[str, Any], probe: Probe) -> None:
    red = shelf["tags"][0]
    assert (await admin.delete(f"/api/tag/{red['id']}")).status_code == 204
    assert all(target != red["id"] for _, target in await probe.links("book", "tags"))
    book = (await admin.get(f"/api/book/{shelf['books'][0]['id']}", params={"include": "tags"})).json()
    assert [t["label"] for t in book["tags"]] == ["blue"]
