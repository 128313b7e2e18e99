"""`stateyard schema diff/apply` against the test's database, as an operator would run them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from stateyard.cli import main
from stateyard.config import Settings
from stateyard.entities.loader import load_folder
from tests.conftest import Api, assert_problem
from tests.integration.entities.conftest import Probe

BOARD = """
groups:
  - {{name: editors, label: Editors}}
entities:
  - name: board
    columns:
      - {{name: title, type: string, required: true}}
{extra}    permissions:
      table: {{owner: [all], group: [{verbs}]}}
      row: {{owner: [all], group: [peek, read]}}
    groups: [users, editors]
"""
BODY = "      - {name: body, type: text}\n"


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the CLI's own Platform at this test's database and schema folder."""
    monkeypatch.setenv("STATEYARD_DATABASE_URL", settings.database_url)
    if settings.database_schema:
        monkeypatch.setenv("STATEYARD_DATABASE_SCHEMA", settings.database_schema)
    else:
        monkeypatch.delenv("STATEYARD_DATABASE_SCHEMA", raising=False)
    assert settings.secret_key
    monkeypatch.setenv("STATEYARD_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("STATEYARD_KEY_FILE", settings.key_file)
    monkeypatch.setenv("STATEYARD_SCHEMA_DIR", settings.schema_dir)
    monkeypatch.setenv("STATEYARD_LOG_LEVEL", "warning")
    for name in ("STATEYARD_ADMIN_EMAIL", "STATEYARD_ADMIN_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    folder = Path(settings.schema_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def run(*args: str) -> Result:
    """Run the CLI in a thread: it starts its own event loop with asyncio.run."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), catch_exceptions=False)


async def apply(probe: Probe, folder: Path) -> None:
    """Set the scene through the app's own platform, sparing a CLI start."""
    document = load_folder(folder)
    result = await probe.call(probe.platform.entities.apply, document.entities, groups=document.groups)
    assert result.applied


async def refreshed(probe: Probe) -> None:
    """The CLI is another process as far as the app knows; stand in for its schema poll."""
    await probe.call(probe.platform.registry.refresh)


def board(verbs: str = "peek, read", extra: str = BODY) -> str:
    return BOARD.format(verbs=verbs, extra=extra)


async def test_apply_twice_reports_no_changes(cli_env: Path, probe: Probe, admin: Api) -> None:
    (cli_env / "board.yaml").write_text(board())
    first = await run("schema", "apply")
    assert first.exit_code == 0, first.output
    assert "create entity 'board'" in first.output
    assert "create group 'editors'" in first.output
    assert "Applied 2 change(s), 0 destructive" in first.output
    await refreshed(probe)
    state = await probe.state()
    second = await run("schema", "apply")
    assert second.exit_code == 0, second.output
    assert "No changes" in second.output
    assert await probe.state() == state
    assert (await admin.post("/api/board", {"title": "hello"})).status_code == 201
    groups = (await admin.get("/api/usergroup", params={"per_page": "100"})).json()["data"]
    assert "editors" in {g["name"] for g in groups}


async def test_diff_shows_without_applying(cli_env: Path, probe: Probe) -> None:
    (cli_env / "board.yaml").write_text(board())
    before = await probe.state()
    result = await run("schema", "diff")
    assert result.exit_code == 0, result.output
    assert "create entity 'board'" in result.output
    assert "Would apply 2 change(s)" in result.output
    assert await probe.state() == before


async def test_a_permission_changed_in_the_file_changes_access(cli_env: Path, probe: Probe, admin: Api) -> None:
    (cli_env / "board.yaml").write_text(board(verbs="peek, read, create"))
    await apply(probe, cli_env)
    user = await admin.signup("member@example.com")
    assert (await user.post("/api/board", {"title": "mine"})).status_code == 201

    (cli_env / "board.yaml").write_text(board(verbs="peek, read"))
    result = await run("schema", "apply")
    assert result.exit_code == 0, result.output
    assert "board: change permissions" in result.output
    await refreshed(probe)
    assert_problem(await user.post("/api/board", {"title": "again"}), 403, "forbidden")
    assert (await user.get("/api/board")).json()["meta"]["total"] == 1


async def test_dropping_a_column_needs_allow_destructive(cli_env: Path, probe: Probe, admin: Api) -> None:
    (cli_env / "board.yaml").write_text(board())
    await apply(probe, cli_env)
    assert (await admin.post("/api/board", {"title": "kept", "body": "lost"})).status_code == 201
    (cli_env / "board.yaml").write_text(board(extra=""))
    before = await probe.state()

    refused = await run("schema", "apply")
    assert refused.exit_code == 1, refused.output
    assert "allow_destructive" in refused.output
    assert "! board: drop column 'body'" in refused.output
    assert await probe.state() == before

    applied = await run("schema", "apply", "--allow-destructive")
    assert applied.exit_code == 0, applied.output
    assert "! board: drop column 'body'" in applied.output
    assert "Applied 1 change(s), 1 destructive" in applied.output
    await refreshed(probe)
    assert "body" not in (await probe.tables())["board"]
    (row,) = (await admin.get("/api/board")).json()["data"]
    assert row["title"] == "kept"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("entities:\n  - name: board\n    colour: red\n", "colour", id="unknown key"),
        pytest.param("entities: [\n", "cannot be read", id="invalid yaml"),
    ],
)
async def test_a_bad_file_is_named_and_nothing_changes(cli_env: Path, probe: Probe, text: str, expected: str) -> None:
    before = await probe.state()
    bad = cli_env / "bad.yaml"
    bad.write_text(text)
    result = await run("schema", "apply")
    assert result.exit_code == 2, result.output
    assert f"error: {bad}" in result.output
    assert expected in result.output
    assert await probe.state() == before


async def test_an_invalid_definition_names_each_problem(cli_env: Path, probe: Probe) -> None:
    before = await probe.state()
    (cli_env / "bad.yaml").write_text("entities:\n  - name: Board\n    columns: [{name: n, type: colour}]\n")
    result = await run("schema", "apply")
    assert result.exit_code == 2, result.output
    assert "  name: 'Board' is not a valid entity name" in result.output
    assert "  columns[0].type: unknown column type 'colour'" in result.output
    assert await probe.state() == before


async def test_the_same_entity_in_two_files_is_refused(cli_env: Path, probe: Probe) -> None:
    (cli_env / "a.yaml").write_text(board())
    (cli_env / "b.yaml").write_text("entities:\n  - name: board\n")
    before = await probe.state()
    result = await run("schema", "apply")
    assert result.exit_code == 2, result.output
    assert str(cli_env / "a.yaml") in result.output and str(cli_env / "b.yaml") in result.output
    assert await probe.state() == before
