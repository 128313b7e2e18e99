"""An import killed while it writes leaves whole committed batches; the same upsert run again completes it.

The command runs as a real process. Once some rows are committed it is killed with SIGKILL (no
clean-up of any kind runs), and what is stored is checked: a whole number of batches, each row
with its audit record. Running the same command again finishes the import: every row exactly once.
"""

from __future__ import annotations

import asyncio
import csv
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import stateyard_command
from tests.e2e.jobs_support import drop_schema
from tests.e2e.test_import_cli import BACKENDS, cli_env, rows

pytestmark = pytest.mark.e2e

ROWS = 30_000
BATCH = 25
#: Bounds on waiting for the child: generous, they only matter when something is broken.
DEADLINE_SECONDS = 120.0


@pytest.fixture(params=BACKENDS)
def env(request: pytest.FixtureRequest, server_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    prepared = cli_env(server_env, tmp_path, str(request.param))
    prepared["STATEYARD_IMPORT_BATCH_SIZE"] = str(BATCH)
    yield prepared
    asyncio.run(drop_schema(prepared))


def big_file(path: Path) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "name", "quantity", "due"])
        writer.writerows([f"C-{i:06d}", f"item number {i}", i % 97, "2024-01-02"] for i in range(ROWS))
    return path


def stored(env: dict[str, str]) -> tuple[int, int]:
    """(item rows, item audit records)."""
    found = rows(
        env,
        "SELECT (SELECT count(*) FROM item) AS items, (SELECT count(*) FROM audit_log WHERE entity = 'item') AS audits",
    )
    return int(found[0]["items"]), int(found[0]["audits"])


def test_a_killed_import_leaves_whole_batches_and_a_rerun_completes_it(env: dict[str, str], tmp_path: Path) -> None:
    path = big_file(tmp_path / "big.csv")
    command = [*stateyard_command(), "import", str(path), "--entity", "item", "--mode", "upsert", "--key", "code"]
    log = tmp_path / "first.log"
    with log.open("wb") as sink:
        child = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        while stored(env)[0] == 0:
            assert child.poll() is None, f"the import ended before it could be killed\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no rows committed in time\n{log.read_text()}"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    items, audits = stored(env)
    assert 0 < items < ROWS, f"killed too late to test anything: {items} rows"
    assert items % BATCH == 0, f"{items} rows is not a whole number of {BATCH}-row batches"
    assert audits == items
    orphans = rows(
        env,
        "SELECT count(*) AS n FROM audit_log a WHERE a.entity = 'item' AND NOT EXISTS "
        "(SELECT 1 FROM item i WHERE i.id = a.row_id)",
    )
    assert orphans == [{"n": 0}]
    # Batches commit in file order: what is stored is a prefix of the file.
    first_codes = [r["code"] for r in rows(env, "SELECT code FROM item ORDER BY code")]
    assert first_codes == [f"C-{i:06d}" for i in range(items)]

    again = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Imported {ROWS - items} row(s), updated 0, unchanged {items}, failed 0" in again.stdout, again.stdout
    items, audits = stored(env)
    assert (items, audits) == (ROWS, ROWS)
    per_code = rows(env, "SELECT count(DISTINCT code) AS codes, count(DISTINCT id) AS ids FROM item")
    assert per_code == [{"codes": ROWS, "ids": ROWS}]
    per_row = rows(
        env, "SELECT count(DISTINCT row_id) AS n FROM audit_log WHERE entity = 'item' AND operation = 'create'"
    )
    assert per_row == [{"n": ROWS}]
