"""Fire scheduled tasks: each fire is claimed by its unique (task, scheduled_for) key.

Every process runs the scheduler in its worker cycle. A task row is locked while one process
fires it (``FOR UPDATE SKIP LOCKED``; SQLite has one writer), and the task_run row's unique key
is the last guard, so with any number of processes each slot runs once. After downtime the
task's misfire policy decides what happens to the slots that were missed: ``fire_once`` (the
default) makes one catch-up run, ``fire_all`` runs each one, ``skip`` runs none. The overlap
policy decides what happens while an earlier run has not finished: ``skip`` records the fire
as skipped, ``allow`` runs it anyway, ``queue_one`` keeps at most one waiting run.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.core.clock import Clock
from stateyard.core.ids import new_id
from stateyard.jobs import cron
from stateyard.jobs.queue import Backoff, JobQueue, insert_or_ignore

if TYPE_CHECKING:
    from stateyard.platform import Platform

log = logging.getLogger(__name__)
TASK_JOB = "task.run"
#: A slot more than this late counts as missed (downtime), and the misfire policy applies.
MISFIRE_GRACE = timedelta(seconds=60)
#: fire_all never makes more than this many catch-up runs at once.
CATCH_UP_LIMIT = 1000


#: Due tasks fired per write transaction.
FIRE_CHUNK = 50


def _overlap_reason(policy: str, in_flight: list[str]) -> str | None:
    """Why a fire must be skipped because earlier runs are still open, per the overlap policy."""
    if in_flight and policy == "skip":
        return "the previous run had not finished (overlap: skip)"
    if "queued" in in_flight and policy == "queue_one":
        return "a run is already waiting (overlap: queue_one)"
    return None


class Scheduler:
    def __init__(self, platform: Platform, queue: JobQueue, clock: Clock) -> None:
        self.platform = platform
        self.queue = queue
        self.clock = clock
        queue.on_given_up[TASK_JOB] = self._settle_given_up_run
        #: When the next enabled task is due, as of the last tick: workers wake up for it.
        self.next_due: datetime | None = None

    def _tables(self) -> tuple[Any, Any]:
        models = self.platform.registry.snapshot.models
        return models["scheduled_task"].table, models["task_run"].table

    async def tick(self) -> int:
        """Fire every due task; returns how many runs were created.

        Due tasks are fired in chunks of :data:`FIRE_CHUNK` per write transaction (each task in a
        savepoint of its own, so one that fails does not hold back the others): when many tasks share
        a minute, their runs are queued at once instead of one commit after another.
        """
        tasks, _ = self._tables()
        now = self.clock.now()
        async with self.platform.db.read() as conn:
            due = (
                (
                    await conn.execute(
                        select(tasks)
                        .where(tasks.c.enabled.is_(True), tasks.c.next_run_at <= now)
                        # One order for every process, so that processes firing together take the
                        # tasks' row locks in the same order and never deadlock (PostgreSQL).
                        .order_by(tasks.c.next_run_at, tasks.c.id)
                        .limit(500)
                    )
                )
                .mappings()
                .all()
            )
        fired = 0
        for start in range(0, len(due), FIRE_CHUNK):
            chunk = due[start : start + FIRE_CHUNK]
            async with self.platform.db.write() as conn:
                in_flight = await self.open_runs_of(conn, [task["id"] for task in chunk])
                for task in chunk:
                    try:
                        async with conn.begin_nested():
                            fired += await self._fire_in(conn, task, now, in_flight.get(task["id"], []))
                    except Exception:
                        log.exception("could not fire scheduled task %s", task["id"])
        async with self.platform.db.read() as conn:
            self.next_due = await conn.scalar(select(func.min(tasks.c.next_run_at)).where(tasks.c.enabled.is_(True)))
        return fired

    def seconds_until_due(self) -> float | None:
        """How soon the next task is due, as of the last :meth:`tick` (None: no enabled task)."""
        if self.next_due is None:
            return None
        return (self.next_due - self.clock.now()).total_seconds()

    async def _fire_in(self, conn: AsyncConnection, task: Any, now: datetime, in_flight: list[str]) -> int:
        """Fire one due task read at ``now``. Moving its next fire time on, only if nobody did since, is
        the claim: of several processes firing together, one changes the row and the others find it moved."""
        tasks, _ = self._tables()
        due_at: datetime = task["next_run_at"]
        claimed = await conn.execute(
            update(tasks)
            .where(tasks.c.id == task["id"], tasks.c.enabled.is_(True), tasks.c.next_run_at == due_at)
            .values(
                next_run_at=cron.next_fire(task["cron"], task["timezone"], now),
                updated_at=now,
                version=tasks.c.version + 1,
            )
        )
        if claimed.rowcount != 1:
            return 0  # another process fired it, or it was changed since it was read
        slots = [due_at, *cron.fires_between(task["cron"], task["timezone"], due_at, now, CATCH_UP_LIMIT)]
        missed = [s for s in slots if now - s > MISFIRE_GRACE]
        chosen = self._by_misfire(task["misfire"], slots, missed)
        skip_reason = _overlap_reason(task["overlap"], in_flight)
        fired = 0
        for slot in chosen:
            fired += await self.create_run(conn, task, slot, now, skip_reason=skip_reason)
        return fired

    @staticmethod
    def _by_misfire(policy: str, slots: list[datetime], missed: list[datetime]) -> list[datetime]:
        if not missed or policy == "fire_all":
            return slots
        if policy == "skip":
            return [s for s in slots if s not in missed]
        return [slots[-1]]  # fire_once: one run stands for every slot since the last one

    async def open_runs(
        self, conn: AsyncConnection, task_id: uuid.UUID, *, other_than: uuid.UUID | None = None
    ) -> list[str]:
        """Statuses of the task's runs still in flight (see :meth:`open_runs_of`)."""
        return (await self.open_runs_of(conn, [task_id], other_than=other_than)).get(task_id, [])

    async def open_runs_of(
        self, conn: AsyncConnection, task_ids: list[uuid.UUID], *, other_than: uuid.UUID | None = None
    ) -> dict[uuid.UUID, list[str]]:
        """Statuses of each task's runs still in flight: queued or running, with their job not ended.

        A run whose job ended without it (the worker died during the last attempt, and the lease
        expiry made the job dead) is settled here as failed with the job's reason, so that it never
        stays running and never blocks later fires.
        """
        _, runs = self._tables()
        jobs = self.queue.table
        stmt = (
            select(runs.c.id, runs.c.task_id, runs.c.status, jobs.c.status.label("job_status"), jobs.c.last_error)
            .select_from(runs.outerjoin(jobs, jobs.c.id == runs.c.job_id))
            .where(runs.c.task_id.in_(task_ids), runs.c.status.in_(("queued", "running")))
        )
        if other_than is not None:
            stmt = stmt.where(runs.c.id != other_than)
        in_flight: dict[uuid.UUID, list[str]] = {}
        for row in (await conn.execute(stmt)).mappings().all():
            if row["job_status"] in ("queued", "running"):
                in_flight.setdefault(row["task_id"], []).append(row["status"])
                continue
            await conn.execute(
                update(runs)
                .where(runs.c.id == row["id"], runs.c.status.in_(("queued", "running")))
                .values(
                    status="failed",
                    error=row["last_error"] or "its job ended without finishing the run",
                    finished_at=self.clock.now(),
                )
            )
        return in_flight

    async def _settle_given_up_run(self, conn: AsyncConnection, job: dict[str, Any]) -> None:
        """A task run whose job was given up without finishing it (its worker died on the last attempt)
        is failed with the job's reason at once, rather than left queued or running."""
        run_id = (job.get("payload") or {}).get("task_run_id")
        if not run_id:
            return
        tasks, runs = self._tables()
        now = self.clock.now()
        error = job.get("last_error") or "its job ended without finishing it"
        settled = (
            await conn.execute(
                update(runs)
                .where(runs.c.id == uuid.UUID(run_id), runs.c.status.in_(("queued", "running")))
                .values(status="failed", error=error, finished_at=now)
                .returning(runs.c.task_id)
            )
        ).first()
        if settled is not None:
            await conn.execute(update(tasks).where(tasks.c.id == settled.task_id).values(last_run_at=now))

    async def create_run(
        self, conn: AsyncConnection, task: Any, slot: datetime, now: datetime, *, skip_reason: str | None = None
    ) -> int:
        """The run for one slot and its job, unless that slot already has a run (then 0)."""
        _, runs = self._tables()
        run_model = self.platform.registry.snapshot.models["task_run"]
        run_id = new_id()
        job_id = None if skip_reason else new_id()
        values = {
            "id": run_id,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            "owner_id": task["owner_id"],
            "permission": run_model.row_permission,
            "task_id": task["id"],
            "scheduled_for": slot,
            "status": "skipped" if skip_reason else "queued",
            "attempt": 0,
            "error": skip_reason,
            "finished_at": now if skip_reason else None,
            "job_id": job_id,
        }
        created = await conn.execute(insert_or_ignore(self.platform.db, runs).returning(runs.c.id), values)
        if created.first() is None:
            return 0  # this slot was claimed already: exactly once
        if job_id is None:
            return 0
        enqueued = await self.queue.enqueue(
            conn,
            TASK_JOB,
            {"task_run_id": str(run_id)},
            run_at=slot if slot > now else now,
            max_attempts=task["max_attempts"] or 3,
            backoff=Backoff(initial=5.0, multiplier=2.0, maximum=600.0),
            idempotency_key=f"task-run:{task['id']}:{slot.isoformat()}",
            owner_id=task["owner_id"],
            job_id=job_id,
        )
        if enqueued != job_id:  # a job for this slot was left from before (see the idempotency key)
            await conn.execute(update(runs).where(runs.c.id == run_id).values(job_id=enqueued))
        return 1

    async def lag(self) -> float:
        """Seconds the most overdue enabled task is late (0 when none is), for /health."""
        tasks, _ = self._tables()
        now = self.clock.now()
        async with self.platform.db.read() as conn:
            oldest = await conn.scalar(
                select(func.min(tasks.c.next_run_at)).where(tasks.c.enabled.is_(True), tasks.c.next_run_at <= now)
            )
        return round((now - oldest).total_seconds(), 3) if oldest is not None else 0.0
