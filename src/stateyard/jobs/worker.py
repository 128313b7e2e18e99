"""Workers: claim due jobs, run their handlers, renew leases, record results.

``stateyard serve`` runs one embedded worker; ``stateyard worker`` runs a separate one. Any
number may run against one PostgreSQL database. Each cycle also recovers expired leases and
lets the scheduler fire due tasks, so a single surviving process keeps everything moving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from stateyard.core.errors import ProblemError
from stateyard.jobs.queue import JobQueue

if TYPE_CHECKING:
    from stateyard.platform import Platform

log = logging.getLogger(__name__)
MAX_ERROR_LENGTH = 4000
#: Problems that running again cannot fix (bad input, missing permission, unknown things).
PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 405, 413, 422})


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
    ) -> None:
        self.platform = platform
        self.queue = queue
        self.handlers = handlers
        self.name = name or worker_name()
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self.tick = tick
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
        """Work until ``stop`` is set, keeping up to ``concurrency`` jobs in flight."""
        renewer = asyncio.create_task(self._renew_leases(stop))
        try:
            while not stop.is_set():
                try:
                    await self.queue.recover()
                    if self.tick is not None:
                        await self.tick()
                    free = self.concurrency - len(self._running)
                    jobs = await self.queue.claim(self.name, free)
                except Exception:
                    log.exception("worker %s could not claim jobs", self.name)
                    jobs = []
                for job in jobs:
                    task = asyncio.create_task(self._execute(job))
                    self._running[job["id"]] = task
                    task.add_done_callback(lambda _t, job_id=job["id"]: self._running.pop(job_id, None))
                if not jobs or len(self._running) >= self.concurrency:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.poll_seconds)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            if self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)

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
        try:
            result = await handler(JobContext(self.platform, job))
        except DeferJob as exc:
            await self.queue.defer(job, self.name, self.queue.clock.now() + timedelta(seconds=exc.seconds))
        except PermanentJobError as exc:
            await self.queue.fail(job, self.name, str(exc)[:MAX_ERROR_LENGTH], retry=False)
        except ProblemError as exc:
            retry = exc.status not in PERMANENT_STATUSES
            await self.queue.fail(
                job, self.name, f"{exc.status} {exc.code}: {exc.detail}"[:MAX_ERROR_LENGTH], retry=retry
            )
        except Exception as exc:
            log.exception("job %s (%s) failed", job["id"], job["kind"])
            await self.queue.fail(job, self.name, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
        else:
            await self.queue.succeed(job, self.name, result)
