"""Real ``stateyard`` worker processes sharing a simulated time (``STATEYARD_CLOCK=file:``) and one database.

The test prepares the database through a :class:`Platform` in its own process, starts the
workers as children, moves the time by rewriting the clock file, and reads the outcome from the
database. Waiting on other processes is polling with a deadline, never a sleep for time to pass.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, text

from stateyard.auth.permissions import Subject
from stateyard.config import load_settings
from stateyard.core.db import Database
from stateyard.platform import Platform
from tests.e2e.conftest import ADMIN_EMAIL, stateyard_command

T = TypeVar("T")

PG_URL = os.environ.get("STATEYARD_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
#: Bounds on waiting for other processes: generous, as they only matter when something is broken.
START_DEADLINE = 30.0
STEP_DEADLINE = 30.0


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

    def log_of(self, name: str) -> str:
        return next(log.read_text(errors="replace") for n, _, log in self.started if n == name)

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


async def wait_started(procs: Processes, name: str) -> None:
    """Until the ``stateyard worker`` child ``name`` says it started (its platform is up and it works)."""

    async def said() -> bool:
        process = next(p for n, p, _ in procs.started if n == name)
        if process.poll() is not None:
            raise AssertionError(f"{name} exited with {process.returncode}\n{procs.logs()}")
        return "started" in procs.log_of(name)

    await wait_for(f"{name} to start", said, START_DEADLINE, procs)


async def working(platform: Platform, procs: Processes) -> str:
    """Enqueue a no-op job and wait until a worker child ran it: proof that one is up and claiming.

    Answers the name (``host:pid:tag``) of the worker that ran it.
    """
    table = platform.queue.table
    async with platform.db.write() as conn:
        job_id = await platform.queue.enqueue(conn, "noop", {"canary": True})

    async def ran() -> str | None:
        async with platform.db.read() as conn:
            row = (await conn.execute(select(table).where(table.c.id == job_id))).mappings().one()
        return str(row["lease_owner"]) if row["status"] == "succeeded" else None

    return await wait_for("a worker to run a canary job", ran, START_DEADLINE, procs)


async def create(platform: Platform, subject: Subject, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    """A row created through the platform's records service, as the API would (hooks, checks, audit)."""
    row = await platform.records.create(subject, entity, body)
    assert isinstance(row, dict)
    return row


class Remote:
    """A loopback HTTP service for a task's action to call (``POST /work``), run in a thread of the test.

    Each call answers ``{"n": <calls so far>}``. While held, a call waits (up to ``HOLD_LIMIT``
    seconds) until released: a worker blocked mid-job for real, with no hook in the platform.
    """

    HOLD_LIMIT = 60.0

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self._held = False
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def hold(self) -> None:
        self._released.clear()
        self._held = True

    def release(self) -> None:
        self._held = False
        self._released.set()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        remote = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with remote._lock:
                    remote.calls += 1
                    n = remote.calls
                if remote._held:
                    remote._released.wait(remote.HOLD_LIMIT)
                body = json.dumps({"n": n}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the caller was killed while it waited

        return Handler
