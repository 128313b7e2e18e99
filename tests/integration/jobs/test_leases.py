"""A worker that dies mid-job leaves an expired lease: the job runs again, or is dead with the reason; never stuck.

"Dying" here is claiming a job and never finishing it; the e2e suite kills a real process.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from stateyard.core.clock import FrozenClock
from stateyard.platform import Platform
from tests.conftest import Api
from tests.integration.jobs.conftest import JobProbe, create_task


async def claim(probe: JobProbe, worker: str) -> list[dict[str, Any]]:
    return await probe.call(probe.platform.queue.claim, worker, 10)


async def test_an_expired_lease_is_run_again_by_another_worker(probe: JobProbe, clock: FrozenClock) -> None:
    job_id = await probe.enqueue("noop")
    (claimed,) = await claim(probe, "doomed")
    job = await probe.job(job_id)
    assert (job["status"], job["lease_owner"], job["attempts"]) == ("running", "doomed", 1)
    assert job["lease_expires_at"] == clock.now() + timedelta(seconds=30)
    clock.advance(timedelta(seconds=29))
    assert await probe.work("rescuer") == 0  # the lease still holds
    assert (await probe.job(job_id))["status"] == "running"
    clock.advance(timedelta(seconds=2))
    assert await probe.work("rescuer") == 1
    job = await probe.job(job_id)
    assert (job["status"], job["attempts"], job["lease_owner"]) == ("succeeded", 2, "rescuer")
    # The dead worker's late answer changes nothing: the job is no longer its to finish.
    assert await probe.call(probe.platform.queue.succeed, claimed, "doomed", {"late": True}) is False
    assert (await probe.job(job_id))["result"] == {"ok": True}


async def test_a_job_that_dies_on_its_last_attempt_is_dead_with_the_reason(probe: JobProbe, clock: FrozenClock) -> None:
    job_id = await probe.enqueue("noop", max_attempts=1)
    await claim(probe, "doomed")
    clock.advance(timedelta(minutes=1))
    assert await probe.work("rescuer") == 0
    job = await probe.job(job_id)
    assert (job["status"], job["finished_at"], job["lease_owner"]) == ("dead", clock.now(), None)
    assert "lease expired" in job["last_error"]


async def test_a_renewed_lease_keeps_the_job(probe: JobProbe, clock: FrozenClock) -> None:
    job_id = await probe.enqueue("noop")
    await claim(probe, "alive")
    for _ in range(5):
        clock.advance(timedelta(seconds=20))
        assert await probe.call(probe.platform.queue.renew, "alive", [job_id]) == 1
        assert await probe.work("other") == 0
    assert (await probe.job(job_id))["lease_owner"] == "alive"
    assert await probe.call(probe.platform.queue.renew, "someone-else", [job_id]) == 0


async def test_a_claim_takes_no_more_than_its_limit(probe: JobProbe) -> None:
    for _ in range(7):
        await probe.enqueue("noop")
    assert [len(await probe.call(probe.platform.queue.claim, "w", n)) for n in (1, 2, 3, 5)] == [1, 2, 3, 1]
    assert await probe.call(probe.platform.queue.claim, "w", 0) == []


async def test_one_job_is_claimed_by_one_worker(probe: JobProbe) -> None:
    ids = {await probe.enqueue("noop") for _ in range(6)}
    first = await claim(probe, "a")
    second = await claim(probe, "b")
    assert {j["id"] for j in first} == ids
    assert second == []


async def mark_running(probe: JobProbe, run_id: Any) -> None:
    """What run_task does first: the run is running (and then its worker is killed)."""
    runs = probe.platform.registry.snapshot.models["task_run"].table

    async def run() -> None:
        async with probe.platform.db.write() as conn:
            await conn.execute(update(runs).where(runs.c.id == run_id).values(status="running", attempt=1))

    await probe.call(run)


@pytest.mark.usefixtures("beat")
async def test_a_task_run_whose_job_died_is_settled_and_does_not_block_later_fires(
    admin: Api, probe: JobProbe, platform: Platform, clock: FrozenClock
) -> None:
    await create_task(admin, max_attempts=1, overlap="skip")
    clock.advance(timedelta(minutes=1))
    assert await probe.call(platform.scheduler.tick) == 1
    await claim(probe, "doomed")
    (run,) = await probe.runs()
    await mark_running(probe, run["id"])
    clock.advance(timedelta(minutes=1))
    assert await probe.work("rescuer") == 1  # the next slot runs: the dead one no longer counts as open
    first, second = await probe.runs()
    assert (first["status"], first["finished_at"]) == ("failed", clock.now())
    assert "lease expired" in first["error"]
    assert (await probe.job(first["job_id"]))["status"] == "dead"
    assert second["status"] == "succeeded"


@pytest.mark.usefixtures("beat")
async def test_a_task_run_whose_worker_died_is_run_again(
    admin: Api, probe: JobProbe, platform: Platform, clock: FrozenClock
) -> None:
    await create_task(admin, cron="@hourly")
    clock.advance(timedelta(hours=1))
    assert await probe.call(platform.scheduler.tick) == 1
    await claim(probe, "doomed")
    (run,) = await probe.runs()
    await mark_running(probe, run["id"])
    clock.advance(timedelta(seconds=31))
    assert await probe.work("rescuer") == 1
    (run,) = await probe.runs()
    assert (run["status"], run["attempt"]) == ("succeeded", 2)
    assert await probe.count("ping") == 1


@pytest.mark.usefixtures("beat")
async def test_a_task_run_whose_job_dies_is_failed_with_it_not_at_the_next_fire(
    admin: Api, probe: JobProbe, platform: Platform, clock: FrozenClock
) -> None:
    task = await create_task(admin, cron="@yearly", max_attempts=1)
    await admin.post("/action/scheduled_task/run_now", {"attributes": {"task": task["name"]}})
    await claim(probe, "doomed")
    (run,) = await probe.runs()
    await mark_running(probe, run["id"])
    clock.advance(timedelta(seconds=31))
    assert await probe.call(platform.queue.recover) == 1  # no fire is due for a year: recovery alone settles it
    (run,) = await probe.runs()
    assert (run["status"], run["finished_at"]) == ("failed", clock.now())
    assert run["error"] == "the worker running it stopped answering (lease expired)"
    assert (await probe.task(task["id"]))["last_run_at"] == clock.now()
    assert await probe.count("ping") == 0
