"""`stateyard init --demo` as a real command: it builds the demo database once, and a rerun changes nothing."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.conftest import run_cli

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def count_rows(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        return {
            name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in ("customer", "order", "lead", "booking", "audit_log")
        }


def test_init_demo_twice(tmp_path: Path, server_env: dict[str, str]) -> None:
    shutil.copytree(REPO / "schema", tmp_path / "schema")
    shutil.copytree(REPO / "fixtures", tmp_path / "fixtures")
    database = tmp_path / "e2e.db"

    first = run_cli(["init", "--demo"], server_env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "create entity 'order'" in first.stdout
    assert "loaded 5 order row(s)" in first.stdout and "loaded 3 customer row(s)" in first.stdout
    after_first = count_rows(database)
    assert after_first["order"] == 5 and after_first["customer"] == 3
    assert after_first["lead"] > 0 and after_first["booking"] > 0

    second = run_cli(["init", "--demo"], server_env, tmp_path)
    assert second.returncode == 0, second.stderr
    assert "No changes: the database matches the schema files." in second.stdout
    loaded = [line for line in second.stdout.splitlines() if line.strip().startswith("loaded ")]
    assert len(loaded) == 4 and all(line.strip().startswith("loaded 0 ") for line in loaded), second.stdout
    assert count_rows(database) == after_first
