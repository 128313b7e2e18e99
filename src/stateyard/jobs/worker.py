"""Workers: claim due jobs, run their handlers, renew leases, record results.

``stateyard serve`` runs one embedded worker; ``stateyard worker`` runs a separate one. Any
number may run against one PostgreSQL database. Each cycle also recovers expired leases and
lets the scheduler fire due tasks, so a single surviving process keeps everything moving.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from stateyard.core.errors import ProblemError
from stateyard.jobs.queue import FinishStep, JobQueue

if TYPE_CHECKING:
    from stateyard.platform import Platform

log = logging.getLogger(__name__)
MAX_ERROR_LENGTH = 4000
#: Problems that running again cannot fix (bad input, missing permission, unknown things).
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 413, 422})


#: The shortest wait before looking for due tasks again.
MIN_WAKE_SECONDS = 0.01


class PermanentJobError(Exception):
    """A failure that retrying cannot fix: the job is marked failed at once."""


class DeferJob(Exception):
    """The job cannot start yet (it waits for something else): try again later, not counted as an attempt."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class JobContext:
    def __init__(self, platform: Platform, job: dict[str, Any]) -> None:
        self.platform = platform
        self.job = job
        self.payload: dict[str, Any] = job["payload"] or {}
        self.attempt: int = job["attempts"]
        #: Run in the same transaction that records the job as ended (succeeded, failed or retried), and only
        #: if this worker still holds the job: a handler's own record of the outcome (a task run's status)
        #: then always agrees with the job's, and costs no transaction of its own.
        self.on_finish: list[FinishStep] = []


JobHandler = Callable[[JobContext], Awaitable[Any]]


async def noop_job(ctx: JobContext) -> dict[str, Any]:
    """Does nothing: for benchmarks and for checking that workers run."""
    return {"ok": True}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        platform: Platform,
        queue: JobQueue,
        handlers: dict[str, JobHandler],
        *,
        name: str | None = None,
        concurrency: int = 4,
        poll_seconds: float = 0.2,
        tick: Callable[[], Awaitable[Any]] | None = None,
        until_due: Callable[[], float | None] | None = None,
    ) -> None:
        self.platform = platform
        self.queue = queue
        self.handlers = handlers
        self.name = name or worker_name()
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.tick = tick
        #: Seconds until the next scheduled task is due: the worker wakes up for it rather than a poll later.
        self.until_due = until_due
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def run_once(self) -> int:
        """One cycle: recover, fire due tasks, claim and run due jobs to the end. Returns jobs run."""
        await self.queue.recover()
        if self.tick is not None:
            await self.tick()
        ran = 0
        while True:
            jobs = await self.queue.claim(self.name, self.concurrency)
            if not jobs:
                return ran
            await asyncio.gather(*(self._execute(job) for job in jobs))
            ran += len(jobs)

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, keeping up to ``concurrency`` jobs in flight.

        A free slot is filled as soon as a job ends; the worker sleeps only when nothing is due
        (up to ``poll_seconds``). Recovering expired leases and firing due tasks happen once
        per ``poll_seconds``, not once per claim.
        """
        loop = asyncio.get_running_loop()
        freed = asyncio.Event()
        renewer = asyncio.create_task(self._renew_leases(stop))
        next_chores = loop.time()
        try:
            while not stop.is_set():
                freed.clear()
                jobs: list[dict[str, Any]] = []
                try:
                    if loop.time() >= next_chores:
                        next_chores = loop.time() + self.poll_seconds
                        await self.queue.recover()
                        if self.tick is not None:
                            await self.tick()
                            next_chores = min(next_chores, loop.time() + self._until_due())
                    free = self.concurrency - len(self._running)
                    if free > 0:
                        jobs = await self.queue.claim(self.name, free)
                except Exception:
                    log.exception("worker %s could not claim jobs", self.name)
                for job in jobs:
                    task = asyncio.create_task(self._execute(job))
                    self._running[job["id"]] = task
                    task.add_done_callback(functools.partial(self._job_ended, job["id"], freed))
                if jobs and len(self._running) < self.concurrency:
                    continue  # there may be more due jobs for the free slots
                # Idle (nothing due) or full: wait for a slot to free up, the next chores, or the stop.
                timeout = max(0.0, next_chores - loop.time()) if self._running else self.poll_seconds
                await _first_of(stop, freed, timeout)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            if self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _until_due(self) -> float:
        seconds = self.until_due() if self.until_due is not None else None
        # Not sooner than 10 ms: a task still due (another process has it) must not make this loop spin.
        return self.poll_seconds if seconds is None else max(seconds, MIN_WAKE_SECONDS)

    def _job_ended(self, job_id: uuid.UUID, freed: asyncio.Event, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        freed.set()

    async def _renew_leases(self, stop: asyncio.Event) -> None:
        interval = max(0.5, self.queue.lease.total_seconds() / 3)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            try:
                await self.queue.renew(self.name, list(self._running))
            except Exception:
                log.exception("worker %s could not renew its leases", self.name)

    async def _execute(self, job: dict[str, Any]) -> None:
        handler = self.handlers.get(job["kind"])
        if handler is None:
            await self.queue.fail(job, self.name, f"no handler for job kind '{job['kind']}'", retry=False)
            return
        ctx = JobContext(self.platform, job)
        steps = ctx.on_finish
        try:
            result = await handler(ctx)
        except DeferJob as exc:
            await self.queue.defer(job, self.name, self.queue.clock.now() + timedelta(seconds=exc.seconds))
        except PermanentJobError as exc:
            await self.queue.fail(job, self.name, str(exc)[:MAX_ERROR_LENGTH], retry=False, also=steps)
        except ProblemError as exc:
            retry = exc.status not in PERMANENT_STATUSES
            error = f"{exc.status} {exc.code}: {exc.detail}"[:MAX_ERROR_LENGTH]
            await self.queue.fail(job, self.name, error, retry=retry, also=steps)
        except Exception as exc:
            log.exception("job %s (%s) failed", job["id"], job["kind"])
            await self.queue.fail(job, self.name, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH], also=steps)
        else:
            await self.queue.succeed(job, self.name, result, also=steps)


async def _first_of(stop: asyncio.Event, freed: asyncio.Event, seconds: float) -> None:
    """Wait until either event is set, at most ``seconds``."""
    if stop.is_set() or freed.is_set():
        return
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(freed.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
