"""After downtime the misfire policy decides what happens to the slots nobody fired.

An hourly task created at 00:00 and a platform that comes back at 03:30: the 01:00, 02:00 and
03:00 slots were all missed (each more than the 60 s grace late).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stateyard.core.clock import FrozenClock
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from tests.integration.jobs.conftest import JobProbe, create_task

pytestmark = pytest.mark.usefixtures("beat")


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, 1, hour, minute, tzinfo=UTC)


async def come_back_at(clock: FrozenClock, probe: JobProbe, moment: datetime) -> list[dict]:
    clock.set(moment)
    await probe.work()
    return await probe.runs()


async def test_fire_once_makes_one_catch_up_run_by_default(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    task = await create_task(admin, cron="0 * * * *")
    assert task["misfire"] == "fire_once"
    runs = await come_back_at(clock, probe, at(3, 30))
    assert [(r["scheduled_for"], r["status"]) for r in runs] == [(at(3), "succeeded")]
    assert runs[0]["started_at"] == at(3, 30)
    assert await probe.count("ping") == 1
    assert (await probe.task(task["id"]))["next_run_at"] == at(4)


async def test_fire_all_runs_every_missed_slot(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    task = await create_task(admin, cron="0 * * * *", misfire="fire_all", overlap="allow")
    runs = await come_back_at(clock, probe, at(3, 30))
    assert [(r["scheduled_for"], r["status"]) for r in runs] == [
        (at(1), "succeeded"),
        (at(2), "succeeded"),
        (at(3), "succeeded"),
    ]
    assert await probe.count("ping") == 3
    assert (await probe.task(task["id"]))["next_run_at"] == at(4)


async def test_skip_runs_none_of_the_missed_slots(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    task = await create_task(admin, cron="0 * * * *", misfire="skip")
    assert await come_back_at(clock, probe, at(3, 30)) == []
    assert await probe.count("ping") == 0
    assert (await probe.task(task["id"]))["next_run_at"] == at(4)
    runs = await come_back_at(clock, probe, at(4))  # and the schedule goes on
    assert [r["scheduled_for"] for r in runs] == [at(4)]


async def test_a_slot_within_the_grace_is_not_a_misfire(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    await create_task(admin, cron="0 * * * *", misfire="skip")
    runs = await come_back_at(clock, probe, at(1, 0) + timedelta(seconds=59))
    assert [(r["scheduled_for"], r["status"]) for r in runs] == [(at(1), "succeeded")]


async def test_skip_keeps_the_slot_still_within_the_grace(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    await create_task(admin, cron="*/10 * * * *", misfire="skip")
    runs = await come_back_at(clock, probe, at(0, 30) + timedelta(seconds=30))
    assert [r["scheduled_for"] for r in runs] == [at(0, 30)]  # 00:10 and 00:20 were missed


async def test_fire_all_catch_up_slots_all_run_even_with_overlap_skip(
    admin: Api, probe: JobProbe, clock: FrozenClock
) -> None:
    """The catch-up runs of one fire are created together, before any of them is open."""
    await create_task(admin, cron="0 * * * *", misfire="fire_all", overlap="skip")
    runs = await come_back_at(clock, probe, at(3, 30))
    assert [(r["scheduled_for"], r["status"]) for r in runs] == [
        (at(1), "succeeded"),
        (at(2), "succeeded"),
        (at(3), "succeeded"),
    ]


async def test_downtime_across_the_spring_change_fires_once(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    clock.set(datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    admin = await admin.as_guest().signin(ADMIN_EMAIL, ADMIN_PASSWORD)  # the first token expired meanwhile
    await create_task(admin, cron="30 2 * * *", timezone="Europe/Berlin", misfire="fire_all")
    runs = await come_back_at(clock, probe, datetime(2026, 3, 31, 12, 0, tzinfo=UTC))
    assert [r["scheduled_for"] for r in runs] == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
        datetime(2026, 3, 31, 0, 30, tzinfo=UTC),
    ]
