"""Dropping, retyping and renaming columns, and dropping entities, are explicit operations."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.entities.conftest import Probe, create_entity, entity_columns

NOTE = {
    "name": "memo",
    "columns": [
        {"name": "title", "type": "string", "indexed": True},
        {"name": "amount", "type": "string"},
        {"name": "body", "type": "text"},
    ],
}
ROWS = [
    {"title": "a", "amount": "12", "body": "x"},
    {"title": "b", "amount": "abc", "body": "y"},
    {"title": "c", "amount": " 7 ", "body": "z"},
    {"title": "d", "amount": "1.5"},
    {"title": "e"},
]


async def _memo(admin: Api) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    entity = await create_entity(admin, NOTE)
    for row in ROWS:
        assert (await admin.post("/api/memo", row)).status_code == 201
    return entity, await entity_columns(admin, entity["id"])


async def _by_title(admin: Api, field: str) -> dict[str, Any]:
    rows = (await admin.get("/api/memo", params={"per_page": "100"})).json()["data"]
    return {r["title"]: r.get(field, "<absent>") for r in rows}


def _refused(response: Any, kind: str, target: str | None) -> list[dict[str, Any]]:
    body = assert_problem(response, 409, "destructive-change")
    assert [(c["kind"], c.get("target"), c["destructive"]) for c in body["changes"]] == [(kind, target, True)]
    assert "allow_destructive" in body["detail"]
    return body["changes"]  # type: ignore[no-any-return]


def _dry(response: Any, kind: str, target: str | None) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["applied"] is False
    assert [(c["kind"], c.get("target")) for c in body["changes"]] == [(kind, target)]


async def test_dropping_a_column(admin: Api, probe: Probe) -> None:
    _, columns = await _memo(admin)
    url = f"/api/entity_column/{columns['body']['id']}"
    before = await probe.state()
    changes = _refused(await admin.delete(url), "drop_column", "body")
    assert "body" in changes[0]["detail"]
    _dry(await admin.delete(url, params={"dry_run": "true"}), "drop_column", "body")
    assert await probe.state() == before
    assert (await admin.delete(url, params={"allow_destructive": "true"})).status_code == 204
    assert "body" not in (await probe.tables())["memo"]
    assert await _by_title(admin, "body") == dict.fromkeys("abcde", "<absent>")
    assert await _by_title(admin, "amount") == {"a": "12", "b": "abc", "c": " 7 ", "d": "1.5", "e": None}
    assert_problem(await admin.get(url), 404, "not-found")
    body = assert_problem(await admin.post("/api/memo", {"body": "x"}), 422, "validation")
    assert body["errors"][0]["code"] == "unknown"


async def test_dropping_an_indexed_column(admin: Api, probe: Probe) -> None:
    _, columns = await _memo(admin)
    url = f"/api/entity_column/{columns['title']['id']}"
    assert (await admin.delete(url, params={"allow_destructive": "true"})).status_code == 204
    assert "title" not in (await probe.tables())["memo"]
    assert "ix_memo_title" not in await probe.indexes("memo")
    assert len((await admin.get("/api/memo")).json()["data"]) == 5


async def test_dropping_through_the_columns_list(admin: Api, probe: Probe) -> None:
    entity, _ = await _memo(admin)
    keep = {"columns": [c for c in NOTE["columns"] if c["name"] != "amount"]}
    before = await probe.state()
    _refused(await admin.patch(f"/api/entity/{entity['id']}", keep), "drop_column", "amount")
    assert await probe.state() == before
    response = await admin.patch(f"/api/entity/{entity['id']}", keep, params={"allow_destructive": "true"})
    assert response.status_code == 200, response.text
    assert "amount" not in (await probe.tables())["memo"]


async def test_retyping_keeps_values_that_fit(admin: Api, probe: Probe) -> None:
    _, columns = await _memo(admin)
    url = f"/api/entity_column/{columns['amount']['id']}"
    before = await probe.state()
    _refused(await admin.patch(url, {"type": "integer"}), "retype_column", "amount")
    _dry(await admin.patch(url, {"type": "integer"}, params={"dry_run": "true"}), "retype_column", "amount")
    assert await probe.state() == before
    assert await _by_title(admin, "amount") == {"a": "12", "b": "abc", "c": " 7 ", "d": "1.5", "e": None}
    response = await admin.patch(url, {"type": "integer"}, params={"allow_destructive": "true"})
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "integer"
    assert await _by_title(admin, "amount") == {"a": 12, "b": None, "c": 7, "d": None, "e": None}
    filtered = await admin.get("/api/memo", params={"filter": '{"field": "amount", "op": "gt", "value": 10}'})
    assert [r["title"] for r in filtered.json()["data"]] == ["a"]
    assert (await admin.post("/api/memo", {"amount": 3})).status_code == 201
    assert_problem(await admin.post("/api/memo", {"amount": "3"}), 422, "validation")


async def test_retyping_back_to_text(admin: Api) -> None:
    _, columns = await _memo(admin)
    url = f"/api/entity_column/{columns['amount']['id']}"
    assert (await admin.patch(url, {"type": "integer"}, params={"allow_destructive": "true"})).status_code == 200
    assert (await admin.patch(url, {"type": "string"}, params={"allow_destructive": "true"})).status_code == 200
    assert await _by_title(admin, "amount") == {"a": "12", "b": None, "c": "7", "d": None, "e": None}


async def test_retyping_to_an_enum_keeps_only_its_options(admin: Api) -> None:
    _, columns = await _memo(admin)
    url = f"/api/entity_column/{columns['title']['id']}"
    change = {"type": "enum", "options": ["a", "c"]}
    response = await admin.patch(url, change, params={"allow_destructive": "true"})
    assert response.status_code == 200, response.text
    rows = (await admin.get("/api/memo", params={"per_page": "100"})).json()["data"]
    assert sorted((r["title"] or "-") for r in rows) == ["-", "-", "-", "a", "c"]


async def test_renaming_a_column_keeps_its_values(admin: Api, probe: Probe) -> None:
    _, columns = await _memo(admin)
    url = f"/api/entity_column/{columns['title']['id']}"
    before = await probe.state()
    _refused(await admin.patch(url, {"name": "heading"}), "update_column", "title")
    _dry(await admin.patch(url, {"name": "heading"}, params={"dry_run": "true"}), "update_column", "title")
    assert await probe.state() == before
    response = await admin.patch(url, {"name": "heading"}, params={"allow_destructive": "true"})
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "heading"
    table = (await probe.tables())["memo"]
    assert "heading" in table and "title" not in table
    assert "ix_memo_heading" in await probe.indexes("memo")
    rows = (await admin.get("/api/memo", params={"sort": "heading"})).json()["data"]
    assert [r["heading"] for r in rows] == ["a", "b", "c", "d", "e"]
    assert all("title" not in r for r in rows)
    assert_problem(await admin.post("/api/memo", {"title": "x"}), 422, "validation")


async def test_renaming_refuses_bad_names(admin: Api, probe: Probe) -> None:
    _, columns = await _memo(admin)
    url = f"/api/entity_column/{columns['title']['id']}"
    before = await probe.state()
    allow = {"allow_destructive": "true"}
    for name, field, code in (
        ("amount", "columns[1].name", "duplicate"),
        ("Heading", "columns[0].name", "invalid_name"),
        ("version", "columns[0].name", "duplicate"),
        ("a__b", "columns[0].name", "invalid_name"),
    ):
        body = assert_problem(await admin.patch(url, {"name": name}, params=allow), 400, "invalid-definition")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)], name
    body = assert_problem(await admin.patch(url, {"name": "heading", "label": "Heading"}, params=allow), 400)
    assert body["errors"][0]["field"] == "name"
    assert await probe.state() == before


async def test_narrowing_a_column_is_destructive(admin: Api, probe: Probe) -> None:
    _, columns = await _memo(admin)
    url = f"/api/entity_column/{columns['title']['id']}"
    _refused(await admin.patch(url, {"max_length": 5}), "resize_column", "title")
    widened = await admin.patch(url, {"max_length": 5}, params={"allow_destructive": "true"})
    assert widened.status_code == 200, widened.text
    assert_problem(await admin.post("/api/memo", {"title": "toolong"}), 422, "validation")
    wider = await admin.patch(url, {"max_length": 50})
    assert wider.status_code == 200, wider.text


async def test_narrowing_below_stored_values_nulls_what_does_not_fit(admin: Api) -> None:
    entity = await create_entity(admin, {"name": "memo", "columns": [{"name": "title", "type": "string"}]})
    for title in ("much too long", "ok"):
        assert (await admin.post("/api/memo", {"title": title})).status_code == 201
    column = (await entity_columns(admin, entity["id"]))["title"]
    url = f"/api/entity_column/{column['id']}"
    changes = _refused(await admin.patch(url, {"max_length": 5}), "resize_column", "title")
    assert "become null" in changes[0]["detail"]
    response = await admin.patch(url, {"max_length": 5}, params={"allow_destructive": "true"})
    assert response.status_code == 200, response.text
    rows = (await admin.get("/api/memo", params={"sort": "created_at"})).json()["data"]
    assert [r["title"] for r in rows] == [None, "ok"]


async def test_retyping_keeps_the_column_indexes(admin: Api, probe: Probe) -> None:
    entity = await create_entity(
        admin,
        {
            "name": "memo",
            "columns": [{"name": "code", "type": "string", "unique": True}, {"name": "n", "type": "string"}],
            "indexes": [{"columns": ["code", "n"]}],
        },
    )
    assert (await admin.post("/api/memo", {"code": "1", "n": "2"})).status_code == 201
    column = (await entity_columns(admin, entity["id"]))["code"]
    response = await admin.patch(
        f"/api/entity_column/{column['id']}", {"type": "integer"}, params={"allow_destructive": "true"}
    )
    assert response.status_code == 200, response.text
    assert await probe.indexes("memo") == {"ix_memo_owner_id": False, "uq_memo_code": True, "ix_memo_code_n": False}
    assert_problem(await admin.post("/api/memo", {"code": 1}), 409, "duplicate")


async def test_retyping_into_duplicates_of_a_unique_column_is_refused(admin: Api, probe: Probe) -> None:
    entity = await create_entity(
        admin, {"name": "memo", "columns": [{"name": "code", "type": "string", "unique": True}]}
    )
    for code in ("7", " 7 "):
        assert (await admin.post("/api/memo", {"code": code})).status_code == 201
    column = (await entity_columns(admin, entity["id"]))["code"]
    before = await probe.state()
    response = await admin.patch(
        f"/api/entity_column/{column['id']}", {"type": "integer"}, params={"allow_destructive": "true"}
    )
    assert_problem(response, 409, "duplicate")
    assert await probe.state() == before
    assert sorted(r["code"] for r in (await admin.get("/api/memo")).json()["data"]) == [" 7 ", "7"]


async def test_dropping_an_entity(admin: Api, probe: Probe) -> None:
    entity, _ = await _memo(admin)
    url = f"/api/entity/{entity['id']}"
    before = await probe.state()
    changes = _refused(await admin.delete(url), "drop_entity", None)
    assert "5 row(s)" in changes[0]["detail"]
    _dry(await admin.delete(url, params={"dry_run": "true"}), "drop_entity", None)
    assert await probe.state() == before
    assert (await admin.delete(url, params={"allow_destructive": "true"})).status_code == 204
    assert "memo" not in await probe.tables()
    assert_problem(await admin.get("/api/memo"), 404, "not-found")
    assert_problem(await admin.get(url), 404, "not-found")
    names = [e["name"] for e in (await admin.get("/api/entity", params={"per_page": "100"})).json()["data"]]
    assert "memo" not in names
    assert await probe.rows("entity_column", entity_id=uuid.UUID(entity["id"])) == []
    # The name is free again.
    await create_entity(admin, {"name": "memo", "columns": [{"name": "other", "type": "integer"}]})
    assert (await admin.get("/api/memo")).json()["data"] == []


async def test_an_entity_others_refer_to_cannot_be_dropped(admin: Api, probe: Probe) -> None:
    target = await create_entity(admin, {"name": "team"})
    await create_entity(
        admin, {"name": "player", "relations": [{"name": "team", "type": "belongs_to", "target": "team"}]}
    )
    before = await probe.state()
    body = assert_problem(
        await admin.delete(f"/api/entity/{target['id']}", params={"allow_destructive": "true"}), 409, "in-use"
    )
    assert body["referenced_by"] == ["player.team"]
    assert await probe.state() == before


async def test_system_entities_cannot_be_dropped(admin: Api, probe: Probe) -> None:
    before = await probe.state()
    listed = (await admin.get("/api/entity", params={"per_page": "100"})).json()["data"]
    system = [e for e in listed if e["system"]]
    assert {e["name"] for e in system} >= {"entity", "user_account", "audit_log", "usergroup"}
    for entity in system:
        response = await admin.delete(f"/api/entity/{entity['id']}", params={"allow_destructive": "true"})
        assert_problem(response, 409, "system-entity")
    assert await probe.state() == before
