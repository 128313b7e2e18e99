"""A running worker (``Worker.run``, what ``stateyard worker`` runs) keeps its slots full.

It must not wait out its poll interval between batches: with a poll of a minute, twenty quick
jobs and two slots are done within seconds, and a stop request ends it at once.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from stateyard.jobs.worker import Worker
from stateyard.platform import Platform
from tests.integration.jobs.conftest import JobProbe

#: A bound against a hung test, far below what waiting out the poll between batches would take (10 x 60 s).
DEADLINE_SECONDS = 20


async def test_free_slots_are_filled_without_waiting_for_the_poll(probe: JobProbe, platform: Platform) -> None:
    for n in range(20):
        await probe.enqueue("noop", {"n": n})
    table = platform.queue.table
    seen_in_flight: list[int] = []

    async def drain() -> float:
        stop = asyncio.Event()
        worker = Worker(platform, platform.queue, platform.job_handlers, name="w", concurrency=2, poll_seconds=60)
        runner = asyncio.create_task(worker.run(stop))
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            async with asyncio.timeout(DEADLINE_SECONDS):
                while True:
                    seen_in_flight.append(len(worker._running))
                    async with platform.db.read() as conn:
                        done = await conn.scalar(
                            select(func.count()).select_from(table).where(table.c.status == "succeeded")
                        )
                    if done == 20:
                        break
                    await asyncio.sleep(0.005)
        finally:
            stop.set()
            async with asyncio.timeout(5):  # a stop request is answered at once, not after the poll
                await runner
        return loop.time() - started

    await probe.call(drain)
    jobs = await probe.jobs()
    assert {(j["status"], j["attempts"], j["lease_owner"]) for j in jobs} == {("succeeded", 1, "w")}
    assert max(seen_in_flight) <= 2


async def test_a_stopped_idle_worker_ends_at_once(platform: Platform, probe: JobProbe) -> None:
    async def idle_then_stop() -> None:
        stop = asyncio.Event()
        worker = Worker(platform, platform.queue, platform.job_handlers, name="w", concurrency=2, poll_seconds=60)
        runner = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.05)
        stop.set()
        async with asyncio.timeout(5):
            await runner

    await probe.call(idle_then_stop)
