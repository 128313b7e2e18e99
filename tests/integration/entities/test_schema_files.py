"""Schema files applied with the entity service: idempotent, authoritative, explicit about loss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stateyard.config import Settings
from stateyard.core.errors import ProblemError
from stateyard.entities.loader import load_folder
from stateyard.entities.service import ApplyResult
from stateyard.platform import Platform
from tests.conftest import Api, assert_problem
from tests.integration.entities.conftest import Probe

BOARD = """
entities:
  - name: board
    label: Board
    columns:
      - {{name: title, type: string, required: true}}
      - {{name: body, type: text}}
    permissions:
      table: {{owner: [all], group: [{verbs}]}}
      row: {{owner: [all], group: [peek, read]}}
    row_groups: [users]
"""


def write(settings: Settings, name: str, text: str) -> Path:
    folder = Path(settings.schema_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


async def apply(probe: Probe, settings: Settings, **options: Any) -> ApplyResult:
    document = load_folder(Path(settings.schema_dir))
    platform: Platform = probe.platform
    return await probe.call(platform.entities.apply, document.entities, groups=document.groups, **options)


async def test_applying_twice_changes_nothing_the_second_time(probe: Probe, settings: Settings, admin: Api) -> None:
    write(settings, "board.yaml", BOARD.format(verbs="peek, read"))
    first = await apply(probe, settings)
    assert first.applied
    assert [c.kind for c in first.changes] == ["create_entity"]
    state = await probe.state()
    second = await apply(probe, settings)
    assert (second.applied, second.changes) == (False, [])
    assert await probe.state() == state
    assert (await admin.post("/api/board", {"title": "hello"})).status_code == 201


async def test_a_permission_changed_in_the_file_changes_access(probe: Probe, settings: Settings, admin: Api) -> None:
    write(settings, "board.yaml", BOARD.format(verbs="peek, read"))
    await apply(probe, settings)
    user = await admin.signup("member@example.com")
    assert_problem(await user.post("/api/board", {"title": "mine"}), 403, "forbidden")

    write(settings, "board.yaml", BOARD.format(verbs="peek, read, create"))
    result = await apply(probe, settings)
    assert [(c.kind, c.detail) for c in result.changes] == [("update_entity", "change permissions")]
    assert (await user.post("/api/board", {"title": "mine"})).status_code == 201

    write(settings, "board.yaml", BOARD.format(verbs="peek"))
    await apply(probe, settings)
    assert_problem(await user.post("/api/board", {"title": "again"}), 403, "forbidden")
    assert_problem(await user.get("/api/board"), 403, "forbidden")


async def test_the_file_wins_over_changes_made_through_the_api(probe: Probe, settings: Settings, admin: Api) -> None:
    write(settings, "board.yaml", BOARD.format(verbs="peek, read"))
    await apply(probe, settings)
    entity = (
        await admin.get("/api/entity", params={"filter": '{"field":"name","op":"equals","value":"board"}'})
    ).json()
    entity_id = entity["data"][0]["id"]
    opened = {"permissions": {"table": {"owner": ["all"], "group": ["all"]}, "row": {"owner": ["all"]}}}
    assert (await admin.patch(f"/api/entity/{entity_id}", opened)).status_code == 200
    user = await admin.signup("member@example.com")
    assert (await user.post("/api/board", {"title": "sneaky"})).status_code == 201

    result = await apply(probe, settings)
    assert [c.kind for c in result.changes] == ["update_entity"]
    assert_problem(await user.post("/api/board", {"title": "again"}), 403, "forbidden")
    shown = (await admin.get(f"/api/entity/{entity_id}")).json()
    assert shown["table_permission"]["group"] == ["peek", "read"]


async def test_groups_declared_in_files_are_created(probe: Probe, settings: Settings, admin: Api) -> None:
    write(settings, "groups.yaml", "groups:\n  - {name: editors, label: Editors}\n")
    write(
        settings,
        "page.yaml",
        "entities:\n  - name: page\n    columns: [{name: title, type: string}]\n    groups: [editors]\n",
    )
    result = await apply(probe, settings)
    assert result.applied
    groups = (await admin.get("/api/usergroup", params={"per_page": "100"})).json()["data"]
    assert {"name": "editors", "label": "Editors"}.items() <= next(g for g in groups if g["name"] == "editors").items()
    assert (await apply(probe, settings)).changes == []
    write(settings, "groups.yaml", "groups:\n  - {name: editors, label: Page editors}\n")
    changed = await apply(probe, settings)
    assert [c.detail for c in changed.changes] == ["change group 'editors'"]
    groups = (await admin.get("/api/usergroup", params={"per_page": "100"})).json()["data"]
    assert next(g for g in groups if g["name"] == "editors")["label"] == "Page editors"


async def test_removing_a_column_from_the_file_needs_allow_destructive(
    probe: Probe, settings: Settings, admin: Api
) -> None:
    write(settings, "board.yaml", BOARD.format(verbs="peek, read"))
    await apply(probe, settings)
    assert (await admin.post("/api/board", {"title": "kept", "body": "lost"})).status_code == 201
    write(settings, "board.yaml", BOARD.format(verbs="peek, read").replace("      - {name: body, type: text}\n", ""))
    before = await probe.state()
    with pytest.raises(ProblemError) as refused:
        await apply(probe, settings)
    assert refused.value.code == "destructive-change"
    assert [c["target"] for c in refused.value.extensions["changes"]] == ["body"]
    assert await probe.state() == before

    dry = await apply(probe, settings, dry_run=True)
    assert [(c.kind, c.target, c.destructive) for c in dry.changes] == [("drop_column", "body", True)]
    assert await probe.state() == before

    done = await apply(probe, settings, allow_destructive=True)
    assert done.applied
    assert "body" not in (await probe.tables())["board"]
    (row,) = (await admin.get("/api/board")).json()["data"]
    assert row["title"] == "kept" and "body" not in row


async def test_an_invalid_definition_in_a_file_changes_nothing(probe: Probe, settings: Settings) -> None:
    write(settings, "board.yaml", BOARD.format(verbs="peek, read"))
    write(settings, "broken.yaml", "entities:\n  - name: broken\n    columns: [{name: n, type: colour}]\n")
    before = await probe.state()
    with pytest.raises(ProblemError) as refused:
        await apply(probe, settings)
    assert refused.value.status == 400
    assert [(e.field, e.code) for e in refused.value.errors or []] == [("broken.columns[0].type", "unknown_type")]
    assert await probe.state() == before
