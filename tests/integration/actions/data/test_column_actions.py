from __future__ import annotations

from tests.conftest import Api, assert_problem
from tests.integration.actions.data.conftest import call, declare, result_of, table_columns
from tests.integration.crud.conftest import Probe

DEFINITION_TABLES = ("entity", "entity_column", "entity_relation", "shelf")


async def test_add_column_changes_the_table_live(admin: Api, shelf: dict, probe: Probe) -> None:
    column = {"name": "color", "type": "enum", "options": ["red", "blue"]}
    dry = result_of(
        await call(admin, "entity", "add_column", entity="shelf", column=column, dry_run=True), "schema_change"
    )
    assert dry["applied"] is False and [c["kind"] for c in dry["changes"]] == ["add_column"]
    assert "color" not in await table_columns(probe, "shelf")
    done = result_of(await call(admin, "entity", "add_column", entity="shelf", column=column), "schema_change")
    assert done["applied"] is True and done["changes"][0]["target"] == "color"
    assert "color" in await table_columns(probe, "shelf")
    created = await admin.post("/api/shelf", {"label": "a", "color": "red"})
    assert created.status_code == 201, created.text
    audit = [a for a in await probe.rows("audit_log") if a["entity"] == "entity_column"]
    assert str(audit[-1]["actor_id"]) == (await admin.me())["id"]


async def test_add_column_refusals_change_nothing(admin: Api, shelf: dict, probe: Probe) -> None:
    unchanged = await probe.unchanged(*DEFINITION_TABLES)
    duplicate = await call(admin, "entity", "add_column", entity="shelf", column={"name": "label", "type": "text"})
    assert_problem(duplicate, 409, "duplicate")
    bad_type = await call(admin, "entity", "add_column", entity="shelf", column={"name": "x", "type": "colour"})
    assert_problem(bad_type, 400, "invalid-definition")
    bad_name = await call(admin, "entity", "add_column", entity="shelf", column={"name": "Bad Name", "type": "text"})
    assert_problem(bad_name, 400, "invalid-definition")
    unknown_option = {"name": "x", "type": "text", "colour": "red"}
    body = assert_problem(await call(admin, "entity", "add_column", entity="shelf", column=unknown_option), 422)
    assert body["errors"][0]["field"] == "column"
    missing = await call(admin, "entity", "add_column", entity="shelf")
    assert assert_problem(missing, 422, "validation")["errors"][0] == {
        "field": "column",
        "code": "required",
        "message": "'column' is required",
    }
    assert_problem(await call(admin, "entity", "add_column", entity="nope", column={"name": "x", "type": "text"}), 404)
    await admin.post("/api/shelf", {"label": "filled"})
    unchanged.before["shelf"] = await probe.rows("shelf")
    unchanged.before["audit_log"] = await probe.rows("audit_log")
    required = {"name": "size", "type": "integer", "required": True}
    assert_problem(await call(admin, "entity", "add_column", entity="shelf", column=required), 409)
    await unchanged.check()
    assert "size" not in await table_columns(probe, "shelf")


async def test_remove_column_needs_allow_destructive(admin: Api, shelf: dict, probe: Probe) -> None:
    column = {"name": "color", "type": "string"}
    result_of(await call(admin, "entity", "add_column", entity="shelf", column=column), "schema_change")
    await admin.post("/api/shelf", {"label": "a", "color": "red"})
    unchanged = await probe.unchanged(*DEFINITION_TABLES)
    body = assert_problem(await call(admin, "entity", "remove_column", entity="shelf", column="color"), 409)
    assert body["type"].endswith("destructive-change")
    assert [(c["kind"], c["target"], c["destructive"]) for c in body["changes"]] == [("drop_column", "color", True)]
    dry = await call(admin, "entity", "remove_column", entity="shelf", column="color", dry_run=True)
    assert result_of(dry, "schema_change")["applied"] is False
    assert_problem(await call(admin, "entity", "remove_column", entity="shelf", column="nope"), 404, "not-found")
    assert_problem(await call(admin, "entity", "remove_column", entity="nope", column="color"), 404, "not-found")
    system = await call(admin, "entity", "remove_column", entity="user_account", column="email", allow_destructive=True)
    assert_problem(system, 409, "system-entity")
    await unchanged.check()
    assert "color" in await table_columns(probe, "shelf")
    done = await call(admin, "entity", "remove_column", entity="shelf", column="color", allow_destructive=True)
    assert result_of(done, "schema_change")["applied"] is True
    assert "color" not in await table_columns(probe, "shelf")


async def test_rename_column_keeps_values_and_needs_allow_destructive(admin: Api, shelf: dict, probe: Probe) -> None:
    await admin.post("/api/shelf", {"label": "kept"})
    unchanged = await probe.unchanged(*DEFINITION_TABLES)
    refused = await call(admin, "entity", "rename_column", entity="shelf", column="label", new_name="title")
    body = assert_problem(refused, 409, "destructive-change")
    assert body["changes"][0]["kind"] == "update_column" and "title" in body["changes"][0]["detail"]
    same = await call(admin, "entity", "rename_column", entity="shelf", column="label", new_name="label")
    assert assert_problem(same, 422, "validation")["errors"][0]["field"] == "new_name"
    bad = await call(
        admin, "entity", "rename_column", entity="shelf", column="label", new_name="Bad", allow_destructive=True
    )
    assert_problem(bad, 400, "invalid-definition")
    missing = await call(admin, "entity", "rename_column", entity="shelf", column="nope", new_name="x")
    assert_problem(missing, 404, "not-found")
    system = await call(
        admin, "entity", "rename_column", entity="user_account", column="email", new_name="mail", allow_destructive=True
    )
    assert_problem(system, 409, "system-entity")
    await unchanged.check()
    done = await call(
        admin, "entity", "rename_column", entity="shelf", column="label", new_name="title", allow_destructive=True
    )
    assert result_of(done, "schema_change")["applied"] is True
    assert [r["title"] for r in (await admin.get("/api/shelf")).json()["data"]] == ["kept"]


async def test_only_administrators_change_columns(guest: Api, admin: Api, shelf: dict, probe: Probe) -> None:
    alice = await guest.signup("alice@example.com")
    unchanged = await probe.unchanged(*DEFINITION_TABLES)
    attempts = [
        ("add_column", {"entity": "shelf", "column": {"name": "x", "type": "text"}}),
        ("remove_column", {"entity": "shelf", "column": "label", "allow_destructive": True}),
        ("rename_column", {"entity": "shelf", "column": "label", "new_name": "x", "allow_destructive": True}),
        ("reload_schema", {}),
    ]
    for name, attributes in attempts:
        assert_problem(await call(guest, "entity", name, **attributes), 401, "unauthorized")
        assert_problem(await call(alice, "entity", name, **attributes), 403, "forbidden")
    listed = {a["name"] for a in (await alice.get("/actions")).json()}
    assert "random_data" in listed and not listed & {name for name, _ in attempts}
    await unchanged.check()


async def test_declared_steps_run_before_the_chain_opens_or_not_at_all(
    guest: Api, admin: Api, shelf: dict, probe: Probe
) -> None:
    column = {"name": "color", "type": "string"}
    first = {"type": "column.add", "attributes": {"entity": "shelf", "column": column}}
    await declare(
        admin,
        {
            "name": "late_column",
            "entity": "shelf",
            "run_as": "system",
            "outcomes": [{"type": "shelf", "method": "create", "attributes": {"label": "x"}}, first],
        },
    )
    unchanged = await probe.unchanged(*DEFINITION_TABLES)
    body = assert_problem(await call(admin, "shelf", "late_column"), 409, "chain-open")
    assert body["step"] == 1
    alice = await guest.signup("alice@example.com")
    table = {"owner": ["all"], "group": ["peek", "read", "execute"]}
    await admin.patch(f"/api/entity/{shelf['id']}", {"permissions": {"table": table, "row": table}})
    unchanged.before["entity"] = await probe.rows("entity")
    unchanged.before["audit_log"] = await probe.rows("audit_log")
    await declare(admin, {"name": "as_user", "entity": "shelf", "outcomes": [first]})
    unchanged.before["audit_log"] = await probe.rows("audit_log")
    assert_problem(await call(alice, "shelf", "as_user"), 403, "forbidden")
    await unchanged.check()
    assert "color" not in await table_columns(probe, "shelf")
    await declare(
        admin,
        {
            "name": "early_column",
            "entity": "shelf",
            "run_as": "system",
            "outcomes": [first, {"type": "shelf", "method": "create", "attributes": {"label": "y"}}],
        },
    )
    response = await call(alice, "shelf", "early_column")
    assert [d["type"] for d in response.json()] == ["schema_change", "client.notify", "shelf"]
    assert response.json()[2]["attributes"]["color"] is None
    assert "color" in await table_columns(probe, "shelf")
