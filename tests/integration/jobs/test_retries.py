"""A failing job is retried after its backoff (run_at, never a sleep) and is dead after its last attempt."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from stateyard.core.clock import FrozenClock
from stateyard.core.errors import ProblemError
from stateyard.jobs.queue import Backoff
from stateyard.jobs.worker import JobContext, PermanentJobError
from stateyard.platform import Platform
from tests.integration.jobs.conftest import JobProbe


class Flaky:
    """A job handler that fails its first ``failures`` calls."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or RuntimeError("the service is down")
        self.attempts: list[int] = []

    async def __call__(self, ctx: JobContext) -> Any:
        self.attempts.append(ctx.attempt)
        if len(self.attempts) <= self.failures:
            raise self.error
        return {"done": ctx.payload}


def within_jitter(delay: timedelta, backoff: Backoff, attempt: int) -> bool:
    base = min(backoff.maximum, backoff.initial * backoff.multiplier ** (attempt - 1))
    spread = base * backoff.jitter
    return base - spread <= delay.total_seconds() <= base + spread


async def test_each_retry_waits_out_its_backoff_then_the_job_is_dead(
    probe: JobProbe, platform: Platform, clock: FrozenClock
) -> None:
    backoff = Backoff(initial=10.0, multiplier=3.0, maximum=60.0, jitter=0.2)
    flaky = platform.job_handlers["test.flaky"] = Flaky(failures=99)
    job_id = await probe.enqueue("test.flaky", {"n": 1}, max_attempts=4, backoff=backoff)
    for attempt in (1, 2, 3):
        assert await probe.work() == 1
        job = await probe.job(job_id)
        assert (job["status"], job["attempts"]) == ("queued", attempt)
        assert job["last_error"] == "RuntimeError: the service is down"
        assert (job["lease_owner"], job["lease_expires_at"]) == (None, None)
        delay = job["run_at"] - clock.now()
        assert within_jitter(delay, backoff, attempt), (attempt, delay)  # 10, 30, then 60 (the maximum)
        clock.advance(delay - timedelta(milliseconds=1))
        assert await probe.work() == 0  # not due a moment early
        clock.advance(timedelta(milliseconds=1))
    assert await probe.work() == 1
    job = await probe.job(job_id)
    assert (job["status"], job["attempts"], job["finished_at"]) == ("dead", 4, clock.now())
    assert job["last_error"] == "RuntimeError: the service is down"
    assert flaky.attempts == [1, 2, 3, 4]
    clock.advance(timedelta(days=1))
    assert await probe.work() == 0  # dead stays dead


async def test_a_retry_that_succeeds_records_the_result(
    probe: JobProbe, platform: Platform, clock: FrozenClock
) -> None:
    platform.job_handlers["test.flaky"] = Flaky(failures=1)
    job_id = await probe.enqueue("test.flaky", {"n": 2}, backoff=Backoff(initial=5, jitter=0))
    await probe.work()
    assert (await probe.job(job_id))["run_at"] == clock.now() + timedelta(seconds=5)
    clock.advance(timedelta(seconds=5))
    await probe.work()
    job = await probe.job(job_id)
    assert (job["status"], job["attempts"], job["result"], job["last_error"]) == (
        "succeeded",
        2,
        {"done": {"n": 2}},
        None,
    )


async def test_jitter_spreads_retries_of_jobs_that_failed_together(probe: JobProbe, platform: Platform) -> None:
    platform.job_handlers["test.flaky"] = Flaky(failures=99)
    backoff = Backoff(initial=100.0, jitter=0.5)
    ids = [await probe.enqueue("test.flaky", {"i": i}, backoff=backoff) for i in range(8)]
    await probe.work()
    run_ats = {(await probe.job(i))["run_at"] for i in ids}
    assert len(run_ats) > 1


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (PermanentJobError("bad payload"), "bad payload"),
        (ProblemError(422, "validation", "Invalid input", "total must be positive"), "422 validation: total must"),
        (ProblemError(403, "forbidden", "Forbidden", "no"), "403 forbidden: no"),
    ],
)
async def test_a_permanent_failure_is_not_retried(
    probe: JobProbe, platform: Platform, error: Exception, message: str
) -> None:
    flaky = platform.job_handlers["test.flaky"] = Flaky(failures=99, error=error)
    job_id = await probe.enqueue("test.flaky", max_attempts=5)
    await probe.work()
    job = await probe.job(job_id)
    assert (job["status"], job["attempts"]) == ("failed", 1)
    assert job["last_error"].startswith(message)
    assert len(flaky.attempts) == 1


async def test_a_temporary_problem_is_retried(probe: JobProbe, platform: Platform) -> None:
    platform.job_handlers["test.flaky"] = Flaky(failures=99, error=ProblemError(503, "unavailable", "Down", "later"))
    job_id = await probe.enqueue("test.flaky")
    await probe.work()
    assert (await probe.job(job_id))["status"] == "queued"


async def test_a_job_of_an_unknown_kind_fails_with_the_reason(probe: JobProbe) -> None:
    job_id = await probe.enqueue("nobody.handles.this")
    assert await probe.work() == 1
    job = await probe.job(job_id)
    assert (job["status"], job["last_error"]) == ("failed", "no handler for job kind 'nobody.handles.this'")


async def test_a_long_error_is_cut(probe: JobProbe, platform: Platform) -> None:
    platform.job_handlers["test.flaky"] = Flaky(failures=99, error=RuntimeError("x" * 10_000))
    job_id = await probe.enqueue("test.flaky")
    await probe.work()
    assert len((await probe.job(job_id))["last_error"]) == 4000


async def test_priority_then_due_time_decides_the_order(
    probe: JobProbe, platform: Platform, clock: FrozenClock
) -> None:
    order: list[str] = []

    async def record(ctx: JobContext) -> None:
        order.append(ctx.payload["name"])

    platform.job_handlers["test.record"] = record
    await probe.enqueue("test.record", {"name": "later"}, run_at=clock.now() + timedelta(minutes=1))
    await probe.enqueue("test.record", {"name": "old"}, run_at=clock.now() - timedelta(minutes=1))
    await probe.enqueue("test.record", {"name": "new"})
    await probe.enqueue("test.record", {"name": "urgent"}, priority=10)
    worker = platform.worker(name="w1", concurrency=1)
    assert await probe.call(worker.run_once) == 3
    assert order == ["urgent", "old", "new"]
