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

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.core.clock import Clock
from stateyard.core.ids import new_id
from stateyard.jobs import cron
from stateyard.jobs.queue import Backoff, JobQueue

if TYPE_CHECKING:
    from stateyard.platform import Platform

log = logging.getLogger(__name__)
TASK_JOB = "task.run"
#: A slot more than this late counts as missed (downtime), and the misfire policy applies.
MISFIRE_GRACE = timedelta(seconds=60)
#: fire_all never makes more than this many catch-up runs at once.
CATCH_UP_LIMIT = 1000


class Scheduler:
    def __init__(self, platform: Platform, queue: JobQueue, clock: Clock) -> None:
        self.platform = platform
        self.queue = queue
        self.clock = clock

    def _tables(self) -> tuple[Any, Any]:
        models = self.platform.registry.snapshot.models
        return models["scheduled_task"].table, models["task_run"].table

    async def tick(self) -> int:
        """Fire every due task; returns how many runs were created."""
        tasks, _ = self._tables()
        now = self.clock.now()
        async with self.platform.db.read() as conn:
            due = (
                (
                    await conn.execute(
                        select(tasks.c.id)
                        .where(tasks.c.enabled.is_(True), tasks.c.next_run_at <= now)
                        .order_by(tasks.c.next_run_at)
                        .limit(500)
                    )
                )
                .scalars()
                .all()
            )
        fired = 0
        for task_id in due:
            try:
                fired += await self.fire_due(task_id)
            except Exception:
                log.exception("could not fire scheduled task %s", task_id)
        return fired

    async def fire_due(self, task_id: uuid.UUID) -> int:
        tasks, _ = self._tables()
        now = self.clock.now()
        async with self.platform.db.write() as conn:
            stmt = select(tasks).where(tasks.c.id == task_id, tasks.c.enabled.is_(True), tasks.c.next_run_at <= now)
            task = (await conn.execute(stmt.with_for_update(skip_locked=True))).mappings().first()
            if task is None:
                return 0  # another process has it, or fired it already
            due_at: datetime = task["next_run_at"]
            slots = [due_at, *cron.fires_between(task["cron"], task["timezone"], due_at, now, CATCH_UP_LIMIT)]
            missed = [s for s in slots if now - s > MISFIRE_GRACE]
            chosen = self._by_misfire(task["misfire"], slots, missed)
            skip_reason = await self._overlap(conn, task)
            fired = 0
            for slot in chosen:
                fired += await self.create_run(conn, task, slot, now, skip_reason=skip_reason)
            await conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id)
                .values(
                    next_run_at=cron.next_fire(task["cron"], task["timezone"], now),
                    updated_at=now,
                    version=tasks.c.version + 1,
                )
            )
        return fired

    @staticmethod
    def _by_misfire(policy: str, slots: list[datetime], missed: list[datetime]) -> list[datetime]:
        if not missed or policy == "fire_all":
            return slots
        if policy == "skip":
            return [s for s in slots if s not in missed]
        return [slots[-1]]  # fire_once: one run stands for every slot since the last one

    async def _overlap(self, conn: AsyncConnection, task: Any) -> str | None:
        """Why this fire must be skipped because earlier runs are still open, per the overlap policy."""
        open_runs = await self.open_runs(conn, task["id"])
        if open_runs and task["overlap"] == "skip":
            return "the previous run had not finished (overlap: skip)"
        if "queued" in open_runs and task["overlap"] == "queue_one":
            return "a run is already waiting (overlap: queue_one)"
        return None

    async def open_runs(
        self, conn: AsyncConnection, task_id: uuid.UUID, *, other_than: uuid.UUID | None = None
    ) -> list[str]:
        """Statuses of the task's runs still in flight: queued or running, with their job not ended.

        A run whose job ended without it (the worker died during the last attempt, and the lease
        expiry made the job dead) is settled here as failed with the job's reason, so that it never
        stays running and never blocks later fires.
        """
        _, runs = self._tables()
        jobs = self.queue.table
        stmt = (
            select(runs.c.id, runs.c.status, jobs.c.status.label("job_status"), jobs.c.last_error)
            .select_from(runs.outerjoin(jobs, jobs.c.id == runs.c.job_id))
            .where(runs.c.task_id == task_id, runs.c.status.in_(("queued", "running")))
        )
        if other_than is not None:
            stmt = stmt.where(runs.c.id != other_than)
        in_flight: list[str] = []
        for row in (await conn.execute(stmt)).mappings():
            if row["job_status"] in ("queued", "running"):
                in_flight.append(row["status"])
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

    async def create_run(
        self, conn: AsyncConnection, task: Any, slot: datetime, now: datetime, *, skip_reason: str | None = None
    ) -> int:
        """The run for one slot and its job, unless that slot already has a run (then 0)."""
        _, runs = self._tables()
        run_model = self.platform.registry.snapshot.models["task_run"]
        run_id = new_id()
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
        }
        try:
            async with conn.begin_nested():
                await conn.execute(insert(runs), values)
        except IntegrityError:
            return 0  # this slot was claimed already: exactly once
        if skip_reason:
            return 0
        job_id = await self.queue.enqueue(
            conn,
            TASK_JOB,
            {"task_run_id": str(run_id)},
            run_at=slot if slot > now else now,
            max_attempts=task["max_attempts"] or 3,
            backoff=Backoff(initial=5.0, multiplier=2.0, maximum=600.0),
            idempotency_key=f"task-run:{task['id']}:{slot.isoformat()}",
            owner_id=task["owner_id"],
        )
        await conn.execute(update(runs).where(runs.c.id == run_id).values(job_id=job_id))
        return 1

    async def lag(self) -> float:
        """Seconds the most overdue enabled task is late (0 when none is), for /health."""
        from sqlalchemy import func

        tasks, _ = self._tables()
        now = self.clock.now()
        async with self.platform.db.read() as conn:
            oldest = await conn.scalar(
                select(func.min(tasks.c.next_run_at)).where(tasks.c.enabled.is_(True), tasks.c.next_run_at <= now)
            )
        return round((now - oldest).total_seconds(), 3) if oldest is not None else 0.0
