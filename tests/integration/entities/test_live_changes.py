"""Definition changes through the API take effect at once, without a restart."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.entities.conftest import Probe, create_entity, entity_columns

TASK = {"name": "task", "columns": [{"name": "title", "type": "string"}]}


async def _task_with_rows(admin: Api, *titles: str) -> dict[str, Any]:
    entity = await create_entity(admin, TASK)
    for title in titles:
        assert (await admin.post("/api/task", {"title": title})).status_code == 201
    return entity


async def test_new_column_row_alters_the_table(admin: Api, probe: Probe) -> None:
    entity = await _task_with_rows(admin, "old")
    response = await admin.post(
        "/api/entity_column", {"entity_id": entity["id"], "name": "priority", "type": "integer", "default": 3}
    )
    assert response.status_code == 201, response.text
    column = response.json()
    assert (column["name"], column["type"], column["default"], column["entity_id"]) == (
        "priority",
        "integer",
        3,
        entity["id"],
    )
    assert "priority" in (await probe.tables())["task"]
    (old,) = (await admin.get("/api/task")).json()["data"]
    assert old["priority"] == 3
    new = await admin.post("/api/task", {"title": "new", "priority": 1})
    assert new.status_code == 201, new.text
    assert new.json()["priority"] == 1
    body = assert_problem(await admin.post("/api/task", {"priority": "high"}), 422, "validation")
    assert body["errors"][0]["field"] == "priority"


async def test_patching_the_columns_list_adds_and_changes_columns(admin: Api, probe: Probe) -> None:
    entity = await _task_with_rows(admin, "old")
    response = await admin.patch(
        f"/api/entity/{entity['id']}",
        {
            "label": "Task",
            "columns": [
                {"name": "title", "type": "string", "label": "Title", "min_length": 2},
                {"name": "done", "type": "boolean", "default": False, "indexed": True},
                {"name": "code", "type": "string", "max_length": 8},
            ],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["label"] == "Task"
    assert response.json()["version"] == 2
    columns = await entity_columns(admin, entity["id"])
    assert columns["title"]["label"] == "Title" and columns["title"]["min_length"] == 2
    assert columns["done"]["type"] == "boolean"
    assert columns["code"]["max_length"] == 8
    assert "ix_task_done" in await probe.indexes("task")
    (old,) = (await admin.get("/api/task")).json()["data"]
    assert old["done"] is False and old["code"] is None
    body = assert_problem(await admin.post("/api/task", {"title": "x", "code": "x" * 9}), 422, "validation")
    assert {(e["field"], e["code"]) for e in body["errors"]} == {("title", "min_length"), ("code", "max_length")}


async def test_required_column_without_default_on_a_filled_table_is_refused(admin: Api, probe: Probe) -> None:
    entity = await _task_with_rows(admin, "old")
    before = await probe.state()
    column = {"entity_id": entity["id"], "name": "owner_name", "type": "string", "required": True}
    body = assert_problem(await admin.post("/api/entity_column", column), 409, "needs-default")
    assert body["errors"][0]["field"] == "owner_name"
    assert body["errors"][0]["code"] == "default_required"
    assert await probe.state() == before
    patch = {"columns": [TASK["columns"][0], {"name": "owner_name", "type": "string", "required": True}]}
    assert_problem(await admin.patch(f"/api/entity/{entity['id']}", patch), 409, "needs-default")
    assert await probe.state() == before
    with_default = await admin.post("/api/entity_column", {**column, "default": "nobody"})
    assert with_default.status_code == 201, with_default.text
    assert [r["owner_name"] for r in (await admin.get("/api/task")).json()["data"]] == ["nobody"]


async def test_required_column_without_default_on_an_empty_table_is_fine(admin: Api) -> None:
    entity = await create_entity(admin, TASK)
    column = {"entity_id": entity["id"], "name": "code", "type": "string", "required": True}
    assert (await admin.post("/api/entity_column", column)).status_code == 201
    assert_problem(await admin.post("/api/task", {"title": "x"}), 422, "validation")
    assert (await admin.post("/api/task", {"title": "x", "code": "c"})).status_code == 201


async def test_unique_on_duplicated_values_is_refused_and_changes_nothing(admin: Api, probe: Probe) -> None:
    entity = await _task_with_rows(admin, "same", "same")
    column_id = (await entity_columns(admin, entity["id"]))["title"]["id"]
    before = await probe.state()
    indexes_before = await probe.indexes("task")
    body = assert_problem(await admin.patch(f"/api/entity_column/{column_id}", {"unique": True}), 409, "duplicate")
    assert "title" in body["detail"]
    patch = {"columns": [{"name": "title", "type": "string", "unique": True}]}
    assert_problem(await admin.patch(f"/api/entity/{entity['id']}", patch), 409, "duplicate")
    assert await probe.state() == before
    assert await probe.indexes("task") == indexes_before
    assert (await entity_columns(admin, entity["id"]))["title"].get("unique") is False
    assert (await admin.post("/api/task", {"title": "same"})).status_code == 201


async def test_unique_on_distinct_values_is_enforced_at_once(admin: Api, probe: Probe) -> None:
    entity = await _task_with_rows(admin, "a", "b")
    column_id = (await entity_columns(admin, entity["id"]))["title"]["id"]
    response = await admin.patch(f"/api/entity_column/{column_id}", {"unique": True})
    assert response.status_code == 200, response.text
    assert response.json()["unique"] is True
    assert (await probe.indexes("task"))["uq_task_title"] is True
    assert_problem(await admin.post("/api/task", {"title": "a"}), 409, "duplicate")
    back = await admin.patch(f"/api/entity_column/{column_id}", {"unique": False})
    assert back.status_code == 200, back.text
    assert "uq_task_title" not in await probe.indexes("task")
    assert (await admin.post("/api/task", {"title": "a"})).status_code == 201


async def test_bad_column_rows_are_refused(admin: Api, probe: Probe) -> None:
    entity = await _task_with_rows(admin, "old")
    before = await probe.state()
    duplicate = {"entity_id": entity["id"], "name": "title", "type": "text"}
    assert_problem(await admin.post("/api/entity_column", duplicate), 409, "duplicate")
    missing_parent = {"name": "x", "type": "string"}
    body = assert_problem(await admin.post("/api/entity_column", missing_parent), 422, "validation")
    assert body["errors"][0]["field"] == "entity_id"
    unknown_parent = {"entity_id": "00000000-0000-4000-8000-000000000000", "name": "x", "type": "string"}
    body = assert_problem(await admin.post("/api/entity_column", unknown_parent), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("entity_id", "not_found")]
    bad_type = {"entity_id": entity["id"], "name": "x", "type": "colour"}
    body = assert_problem(await admin.post("/api/entity_column", bad_type), 400, "invalid-definition")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("columns[1].type", "unknown_type")]
    unknown_key = {"entity_id": entity["id"], "name": "x", "type": "string", "colour": "red"}
    assert_problem(await admin.post("/api/entity_column", unknown_key), 400, "invalid-definition")
    assert await probe.state() == before


async def test_only_administrators_change_definitions(admin: Api, guest: Api, probe: Probe) -> None:
    entity = await _task_with_rows(admin, "old")
    user = await admin.signup("builder@example.com")
    before = await probe.state()
    assert_problem(await guest.post("/api/entity", {"name": "mine"}), 401, "unauthorized")
    assert_problem(await user.post("/api/entity", {"name": "mine"}), 403, "forbidden")
    column = {"entity_id": entity["id"], "name": "x", "type": "string"}
    assert_problem(await user.post("/api/entity_column", column), 403, "forbidden")
    assert_problem(await user.patch(f"/api/entity/{entity['id']}", {"label": "Mine"}), 403, "forbidden")
    assert_problem(await user.delete(f"/api/entity/{entity['id']}", params={"allow_destructive": "true"}), 403)
    assert await probe.state() == before
    readable = await user.get(f"/api/entity/{entity['id']}", params={"include": "columns"})
    assert readable.status_code == 200
    assert [c["name"] for c in readable.json()["columns"]] == ["title"]


async def test_a_text_column_takes_a_max_length(admin: Api) -> None:
    entity = await create_entity(admin, {"name": "task", "columns": [{"name": "notes", "type": "text"}]})
    column = (await entity_columns(admin, entity["id"]))["notes"]
    response = await admin.patch(f"/api/entity_column/{column['id']}", {"max_length": 5})
    assert response.status_code == 200, response.text
    assert response.json()["max_length"] == 5
    body = assert_problem(await admin.post("/api/task", {"notes": "too long"}), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("notes", "max_length")]


async def test_a_dry_run_creates_nothing(admin: Api, probe: Probe) -> None:
    before = await probe.state()
    response = await admin.post("/api/entity", TASK, params={"dry_run": "true"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "changes": [{"kind": "create_entity", "entity": "task", "detail": "create entity 'task' with 1 column(s)"}],
        "applied": False,
    }
    assert await probe.state() == before
    assert_problem(await admin.get("/api/task"), 404, "not-found")


async def test_definition_flags_are_checked(admin: Api, probe: Probe) -> None:
    entity = await _task_with_rows(admin, "old")
    before = await probe.state()
    body = assert_problem(await admin.post("/api/entity", TASK, params={"dry_run": "perhaps"}), 400)
    assert body["parameter"] == "dry_run"
    assert_problem(await admin.post("/api/task", {"title": "x"}, params={"dry_run": "true"}), 400, "unknown-parameter")
    assert_problem(
        await admin.patch(f"/api/entity/{entity['id']}", {}, params={"force": "1"}), 400, "unknown-parameter"
    )
    assert await probe.state() == before


async def test_a_stale_version_is_refused(admin: Api, probe: Probe) -> None:
    entity = await _task_with_rows(admin)
    url = f"/api/entity/{entity['id']}"
    assert (await admin.patch(url, {"label": "One", "version": 1})).status_code == 200
    before = await probe.state()
    assert_problem(await admin.patch(url, {"label": "Two", "version": 1}), 409, "stale-version")
    column = (await entity_columns(admin, entity["id"]))["title"]
    column_url = f"/api/entity_column/{column['id']}"
    assert_problem(await admin.patch(column_url, {"label": "Title", "version": 7}), 409, "stale-version")
    assert await probe.state() == before
    assert (await admin.patch(url, {"label": "Two", "version": 2})).json()["version"] == 3
