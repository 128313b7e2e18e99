"""A job exists exactly when the change that enqueued it commits; an idempotency key enqueues once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from stateyard.platform import Platform
from tests.conftest import Api, assert_problem
from tests.integration.jobs.conftest import JobProbe, create_task


class Boom(Exception):
    pass


async def test_a_job_enqueued_in_a_transaction_that_rolls_back_does_not_exist(
    probe: JobProbe, platform: Platform
) -> None:
    async def change_that_fails() -> None:
        async with platform.db.write() as conn:
            await platform.queue.enqueue(conn, "noop", {"n": 1})
            raise Boom

    with pytest.raises(Boom):
        await probe.call(change_that_fails)
    assert await probe.jobs() == []
    assert await probe.work() == 0


async def test_a_committed_job_is_there_and_runs(probe: JobProbe) -> None:
    job_id = await probe.enqueue("noop", {"n": 1})
    (job,) = await probe.jobs()
    assert (job["id"], job["status"], job["payload"]) == (job_id, "queued", {"n": 1})
    assert await probe.work() == 1


@pytest.mark.usefixtures("beat")
async def test_an_action_chain_that_fails_leaves_no_run_and_no_job(admin: Api, probe: JobProbe) -> None:
    """run_now enqueues inside the caller's chain: a later outcome failing takes the job back."""
    await create_task(admin)
    chain = {
        "name": "run_then_fail",
        "entity": "ping",
        "outcomes": [
            {
                "type": "action",
                "attributes": {"entity": "scheduled_task", "name": "run_now", "attributes": {"task": "beat_task"}},
            },
            {"type": "ping", "method": "create", "attributes": {"n": "not a number"}},
        ],
    }
    assert (await admin.post("/api/action", chain)).status_code == 201
    unchanged = await probe.unchanged("task_run", "job", "ping")
    assert_problem(await admin.post("/action/ping/run_then_fail", {"attributes": {}}), 422)
    await unchanged.check()
    good = dict(chain, name="run_then_ping", outcomes=[chain["outcomes"][0]])
    assert (await admin.post("/api/action", good)).status_code == 201
    assert (await admin.post("/action/ping/run_then_ping", {"attributes": {}})).status_code == 200
    assert len(await probe.jobs()) == 1


async def test_the_same_idempotency_key_enqueues_once(probe: JobProbe) -> None:
    first = await probe.enqueue("noop", {"n": 1}, idempotency_key="order-42-paid")
    again = await probe.enqueue("noop", {"n": 2}, idempotency_key="order-42-paid")
    other = await probe.enqueue("noop", {"n": 3}, idempotency_key="order-43-paid")
    assert first == again != other
    jobs = await probe.jobs()
    assert sorted(j["payload"]["n"] for j in jobs) == [1, 3]
    await probe.work()
    assert await probe.enqueue("noop", idempotency_key="order-42-paid") == first  # also once it has run
    assert len(await probe.jobs()) == 2


async def test_jobs_without_a_key_are_never_merged(probe: JobProbe) -> None:
    await probe.enqueue("noop")
    await probe.enqueue("noop")
    assert len(await probe.jobs()) == 2


WAITING = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"


async def blocked_writer(platform: Platform) -> None:
    """Wait until another session waits on a row lock (PostgreSQL); a bound against a hung test only."""
    if not platform.db.is_postgres:
        return  # SQLite has one writer: the second transaction starts after the first commits
    async with asyncio.timeout(5):
        while True:
            async with platform.db.read() as conn:
                if await conn.scalar(text(WAITING)):
                    return
            await asyncio.sleep(0.01)


async def test_concurrent_enqueues_of_one_key_make_one_job(probe: JobProbe, platform: Platform) -> None:
    """The second transaction inserts the key while the first, uncommitted, holds it."""
    first_in = asyncio.Event()

    async def first() -> object:
        async with platform.db.write() as conn:
            job_id = await platform.queue.enqueue(conn, "noop", {"n": 1}, idempotency_key="same")
            first_in.set()
            await blocked_writer(platform)
            return job_id

    async def second() -> object:
        await first_in.wait()
        async with platform.db.write() as conn:
            job_id = await platform.queue.enqueue(conn, "noop", {"n": 2}, idempotency_key="same")
            await platform.queue.enqueue(conn, "noop", {"n": 3})  # the caller's transaction goes on
            return job_id

    async def both() -> list[object]:
        return list(await asyncio.gather(first(), second(), return_exceptions=True))

    results = await probe.call(both)
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert results[0] == results[1]
    assert sorted(j["payload"]["n"] for j in await probe.jobs()) == [1, 3]
