"""The durable job queue: jobs are rows, enqueued in the transaction of the change that causes them.

A job is claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one
writer), its lease renewed while it runs, and its result recorded. A worker that dies leaves
an expired lease: the job is queued again (at-least-once) or, after its last attempt, dead
with the reason. Failed attempts wait out an exponential backoff with jitter; nothing sleeps:
``run_at`` says when a job is due, against the injected clock.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, and_, bindparam, func, insert, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.core.clock import Clock
from stateyard.core.db import Database, as_dicts
from stateyard.core.errors import conflict, not_found
from stateyard.core.ids import new_id
from stateyard.entities.registry import Registry

#: Work recorded in the same transaction as a job's end (see ``JobContext.on_finish``).
FinishStep = Callable[[AsyncConnection], Awaitable[None]]

QUEUED, RUNNING, SUCCEEDED, FAILED, DEAD = "queued", "running", "succeeded", "failed", "dead"
#: The claim's index: queued jobs only, in claim order. Partial, so it stays as small as the queue
#: however many finished jobs the table keeps; the claim names the status as a literal to use it.
CLAIM_INDEX = "ix_job_claim"
IS_QUEUED: ColumnElement[str] = literal_column("'queued'")
#: Serializes the index creation of processes starting together on one PostgreSQL database.
CLAIM_INDEX_LOCK = 0x4A6F6273  # "Jobs"


class Backoff(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Seconds before retry n: ``min(maximum, initial * multiplier**(n-1))``, spread by +-jitter."""

    initial: float = 5.0
    multiplier: float = 2.0
    maximum: float = 3600.0
    jitter: float = 0.1

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        base = min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))
        spread = base * self.jitter
        return max(0.0, base + (rng or random).uniform(-spread, spread))


def insert_or_ignore(db: Database, table: Any) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for either database (a conflict leaves the transaction usable)."""
    if db.is_postgres:
        return postgresql_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


GivenUp = Callable[[AsyncConnection, dict[str, Any]], Awaitable[None]]


class JobQueue:
    def __init__(self, db: Database, registry: Registry, clock: Clock, *, lease_seconds: float = 30.0) -> None:
        self.db = db
        self.registry = registry
        self.clock = clock
        self.lease = timedelta(seconds=lease_seconds)
        self.rng = random.Random()  # noqa: S311 - jitter, not security
        #: By job kind: called in the transaction that gives a job up (dead, or failed for good), so
        #: that whatever waited on it is settled with it, even when its worker died mid-job.
        self.on_given_up: dict[str, GivenUp] = {}

    @property
    def table(self) -> Any:
        return self.registry.snapshot.models["job"].table

    async def ensure_indexes(self) -> None:
        """Create the claim's partial index if it is missing (at start-up, after the system tables)."""
        table = self.table
        preparer = self.db.engine.dialect.identifier_preparer
        statement = (
            f"CREATE INDEX IF NOT EXISTS {preparer.quote(CLAIM_INDEX)} ON {preparer.quote(table.name)} "
            "(priority DESC, run_at, id) WHERE status = 'queued'"
        )
        async with self.db.write() as conn:
            if self.db.is_postgres:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_INDEX_LOCK})
            await conn.execute(text(statement))

    async def enqueue(
        self,
        conn: AsyncConnection,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        run_at: datetime | None = None,
        priority: int = 0,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        idempotency_key: str | None = None,
        owner_id: uuid.UUID | None = None,
        job_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Add a job inside the caller's transaction: it exists exactly when the change that caused it commits.

        With an idempotency key, enqueueing the same key again returns the first job instead.
        """
        table = self.table
        now = self.clock.now()
        job_id = job_id or new_id()
        model = self.registry.snapshot.models["job"]
        row = {
            "id": job_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "owner_id": owner_id,
            "permission": model.row_permission,
            "kind": kind,
            "payload": payload or {},
            "status": QUEUED,
            "run_at": run_at or now,
            "priority": priority,
            "attempts": 0,
            "max_attempts": max_attempts,
            "backoff": msgspec.to_builtins(backoff or Backoff()),
            "idempotency_key": idempotency_key,
        }
        if idempotency_key is None:
            await conn.execute(insert(table), row)
            return job_id
        # One statement: an existing job with the key (committed, or committing concurrently: the
        # insert waits for it) makes the insert do nothing, and that job stands.
        inserted = await conn.execute(insert_or_ignore(self.db, table).returning(table.c.id), row)
        if inserted.first() is not None:
            return job_id
        found = await conn.scalar(select(table.c.id).where(table.c.idempotency_key == idempotency_key))
        if found is None:
            raise RuntimeError(f"job {idempotency_key!r} was neither inserted nor found")
        return found  # type: ignore[no-any-return]

    async def claim(self, worker: str, limit: int) -> list[dict[str, Any]]:
        """Take up to ``limit`` due jobs for ``worker``, each with a fresh lease."""
        if limit <= 0:
            return []
        table = self.table
        now = self.clock.now()
        due: Any
        if self.db.is_sqlite:
            # Without statistics SQLite's planner prefers the (status, run_at) index and sorts every
            # queued job on each claim; naming the claim index keeps a claim as cheap as its limit.
            quote = self.db.engine.dialect.identifier_preparer.quote
            source = f"{quote(table.name)} INDEXED BY {quote(CLAIM_INDEX)}"  # identifiers of our own, quoted
            query = f"SELECT id FROM {source} WHERE status = 'queued' AND run_at <= :now"  # noqa: S608
            due = (
                text(f"{query} ORDER BY priority DESC, run_at, id LIMIT :limit")
                .bindparams(bindparam("now", now, type_=table.c.run_at.type), bindparam("limit", limit))
                .columns(table.c.id)
            )
        else:
            due = select(
                select(table.c.id)
                .where(table.c.status == IS_QUEUED, table.c.run_at <= now)
                .order_by(table.c.priority.desc(), table.c.run_at, table.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
                # A materialized CTE runs once. As a plain ``IN (subquery)`` PostgreSQL may plan a nested
                # loop that runs the LIMIT subquery again for every row, and claim every due job at once.
                .cte("due")
                .prefix_with("MATERIALIZED")
                .c.id
            )
        stmt = (
            update(table)
            .where(table.c.id.in_(due), table.c.status == QUEUED)
            .values(
                status=RUNNING,
                lease_owner=worker,
                lease_expires_at=now + self.lease,
                attempts=table.c.attempts + 1,
                started_at=now,
                version=table.c.version + 1,
                updated_at=now,
            )
            .returning(*table.c)
        )
        async with self.db.write() as conn:
            return as_dicts(await conn.execute(stmt))

    async def renew(self, worker: str, job_ids: list[uuid.UUID]) -> int:
        if not job_ids:
            return 0
        table = self.table
        now = self.clock.now()
        async with self.db.write() as conn:
            result = await conn.execute(
                update(table)
                .where(table.c.id.in_(job_ids), table.c.lease_owner == worker, table.c.status == RUNNING)
                .values(lease_expires_at=now + self.lease, updated_at=now)
            )
        return int(result.rowcount)

    async def succeed(self, job: dict[str, Any], worker: str, result: Any, *, also: Sequence[FinishStep] = ()) -> bool:
        values = {"status": SUCCEEDED, "result": result, "last_error": None}
        return await self._finish(job, worker, values, also)

    async def fail(
        self, job: dict[str, Any], worker: str, error: str, *, retry: bool = True, also: Sequence[FinishStep] = ()
    ) -> str:
        """Record a failed attempt: queued again after its backoff, or dead (or failed when not retried)."""
        if not retry:
            status = FAILED
            values: dict[str, Any] = {"status": FAILED, "last_error": error}
        elif job["attempts"] >= job["max_attempts"]:
            status = DEAD
            values = {"status": DEAD, "last_error": error}
        else:
            status = QUEUED
            backoff = msgspec.convert(job["backoff"] or {}, Backoff)
            delay = backoff.delay(job["attempts"], self.rng)
            values = {
                "status": QUEUED,
                "last_error": error,
                "run_at": self.clock.now() + timedelta(seconds=delay),
                "lease_owner": None,
                "lease_expires_at": None,
            }
        await self._finish(job, worker, values, also)
        return status

    async def defer(self, job: dict[str, Any], worker: str, run_at: datetime) -> bool:
        """Put a claimed job back, due at ``run_at``, without counting the attempt: it did not run."""
        table = self.table
        values = {"status": QUEUED, "run_at": run_at, "attempts": table.c.attempts - 1}
        return await self._finish(job, worker, {**values, "lease_owner": None, "lease_expires_at": None})

    async def _finish(
        self, job: dict[str, Any], worker: str, values: dict[str, Any], also: Sequence[FinishStep] = ()
    ) -> bool:
        table = self.table
        now = self.clock.now()
        values = {"finished_at": now, "updated_at": now, "version": table.c.version + 1, **values}
        if values["status"] == QUEUED:
            values.pop("finished_at")
        async with self.db.write() as conn:
            result = await conn.execute(
                update(table)
                .where(table.c.id == job["id"], table.c.lease_owner == worker, table.c.status == RUNNING)
                .values(values)
            )
            # A lost lease means another worker took the job over: its outcome counts, not this one's.
            if not result.rowcount:
                return False
            for step in also:
                await step(conn)
            if values["status"] in (DEAD, FAILED):
                await self._given_up(conn, [{**job, "last_error": values.get("last_error")}])
        return True

    async def _given_up(self, conn: AsyncConnection, jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            callback = self.on_given_up.get(job["kind"])
            if callback is not None:
                await callback(conn, job)

    async def recover(self) -> int:
        """Jobs whose lease expired (their worker died): queue them again, or bury them after the last attempt."""
        table = self.table
        now = self.clock.now()
        expired = and_(table.c.status == RUNNING, table.c.lease_expires_at < now)
        # Every worker looks every cycle; a read first keeps idle cycles from taking the write lock.
        async with self.db.read() as conn:
            if await conn.scalar(select(table.c.id).where(expired).limit(1)) is None:
                return 0
        reason = "the worker running it stopped answering (lease expired)"
        async with self.db.write() as conn:
            retried = await conn.execute(
                update(table)
                .where(expired, table.c.attempts < table.c.max_attempts)
                .values(
                    status=QUEUED,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=reason,
                    run_at=now,
                    updated_at=now,
                    version=table.c.version + 1,
                )
            )
            buried = as_dicts(
                await conn.execute(
                    update(table)
                    .where(expired, table.c.attempts >= table.c.max_attempts)
                    .values(
                        status=DEAD,
                        lease_owner=None,
                        lease_expires_at=None,
                        last_error=reason,
                        finished_at=now,
                        updated_at=now,
                        version=table.c.version + 1,
                    )
                    .returning(table.c.id, table.c.kind, table.c.payload, table.c.last_error)
                )
            )
            await self._given_up(conn, buried)
        return int(retried.rowcount) + len(buried)

    async def replay(self, job_id: uuid.UUID) -> dict[str, Any]:
        """Give a dead (or failed) job a fresh set of attempts, due now."""
        table = self.table
        now = self.clock.now()
        async with self.db.write() as conn:
            job = (await conn.execute(select(table).where(table.c.id == job_id))).mappings().first()
            if job is None:
                raise not_found(f"There is no job with id '{job_id}'.")
            if job["status"] not in (DEAD, FAILED):
                raise conflict(
                    f"Only dead or failed jobs can be replayed; this one is {job['status']}.",
                    code="not-replayable",
                    status_now=job["status"],
                )
            await conn.execute(
                update(table)
                .where(table.c.id == job_id)
                .values(
                    status=QUEUED,
                    attempts=0,
                    run_at=now,
                    finished_at=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                    version=table.c.version + 1,
                )
            )
        return {"id": str(job_id), "status": QUEUED}

    async def stats(self) -> dict[str, Any]:
        """Queue depth by status and the age of the oldest due job, for /health."""
        table = self.table
        now = self.clock.now()
        async with self.db.read() as conn:
            by_status = select(table.c.status, func.count()).group_by(table.c.status)
            counts: dict[str, int] = dict((await conn.execute(by_status)).all())
            oldest = await conn.scalar(
                select(func.min(table.c.run_at)).where(table.c.status == QUEUED, table.c.run_at <= now)
            )
        return {
            "depth": int(counts.get(QUEUED, 0)),
            "running": int(counts.get(RUNNING, 0)),
            "dead": int(counts.get(DEAD, 0)),
            "oldest_due_seconds": round((now - oldest).total_seconds(), 3) if oldest is not None else 0.0,
        }
