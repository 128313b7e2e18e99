"""Each fire is claimed by its unique (task, scheduled_for): competing workers fire it once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from stateyard.core.clock import FrozenClock
from stateyard.platform import Platform
from tests.conftest import Api
from tests.integration.jobs.conftest import JobProbe, create_task

pytestmark = pytest.mark.usefixtures("beat")


async def test_workers_racing_for_the_same_slots_fire_each_once(
    admin: Api, probe: JobProbe, platform: Platform, clock: FrozenClock
) -> None:
    for n in range(3):
        await create_task(admin, name=f"task_{n}")

    async def three_workers() -> list[int]:
        return list(await asyncio.gather(*(platform.worker(name=f"w{i}").run_once() for i in range(3))))

    for _ in range(5):
        clock.advance(timedelta(minutes=1))
        ran = await probe.call(three_workers)
        assert sum(ran) == 3
    runs = await probe.runs()
    assert len(runs) == 15
    assert len({(r["task_id"], r["scheduled_for"]) for r in runs}) == 15
    assert {r["status"] for r in runs} == {"succeeded"}
    assert await probe.count("ping") == 15
    assert {j["status"] for j in await probe.jobs()} == {"succeeded"}


async def test_a_slot_that_already_has_a_run_is_not_fired_again(
    admin: Api, probe: JobProbe, platform: Platform, clock: FrozenClock
) -> None:
    task = await create_task(admin)
    clock.advance(timedelta(minutes=1))
    await probe.work()
    tasks = platform.registry.snapshot.models["scheduled_task"].table

    async def fire_the_same_slot_again() -> int:
        async with platform.db.write() as conn:
            row = (await conn.execute(select(tasks).where(tasks.c.id == uuid.UUID(task["id"])))).mappings().one()
            return await platform.scheduler.create_run(conn, row, clock.now(), clock.now())

    assert await probe.call(fire_the_same_slot_again) == 0
    assert len(await probe.runs()) == 1
    assert len(await probe.jobs()) == 1
