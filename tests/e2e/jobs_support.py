"""Real ``stateyard`` worker processes sharing a simulated time (``STATEYARD_CLOCK=file:``) and one database.

The test prepares the database through a :class:`Platform` in its own process, starts the
workers as children, moves the time by rewriting the clock file, and reads the outcome from the
database. Waiting on other processes is polling with a deadline, never a sleep for time to pass.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text

from stateyard.auth.permissions import Subject
from stateyard.config import load_settings
from stateyard.core.db import Database
from stateyard.platform import Platform
from tests.e2e.conftest import ADMIN_EMAIL, stateyard_command

T = TypeVar("T")

PG_URL = os.environ.get("STATEYARD_TEST_DATABASE_URL")
#: Bounds on waiting for other processes: generous, as they only matter when something is broken.
START_DEADLINE = 30.0
STEP_DEADLINE = 10.0


class SharedClock:
    """The file every process reads "now" from; rewritten atomically so no reader sees half a time."""

    def __init__(self, path: Path, start: datetime) -> None:
        self.path = path
        self.now = start
        self.set(start)

    def set(self, moment: datetime) -> None:
        self.now = moment
        partial = self.path.with_suffix(".tmp")
        partial.write_text(moment.isoformat())
        os.replace(partial, self.path)


class Processes:
    """Children started by a test; each one's output goes to a log file for the failure message."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.started: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = self.folder / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [*stateyard_command(), *args], env=self.env, cwd=self.folder, stdout=sink, stderr=subprocess.STDOUT
            )
        self.started.append((name, process, log))
        return process

    def logs(self) -> str:
        return "\n".join(f"--- {name} ---\n{log.read_text(errors='replace')}" for name, _, log in self.started)

    def stop_all(self) -> None:
        for _, process, _ in self.started:
            if process.poll() is None:
                process.terminate()
        for _, process, _ in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_for(what: str, check: Callable[[], Awaitable[T | None]], deadline: float, procs: Processes) -> T:
    """Poll ``check`` until it returns something, failing with the children's logs after ``deadline`` s."""
    limit = time.monotonic() + deadline
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > limit:
            raise AssertionError(f"gave up waiting for {what} after {deadline} s\n{procs.logs()}")
        await asyncio.sleep(0.02)


def worker_env(base: dict[str, str], folder: Path, backend: str) -> dict[str, str]:
    env = dict(base)
    env.update(
        STATEYARD_CLOCK=f"file:{folder / 'now.txt'}",
        STATEYARD_WORKER_POLL_SECONDS="0.05",
        STATEYARD_JOB_LEASE_SECONDS="30",
        STATEYARD_SCHEMA_POLL_SECONDS="0.5",
    )
    if backend == "postgresql":
        assert PG_URL is not None
        env["STATEYARD_DATABASE_URL"] = PG_URL
        env["STATEYARD_DATABASE_SCHEMA"] = f"e2e_jobs_{uuid.uuid4().hex[:12]}"
    return env


@asynccontextmanager
async def platform_for(env: dict[str, str]) -> AsyncIterator[tuple[Platform, Subject]]:
    """A Platform on the children's database and clock, with the administrator's subject."""
    platform = Platform(load_settings(env, run_worker=False))
    await platform.start()
    try:
        user = await platform.auth.find_user(ADMIN_EMAIL)
        assert user is not None
        yield platform, await platform.auth.subject_for_user(user["id"])
    finally:
        await platform.stop()


async def query(db: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings()]


async def drop_schema(env: dict[str, str]) -> None:
    schema = env.get("STATEYARD_DATABASE_SCHEMA")
    if not schema:
        return
    db = Database(env["STATEYARD_DATABASE_URL"])
    try:
        async with db.write() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await db.dispose()
