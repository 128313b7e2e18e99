"""GET /health reports queue depth, running and dead jobs, the oldest due job's age and the scheduler's lag."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stateyard.core.clock import FrozenClock
from stateyard.platform import Platform
from tests.conftest import Api
from tests.integration.jobs.conftest import JobProbe, create_task


async def jobs_health(api: Api) -> dict:
    response = await api.get("/health")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_an_idle_platform_reports_zeros(guest: Api) -> None:
    body = await jobs_health(guest)
    assert body["jobs"] == {"depth": 0, "running": 0, "dead": 0, "oldest_due_seconds": 0.0}
    assert body["scheduler_lag_seconds"] == 0.0


async def test_depth_and_oldest_due_age(guest: Api, probe: JobProbe, platform: Platform, clock: FrozenClock) -> None:
    await probe.enqueue("noop")
    clock.advance(timedelta(seconds=30))
    await probe.enqueue("noop")
    await probe.enqueue("noop", run_at=clock.now() + timedelta(hours=1))  # queued, not yet due
    clock.advance(timedelta(seconds=12.5))
    jobs = (await jobs_health(guest))["jobs"]
    assert (jobs["depth"], jobs["oldest_due_seconds"]) == (3, 42.5)
    await probe.call(platform.queue.claim, "w1", 1)
    assert (await jobs_health(guest))["jobs"] == {"depth": 2, "running": 1, "dead": 0, "oldest_due_seconds": 12.5}


async def test_dead_jobs_are_counted(guest: Api, probe: JobProbe) -> None:
    await probe.enqueue("noop", max_attempts=1)
    await probe.call(probe.platform.queue.claim, "doomed", 1)
    probe.platform.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    await probe.call(probe.platform.queue.recover)
    assert (await jobs_health(guest))["jobs"]["dead"] == 1


@pytest.mark.usefixtures("beat")
async def test_scheduler_lag_is_how_late_the_most_overdue_task_is(
    admin: Api, guest: Api, probe: JobProbe, clock: FrozenClock
) -> None:
    await create_task(admin)
    await create_task(admin, name="hourly", cron="@hourly")
    clock.advance(timedelta(minutes=1, seconds=20))
    assert (await jobs_health(guest))["scheduler_lag_seconds"] == 20.0
    await probe.work()
    assert (await jobs_health(guest))["scheduler_lag_seconds"] == 0.0
    await create_task(admin, name="off", enabled=False)
    clock.advance(timedelta(hours=1))
    assert (await jobs_health(guest))["scheduler_lag_seconds"] == 3560.0  # minutely, due 00:02; 'off' never counts
