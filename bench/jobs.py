"""Job queue throughput and scheduled-task lateness, against a bare claim-and-update loop in the same run.

    .venv/bin/python -m bench.jobs [--database postgresql://postgres@127.0.0.1/test] [--jobs 20000]
        [--workers 1,2] [--concurrency 4] [--rounds 1] [--tasks 60] [--lateness-workers 1]
        [--skip-lateness] [--json FILE] [--keep]

1. A fresh database (SQLite in a temp folder, or a fresh schema in the given PostgreSQL database) is
   bootstrapped by a Platform in this process.
2. Drain: for each worker count, ``--jobs`` no-op jobs are enqueued in one transaction, then drained
   by that many worker processes, timed from the commit until no job is queued or running:
   * ours: ``stateyard worker`` processes (``--concurrency`` jobs in flight each), enqueued
     through ``JobQueue.enqueue``;
   * bare: ``python -m bench.jobs --bare-worker`` processes, the same claim SQL idea with no
     platform around it (the same stack and engine set-up: SQLAlchemy Core, aiosqlite/asyncpg,
     one ``BEGIN IMMEDIATE`` writer on SQLite): claim ``--concurrency`` due jobs with one
     ``UPDATE ... RETURNING`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), mark each succeeded in
     its own transaction, repeat; enqueued with one plain INSERT per job.
   Each pair alternates who goes first round after round; the table prints jobs/s for both and
   the ratio ours/bare (target >= 0.5).
3. Lateness: ``--tasks`` scheduled tasks (each runs a declared action that creates a row) are due
   in the same minute of the real clock, with ``--lateness-workers`` ``stateyard worker``
   processes running; lateness is each run's ``started_at - scheduled_for`` (p50, p99, max;
   target p99 <= 1 s). This waits for the next minute boundary (up to about 75 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
    bindparam,
    event,
    func,
    insert,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
ADMIN_EMAIL, ADMIN_PASSWORD = "bench-admin@example.com", "bench-password-1"
TARGET_RATIO = 0.5
TARGET_P99_SECONDS = 1.0
#: How often an idle worker looks for work: the platform's default, for ours and bare alike.
POLL_SECONDS = 0.2

PING = {"name": "bench_ping", "columns": [{"name": "n", "type": "integer"}]}
BEAT = {
    "name": "beat",
    "entity": "bench_ping",
    "outcomes": [{"type": "bench_ping", "method": "create", "attributes": {"n": 1}}],
}

# -- the bare side: the job table as a hand-written app would declare it --------------------

metadata = MetaData()
json_type = JSON().with_variant(JSONB(), "postgresql")
jobs = Table(
    "job",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("version", Integer(), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("owner_id", Uuid()),
    Column("permission", Integer(), nullable=False),
    Column("kind", String(63)),
    Column("payload", json_type),
    Column("status", String(32)),
    Column("run_at", DateTime(timezone=True)),
    Column("priority", Integer()),
    Column("attempts", Integer()),
    Column("max_attempts", Integer()),
    Column("backoff", json_type),
    Column("lease_owner", String(200)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("last_error", Text()),
    Column("idempotency_key", String(255)),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("result", json_type),
)
LEASE = timedelta(seconds=30)


def bare_engines(url: str, schema: str | None) -> tuple[AsyncEngine, AsyncEngine]:
    """(writer, reader) with the platform's engine set-up, without the platform."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        url = parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
        writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
        reader = create_async_engine(url, pool_size=2, max_overflow=2)
        for engine, begin in ((writer, "BEGIN IMMEDIATE"), (reader, "BEGIN")):
            _sqlite_setup(engine, begin)
        return writer, reader
    url = parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    args = {"server_settings": {"search_path": schema}} if schema else {}
    engine = create_async_engine(url, pool_size=10, max_overflow=10, connect_args=args)
    return engine, engine


def _sqlite_setup(engine: AsyncEngine, begin: str) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)


async def bare_worker(url: str, schema: str | None, concurrency: int) -> None:
    """Claim up to ``concurrency`` due jobs, mark each succeeded in its own transaction, repeat."""
    writer, _ = bare_engines(url, schema)
    sqlite = writer.dialect.name == "sqlite"
    name = f"bare:{os.getpid()}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    async def claim() -> list[Any]:
        now = datetime.now(UTC)
        due: Any
        if sqlite:
            # As the platform does: name the claim index (SQLite's planner would sort every queued job).
            due = (
                text(
                    "SELECT id FROM job INDEXED BY ix_job_claim WHERE status = 'queued' AND run_at <= :now "
                    "ORDER BY priority DESC, run_at, id LIMIT :limit"
                )
                .bindparams(bindparam("now", now, type_=jobs.c.run_at.type), bindparam("limit", concurrency))
                .columns(jobs.c.id)
            )
        else:
            due = select(
                select(jobs.c.id)
                # The status as a literal, so that the planner may use the partial index of queued jobs.
                .where(jobs.c.status == literal_column("'queued'"), jobs.c.run_at <= now)
                .order_by(jobs.c.priority.desc(), jobs.c.run_at, jobs.c.id)
                .limit(concurrency)
                .with_for_update(skip_locked=True)
                .cte("due")
                .prefix_with("MATERIALIZED")
                .c.id
            )
        stmt = (
            update(jobs)
            .where(jobs.c.id.in_(due), jobs.c.status == "queued")
            .values(
                status="running",
                lease_owner=name,
                lease_expires_at=now + LEASE,
                attempts=jobs.c.attempts + 1,
                started_at=now,
                version=jobs.c.version + 1,
                updated_at=now,
            )
            .returning(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts)
        )
        async with writer.begin() as conn:
            return list(await conn.execute(stmt))

    async def finish(job: Any) -> None:
        now = datetime.now(UTC)
        async with writer.begin() as conn:
            await conn.execute(
                update(jobs)
                .where(jobs.c.id == job.id, jobs.c.lease_owner == name, jobs.c.status == "running")
                .values(
                    status="succeeded",
                    result={"ok": True},
                    last_error=None,
                    finished_at=now,
                    updated_at=now,
                    version=jobs.c.version + 1,
                )
            )

    print("ready", flush=True)
    try:
        while not stop.is_set():
            claimed = await claim()
            if not claimed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_SECONDS)
                continue
            await asyncio.gather(*(finish(job) for job in claimed))
    finally:
        await writer.dispose()


async def bare_enqueue(writer: AsyncEngine, count: int, permission: int) -> None:
    now = datetime.now(UTC)
    stmt = insert(jobs)
    async with writer.begin() as conn:
        for n in range(count):
            await conn.execute(
                stmt,
                {
                    "id": uuid.uuid4(),
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                    "owner_id": None,
                    "permission": permission,
                    "kind": "noop",
                    "payload": {"n": n},
                    "status": "queued",
                    "run_at": now,
                    "priority": 0,
                    "attempts": 0,
                    "max_attempts": 5,
                    "backoff": {"initial": 5.0, "multiplier": 2.0, "maximum": 3600.0, "jitter": 0.1},
                    "idempotency_key": None,
                },
            )


# -- processes ----------------------------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def spawn(name: str, command: list[str], env: dict[str, str], folder: Path) -> Child:
    log = folder / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)
    return Child(name, process, log)


def wait_ready(child: Child, marker: str, deadline_seconds: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if marker in child.output():
            return
        if child.process.poll() is not None:
            raise SystemExit(f"{child.name} exited:\n{child.output()}")
        time.sleep(0.05)
    raise SystemExit(f"{child.name} did not start:\n{child.output()}")


def stop(child: Child) -> None:
    if child.process.poll() is None:
        child.process.send_signal(signal.SIGTERM)
        try:
            child.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def start_workers(kind: str, count: int, args: argparse.Namespace, env: dict[str, str], folder: Path) -> list[Child]:
    children = []
    for n in range(count):
        if kind == "ours":
            command = [str(Path(sys.executable).with_name("stateyard")), "worker", f"--concurrency={args.concurrency}"]
            child = spawn(f"ours-{n}", command, env, folder)
        else:
            command = [sys.executable, "-m", "bench.jobs", "--bare-worker", f"--concurrency={args.concurrency}"]
            command += [f"--database={env['STATEYARD_DATABASE_URL']}"]
            if env.get("STATEYARD_DATABASE_SCHEMA"):
                command.append(f"--schema={env['STATEYARD_DATABASE_SCHEMA']}")
            child = spawn(f"bare-{n}", command, env, folder)
        children.append(child)
    for child in children:
        wait_ready(child, "started" if kind == "ours" else "ready")
    return children


# -- measurements -------------------------------------------------------------------------


async def any_open(reader: AsyncEngine) -> bool:
    """Whether a job is still queued or running (one index probe: the poll must not load the database)."""
    async with reader.connect() as conn:
        return await conn.scalar(select(jobs.c.id).where(jobs.c.status.in_(("queued", "running"))).limit(1)) is not None


async def clear_jobs(writer: AsyncEngine) -> None:
    async with writer.begin() as conn:
        await conn.execute(jobs.delete())


async def drain(kind: str, workers: int, args: argparse.Namespace, env: dict[str, str], folder: Path) -> dict[str, Any]:
    """Enqueue ``args.jobs`` no-op jobs with ``workers`` processes waiting, and time until all are done."""
    from stateyard.config import load_settings
    from stateyard.platform import Platform

    writer, reader = bare_engines(env["STATEYARD_DATABASE_URL"], env.get("STATEYARD_DATABASE_SCHEMA"))
    platform = Platform(load_settings(env, run_worker=False))
    await platform.start()
    children: list[Child] = []
    try:
        await clear_jobs(writer)
        children = await asyncio.to_thread(start_workers, kind, workers, args, env, folder)
        started = time.perf_counter()
        if kind == "ours":
            async with platform.db.write() as conn:
                for n in range(args.jobs):
                    await platform.queue.enqueue(conn, "noop", {"n": n})
        else:
            await bare_enqueue(writer, args.jobs, platform.registry.snapshot.models["job"].row_permission)
        committed = time.perf_counter()
        deadline = committed + args.timeout
        while await any_open(reader):
            if time.perf_counter() > deadline:
                logs = "\n".join(f"--- {c.name}\n{c.output()[-3000:]}" for c in children)
                raise SystemExit(f"{kind} with {workers} worker(s) did not drain in {args.timeout} s\n{logs}")
            await asyncio.sleep(0.05)
        drained = time.perf_counter()
        async with reader.connect() as conn:
            statuses = dict((await conn.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))).all())
            owners = int(await conn.scalar(select(func.count(func.distinct(jobs.c.lease_owner)))) or 0)
        if statuses != {"succeeded": args.jobs}:
            raise SystemExit(f"{kind}: unexpected job states after the drain: {statuses}")
        return {
            "enqueue_per_s": args.jobs / (committed - started),
            "jobs_per_s": args.jobs / (drained - committed),
            "seconds": drained - committed,
            "workers_used": owners,
        }
    finally:
        for child in children:
            stop(child)
        await platform.stop()
        await writer.dispose()
        if reader is not writer:
            await reader.dispose()


async def lateness(args: argparse.Namespace, env: dict[str, str], folder: Path) -> dict[str, Any]:
    """``args.tasks`` tasks due in the same real minute; how late each run started."""
    from stateyard.config import load_settings
    from stateyard.platform import Platform

    platform = Platform(load_settings(env, run_worker=False))
    await platform.start()
    children: list[Child] = []
    try:
        user = await platform.auth.find_user(ADMIN_EMAIL)
        assert user is not None
        admin = await platform.auth.subject_for_user(user["id"])
        await platform.records.create(admin, "entity", PING)
        await platform.records.create(admin, "action", BEAT)
        # Start the workers first (they look for due tasks from then on), then pick a minute far enough
        # ahead that every task is saved before it.
        children = await asyncio.to_thread(start_workers, "ours", args.lateness_workers, args, env, folder)
        due = (datetime.now(UTC) + timedelta(seconds=15)).replace(second=0, microsecond=0) + timedelta(minutes=1)
        cron = f"{due.minute} {due.hour} * * *"
        for n in range(args.tasks):
            body = {"name": f"bench_task_{n}", "cron": cron, "entity": "bench_ping", "action": "beat"}
            await platform.records.create(admin, "scheduled_task", body)
        print(f"  {args.tasks} tasks due at {due:%H:%M:%S} UTC; waiting for them", flush=True)
        models = platform.registry.snapshot.models
        runs, pings = models["task_run"].table, models["bench_ping"].table
        deadline = due + timedelta(seconds=args.timeout)
        while True:
            async with platform.db.read() as conn:
                done = (
                    await conn.execute(
                        select(runs.c.scheduled_for, runs.c.started_at, runs.c.finished_at, runs.c.status).where(
                            runs.c.status.in_(("succeeded", "failed", "skipped"))
                        )
                    )
                ).all()
            if len(done) >= args.tasks:
                break
            if datetime.now(UTC) > deadline:
                raise SystemExit(f"only {len(done)} of {args.tasks} runs finished by {deadline:%H:%M:%S}")
            await asyncio.sleep(0.1)
        async with platform.db.read() as conn:
            made = int(await conn.scalar(select(func.count()).select_from(pings)) or 0)
        bad = [r for r in done if r.status != "succeeded" or r.scheduled_for != due]
        if bad or made != args.tasks:
            raise SystemExit(f"lateness runs went wrong: {bad[:3]}, {made} rows made for {args.tasks} tasks")
        started = sorted((r.started_at - r.scheduled_for).total_seconds() for r in done)
        finished = sorted((r.finished_at - r.scheduled_for).total_seconds() for r in done)
        return {
            "p50": percentile(started, 50),
            "p99": percentile(started, 99),
            "max": started[-1],
            "finished_p99": percentile(finished, 99),
            "finished_max": finished[-1],
        }
    finally:
        for child in children:
            stop(child)
        await platform.stop()


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    rank = max(1, math.ceil(p / 100 * len(values)))
    return values[rank - 1]


# -- report -------------------------------------------------------------------------------


def report(backend: str, results: dict[int, dict[str, list[dict[str, Any]]]], late: dict[str, Any] | None) -> str:
    header = f"{'workers':<8} {'ours jobs/s':>11} {'bare jobs/s':>11} {'ratio':>6}  {'enqueue/s ours/bare':>20}"
    lines = [f"job queue on {backend} ({os.cpu_count()} CPUs)", header, "-" * len(header)]
    for workers, pair in results.items():
        ours = sum(c["jobs_per_s"] for c in pair["ours"]) / len(pair["ours"])
        bare = sum(c["jobs_per_s"] for c in pair["bare"]) / len(pair["bare"])
        enq_ours = sum(c["enqueue_per_s"] for c in pair["ours"]) / len(pair["ours"])
        enq_bare = sum(c["enqueue_per_s"] for c in pair["bare"]) / len(pair["bare"])
        ratio = ours / bare if bare else 0.0
        mark = "" if ratio >= TARGET_RATIO else "  < target"
        lines.append(
            f"{workers:<8} {ours:>11.0f} {bare:>11.0f} {ratio:>6.2f}  {enq_ours:>9.0f}/{enq_bare:<10.0f}{mark}"
        )
    if late is not None:
        mark = "" if late["p99"] <= TARGET_P99_SECONDS else "  > target"
        lines.append(
            f"lateness of the tasks' runs (start - scheduled): p50 {late['p50']:.3f} s, p99 {late['p99']:.3f} s, "
            f"max {late['max']:.3f} s (finished: p99 {late['finished_p99']:.3f} s, max {late['finished_max']:.3f} s)"
            f"{mark}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="stateyard-bench-jobs-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEYARD_")}
    schema = None
    if args.database:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        env.update(STATEYARD_DATABASE_URL=args.database, STATEYARD_DATABASE_SCHEMA=schema)
    else:
        env["STATEYARD_DATABASE_URL"] = f"sqlite:///{folder / 'bench.db'}"
    env.update(
        STATEYARD_SECRET_KEY=SECRET,
        STATEYARD_KEY_FILE=str(folder / "stateyard.key"),
        STATEYARD_SCHEMA_DIR=str(folder / "schema"),
        STATEYARD_FIXTURES_DIR=str(folder / "fixtures"),
        STATEYARD_ADMIN_EMAIL=ADMIN_EMAIL,
        STATEYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        STATEYARD_LOG_LEVEL="warning",
        STATEYARD_PASSWORD_HASH_TIME_COST="1",
        STATEYARD_PASSWORD_HASH_MEMORY_KIB="1024",
        STATEYARD_WORKER_POLL_SECONDS=str(POLL_SECONDS),
    )
    backend = "postgresql" if schema else "sqlite"
    try:
        results: dict[int, dict[str, list[dict[str, Any]]]] = {}
        for workers in [] if args.skip_drain else args.workers:
            results[workers] = {"ours": [], "bare": []}
            for round_no in range(args.rounds):
                order = ["ours", "bare"] if round_no % 2 == 0 else ["bare", "ours"]
                for kind in order:
                    cell = asyncio.run(drain(kind, workers, args, env, folder))
                    results[workers][kind].append(cell)
                    print(
                        f"  {kind:<4} {workers} worker(s) round {round_no + 1}: {cell['jobs_per_s']:>7.0f} jobs/s "
                        f"({cell['seconds']:.1f} s, {cell['workers_used']} worker(s) took jobs; "
                        f"enqueue {cell['enqueue_per_s']:.0f}/s)",
                        flush=True,
                    )
        late = None if args.skip_lateness else asyncio.run(lateness(args, env, folder))
        print()
        print(report(backend, results, late))
        if args.json:
            Path(args.json).write_text(json.dumps({"backend": backend, "drain": results, "lateness": late}, indent=2))
        return 0
    finally:
        if schema:
            with contextlib.suppress(Exception):
                asyncio.run(drop_schema(args.database, schema))
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


async def drop_schema(url: str, schema: str) -> None:
    writer, _ = bare_engines(url, None)
    try:
        async with writer.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await writer.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=None, help="postgresql://... (default: SQLite in a temp folder)")
    parser.add_argument("--jobs", type=int, default=20_000, help="no-op jobs per drain")
    parser.add_argument(
        "--workers", type=lambda s: [int(n) for n in s.split(",") if n.strip()], default=[1, 2], help="e.g. 1,2"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="jobs in flight per worker")
    parser.add_argument("--rounds", type=int, default=1, help="alternating drains per worker count and side")
    parser.add_argument("--tasks", type=int, default=60, help="scheduled tasks due in the same minute")
    parser.add_argument("--lateness-workers", type=int, default=1)
    parser.add_argument("--skip-lateness", action="store_true", help="do not measure the lateness (saves a minute)")
    parser.add_argument("--skip-drain", action="store_true", help="only measure the lateness")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a drain after this many seconds")
    parser.add_argument("--json", default=None, help="also write the raw results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (database, logs)")
    parser.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--schema", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_worker:
        asyncio.run(bare_worker(args.database, args.schema, args.concurrency))
        return
    sys.exit(run(args))


if __name__ == "__main__":
    main()
