"""`stateyard import` and `stateyard export` as real commands, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from stateyard.core.db import Database
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, SECRET, run_cli
from tests.e2e.jobs_support import drop_schema

pytestmark = pytest.mark.e2e

PG_URL = os.environ.get("STATEYARD_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
SCHEMA = """
entities:
  - name: item
    columns:
      - {name: code, type: string, required: true, unique: true}
      - {name: name, type: string, label: Item name}
      - {name: quantity, type: integer, min: 0}
      - {name: due, type: date}
"""


def cli_env(base: dict[str, str], folder: Path, backend: str) -> dict[str, str]:
    """``base`` on the backend, with the item schema applied and an administrator (``stateyard init``)."""
    env = dict(base)
    if backend == "postgresql":
        assert PG_URL is not None
        env["STATEYARD_DATABASE_URL"] = PG_URL
        env["STATEYARD_DATABASE_SCHEMA"] = f"e2e_io_{uuid.uuid4().hex[:12]}"
    schema = folder / "schema"
    schema.mkdir(exist_ok=True)
    (schema / "items.yaml").write_text(SCHEMA)
    done = run_cli(["init"], env, folder)
    assert done.returncode == 0, done.stderr
    return env


def rows(env: dict[str, str], sql: str, **params: Any) -> list[dict[str, Any]]:
    """Run a query on the command's database, from this process."""
    from sqlalchemy import text

    async def run() -> list[dict[str, Any]]:
        db = Database(env["STATEYARD_DATABASE_URL"], schema=env.get("STATEYARD_DATABASE_SCHEMA"))
        try:
            async with db.read() as conn:
                return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, server_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    prepared = cli_env(server_env, tmp_path, str(request.param))
    yield prepared
    asyncio.run(drop_schema(prepared))


@pytest.fixture(scope="module", params=BACKENDS)
def refusing_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One install per backend for the tests of refusals, which write nothing."""
    folder = tmp_path_factory.mktemp("cli-refusals")
    base = {k: v for k, v in os.environ.items() if not k.startswith("STATEYARD_")}
    base.update(
        STATEYARD_DATABASE_URL=f"sqlite:///{folder / 'e2e.db'}",
        STATEYARD_SECRET_KEY=SECRET,
        STATEYARD_KEY_FILE=str(folder / "stateyard.key"),
        STATEYARD_ADMIN_EMAIL=ADMIN_EMAIL,
        STATEYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        STATEYARD_PASSWORD_HASH_TIME_COST="1",
        STATEYARD_PASSWORD_HASH_MEMORY_KIB="1024",
        STATEYARD_SCHEMA_DIR=str(folder / "schema"),
        STATEYARD_LOG_LEVEL="warning",
    )
    prepared = cli_env(base, folder, str(request.param))
    yield prepared
    asyncio.run(drop_schema(prepared))


def write_csv(path: Path, table: list[list[Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(table)
    return path


def codes(env: dict[str, str]) -> dict[str, int | None]:
    return {r["code"]: r["quantity"] for r in rows(env, "SELECT code, quantity FROM item ORDER BY code")}


def test_import_then_upsert_then_dry_run(env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "items.csv", [["Code", "Item name", "quantity"], ["A-1", "Hammer", "1"], ["A-2", "Nail", "2"]]
    )
    done = run_cli(["import", str(path), "--entity", "item"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Imported 2 row(s), updated 0, unchanged 0, failed 0, skipped 0" in done.stdout
    assert codes(env) == {"A-1": 1, "A-2": 2}
    audit = rows(env, "SELECT operation, actor_id FROM audit_log WHERE entity = 'item'")
    assert len(audit) == 2 and {a["operation"] for a in audit} == {"create"}
    assert {a["actor_id"] for a in audit} == {None}  # the system, without --as

    path = write_csv(tmp_path / "more.csv", [["code", "quantity"], ["A-1", "1"], ["A-2", "20"], ["A-3", "3"]])
    done = run_cli(["import", str(path), "--entity", "item", "--mode", "upsert", "--key", "code"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Imported 1 row(s), updated 1, unchanged 1" in done.stdout
    assert codes(env) == {"A-1": 1, "A-2": 20, "A-3": 3}

    path = write_csv(tmp_path / "dry.csv", [["code"], ["A-9"]])
    done = run_cli(["import", str(path), "--entity", "item", "--dry-run"], env, tmp_path)
    assert done.returncode == 0 and "Would import 1 row(s)" in done.stdout
    assert "A-9" not in codes(env)


def test_import_as_a_user_and_other_formats(env: dict[str, str], tmp_path: Path) -> None:
    done = run_cli(["user", "create", "--email", "alice@example.com", "--password", "alice-password-1"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"code": "J-1", "quantity": 5}) + "\n" + json.dumps({"code": "J-2"}) + "\n")
    done = run_cli(["import", str(path), "--entity", "item", "--as", "alice@example.com"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    (alice,) = rows(env, "SELECT id FROM user_account WHERE email = 'alice@example.com'")
    owners = {str(r["owner_id"]) for r in rows(env, "SELECT owner_id FROM item")}
    assert owners == {str(alice["id"])}

    book = openpyxl.Workbook()
    assert book.active is not None
    book.active.title = "Cover"
    sheet = book.create_sheet("Data")
    sheet.append(["code", "quantity", "due"])
    sheet.append(["X-1", 7, None])
    book.save(tmp_path / "items.xlsx")
    done = run_cli(["import", str(tmp_path / "items.xlsx"), "--entity", "item", "--sheet", "2"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    done = run_cli(
        [
            "import",
            str(tmp_path / "items.xlsx"),
            "--entity",
            "item",
            "--sheet",
            "Data",
            "--mode",
            "upsert",
            "--key",
            "code",
        ],
        env,
        tmp_path,
    )
    assert done.returncode == 0 and "unchanged 1" in done.stdout, done.stdout + done.stderr
    assert codes(env) == {"J-1": 5, "J-2": None, "X-1": 7}


def test_a_file_with_bad_rows_exits_1_listing_them_and_writes_nothing(env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [["code", "quantity"], ["A-1", "1"], ["", "2"], ["A-3", "-1"], ["A-1", "x"]])
    done = run_cli(["import", str(path), "--entity", "item"], env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "3 of 4 row(s) have errors; nothing was imported" in done.stderr
    assert "row 3, code:" in done.stderr and "row 4, quantity:" in done.stderr and "row 5, quantity:" in done.stderr
    assert codes(env) == {}
    assert rows(env, "SELECT count(*) AS n FROM audit_log WHERE entity = 'item'") == [{"n": 0}]
    done = run_cli(["import", str(path), "--entity", "item", "--on-error", "skip"], env, tmp_path)
    assert done.returncode == 1 and "Imported 1 row(s)" in done.stdout and "failed 3" in done.stdout
    assert codes(env) == {"A-1": 1}


@pytest.mark.parametrize(
    ("content", "name", "extra", "status", "words"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "items.csv", [], 2, "not a text file"),
        (b"code\nA-1\n", "items.xlsx", [], 2, "not an XLSX file"),
        (b'{"code": "A-1"}', "items.json", [], 2, "array"),
        (b"code\nA-1\n", "items.dat", [], 2, "cannot tell the format"),
        (b"code\nA-1\n", "items.csv", ["--mapping", "{not json"], 2, "error:"),
        (b"code\nA-1\n", "items.csv", ["--entity", "nothing"], 2, "nothing"),
        (b"code\nA-1\n", "items.csv", ["--as", "nobody@example.com"], 2, "nobody@example.com"),
        (b"code\nA-1\n", "items.csv", ["--mode", "upsert"], 1, "an upsert needs the key"),
        (b"code\nA-1\n", "items.csv", ["--mapping", '{"code": "colour"}'], 1, "mapping.code"),
        (b"code\nA-1\n", "items.csv", ["--strict", "--mapping", '{"code": null}'], 1, "code"),
    ],
)
def test_a_bad_file_or_option_exits_with_a_message(
    refusing_env: dict[str, str], tmp_path: Path, content: bytes, name: str, extra: list[str], status: int, words: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    args = ["import", str(path), *(["--entity", "item"] if "--entity" not in extra else []), *extra]
    done = run_cli(args, refusing_env, tmp_path)
    assert done.returncode == status, f"{done.returncode}\n{done.stdout}\n{done.stderr}"
    assert words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert codes(refusing_env) == {}


def test_a_missing_file_is_a_usage_error(refusing_env: dict[str, str], tmp_path: Path) -> None:
    done = run_cli(["import", str(tmp_path / "nope.csv"), "--entity", "item"], refusing_env, tmp_path)
    assert done.returncode == 2 and "does not exist" in done.stderr


def test_export_in_every_format(env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "items.csv",
        [["code", "name", "quantity", "due"], ["A-2", "=cmd()", "2", "2024-01-02"], ["A-1", "Hammer", "1", ""]],
    )
    assert run_cli(["import", str(path), "--entity", "item"], env, tmp_path).returncode == 0
    done = run_cli(
        ["export", "--entity", "item", "--format", "xlsx", "-o", "out.xlsx", "--sort", "code"], env, tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "Exported 2 row(s) to out.xlsx" in done.stdout
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx").worksheets[0]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0] == ["id", "code", "name", "quantity", "due"]
    assert [r[1:] for r in table[1:]] == [["A-1", "Hammer", 1, None], ["A-2", "'=cmd()", 2, table[2][4]]]
    assert table[2][4].date().isoformat() == "2024-01-02"
    assert not (tmp_path / "out.xlsx.partial").exists()

    done = run_cli(
        ["export", "--entity", "item", "-o", "out.csv", "--columns", "code,quantity", "--sort", "-code"], env, tmp_path
    )
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
    assert list(csv.reader(io.StringIO(text))) == [["code", "quantity"], ["A-2", "2"], ["A-1", "1"]]

    condition = json.dumps({"field": "quantity", "op": "gt", "value": 1})
    done = run_cli(
        [
            "export",
            "--entity",
            "item",
            "--format",
            "json",
            "-o",
            "out.json",
            "--filter",
            condition,
            "--columns",
            "code",
        ],
        env,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == [{"code": "A-2"}]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--columns", "code,colour"], "colour"),
        (["--filter", "{oops"], "--filter is not valid JSON"),
        (["--filter", '{"field": "colour", "op": "equals", "value": 1}'], "colour"),
        (["--sort", "colour"], "colour"),
        (["--entity", "nothing"], "nothing"),
    ],
)
def test_export_refusals_exit_2_and_leave_no_file(
    refusing_env: dict[str, str], tmp_path: Path, extra: list[str], words: str
) -> None:
    args = ["export", *(["--entity", "item"] if "--entity" not in extra else []), "-o", "out.csv", *extra]
    done = run_cli(args, refusing_env, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.csv.partial").exists()


def test_a_filter_the_database_cannot_run_exits_2_and_leaves_no_file(env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "items.csv", [["code", "name"], ["A-1", "abc"]])
    assert run_cli(["import", str(path), "--entity", "item"], env, tmp_path).returncode == 0
    condition = json.dumps({"field": "name", "op": "regex", "value": "(?P<x>a)"})
    done = run_cli(["export", "--entity", "item", "-o", "out.csv", "--filter", condition], env, tmp_path)
    assert "Traceback" not in done.stderr, done.stderr
    if env["STATEYARD_DATABASE_URL"].startswith("postgresql"):
        assert done.returncode == 2 and "could not run this filter" in done.stderr, done.stderr
        assert not (tmp_path / "out.csv").exists()
    else:
        assert done.returncode == 0, done.stderr
    assert not (tmp_path / "out.csv.partial").exists()


def test_a_file_over_the_import_limit_exits_2(env: dict[str, str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "items.csv", [["code"], *([f"A-{i}"] for i in range(100))])
    done = run_cli(["import", str(path), "--entity", "item"], {**env, "STATEYARD_IMPORT_MAX_BYTES": "100"}, tmp_path)
    assert done.returncode == 2 and "larger than" in done.stderr, done.stderr
    done = run_cli(["import", str(path), "--entity", "item"], {**env, "STATEYARD_IMPORT_MAX_ROWS": "10"}, tmp_path)
    assert done.returncode == 2 and "more than 10 rows" in done.stderr, done.stderr
    assert codes(env) == {}
