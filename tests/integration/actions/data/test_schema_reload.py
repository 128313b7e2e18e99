from __future__ import annotations

from pathlib import Path

from stateyard.config import Settings
from tests.conftest import Api, assert_problem
from tests.integration.actions.data.conftest import call, result_of, table_columns
from tests.integration.crud.conftest import Probe

CRATE = """
entities:
  - name: crate
    columns:
      - {name: label, type: string, required: true}
      - {name: weight, type: float}
"""

CRATE_WITHOUT_WEIGHT = """
entities:
  - name: crate
    columns:
      - {name: label, type: string, required: true}
"""

DEFINITION_TABLES = ("entity", "entity_column", "entity_relation")


def write_schema(settings: Settings, text: str) -> None:
    folder = Path(settings.schema_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "crate.yaml").write_text(text, encoding="utf-8")


async def test_reload_applies_the_schema_folder(admin: Api, settings: Settings, probe: Probe) -> None:
    write_schema(settings, CRATE)
    unchanged = await probe.unchanged(*DEFINITION_TABLES)
    dry = result_of(await call(admin, "entity", "reload_schema", dry_run=True), "schema_change")
    assert dry["applied"] is False and [c["kind"] for c in dry["changes"]] == ["create_entity"]
    await unchanged.check()
    done = result_of(await call(admin, "entity", "reload_schema"), "schema_change")
    assert done["applied"] is True and done["changes"][0]["entity"] == "crate"
    assert (await admin.post("/api/crate", {"label": "a", "weight": 2})).status_code == 201
    again = await call(admin, "entity", "reload_schema")
    assert result_of(again, "schema_change") == {"applied": False, "changes": []}
    assert result_of(again, "client.notify")["message"] == "Nothing to change."


async def test_destructive_reloads_need_allow_destructive(admin: Api, settings: Settings, probe: Probe) -> None:
    write_schema(settings, CRATE)
    result_of(await call(admin, "entity", "reload_schema"), "schema_change")
    await admin.post("/api/crate", {"label": "a", "weight": 2})
    write_schema(settings, CRATE_WITHOUT_WEIGHT)
    unchanged = await probe.unchanged(*DEFINITION_TABLES, "crate")
    body = assert_problem(await call(admin, "entity", "reload_schema"), 409, "destructive-change")
    assert [(c["kind"], c["target"]) for c in body["changes"]] == [("drop_column", "weight")]
    await unchanged.check()
    assert "weight" in await table_columns(probe, "crate")
    done = result_of(await call(admin, "entity", "reload_schema", allow_destructive=True), "schema_change")
    assert done["applied"] is True
    assert "weight" not in await table_columns(probe, "crate")


async def test_broken_schema_files_are_400_and_change_nothing(admin: Api, settings: Settings, probe: Probe) -> None:
    unchanged = await probe.unchanged(*DEFINITION_TABLES)
    for text in ("entities: [\n", "entities:\n  - name: crate\n    colour: red\n", CRATE.replace("float", "floaty")):
        write_schema(settings, text)
        body = assert_problem(await call(admin, "entity", "reload_schema"), 400, "invalid-definition")
        assert body["errors"]
    bad_input = await call(admin, "entity", "reload_schema", dry_run="yes")
    assert assert_problem(bad_input, 422, "validation")["errors"][0]["field"] == "dry_run"
    await unchanged.check()
