"""Three real ``stateyard worker`` processes on one database fire one minutely task over a simulated hour:
60 runs, one per slot, each succeeded, and the action's effect happened 60 times (0 duplicates, 0 misses).

The shared file clock moves minute by minute; each slot is waited for until its run and its job
have both finished (so no lease is ever outrun by the clock), and the count is taken after the
workers have stopped, so that a late duplicate could not escape it. On SQLite the three processes
share the one writer; the test runs there too.
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from stateyard.platform import Platform
from tests.e2e.jobs_support import (
    BACKENDS,
    STEP_DEADLINE,
    Processes,
    SharedClock,
    create,
    drop_schema,
    platform_for,
    wait_for,
    wait_started,
    worker_env,
)

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
WORKERS = 3
SLOTS = 60


async def slot_settled(platform: Platform, slot: datetime) -> dict[str, Any] | None:
    """The run of ``slot`` once it and its job have finished, else None."""
    models = platform.registry.snapshot.models
    runs, jobs = models["task_run"].table, models["job"].table
    stmt = (
        select(runs.c.status, runs.c.attempt, jobs.c.status.label("job_status"), jobs.c.lease_owner)
        .select_from(runs.outerjoin(jobs, jobs.c.id == runs.c.job_id))
        .where(runs.c.scheduled_for == slot)
    )
    async with platform.db.read() as conn:
        found = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    if (
        len(found) != 1
        or found[0]["status"] in ("queued", "running")
        or found[0]["job_status"] in ("queued", "running")
    ):
        return None
    return found[0]


async def count(platform: Platform, entity: str) -> int:
    table = platform.registry.snapshot.models[entity].table
    async with platform.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_three_workers_fire_a_minutely_task_once_per_slot_for_an_hour(
    backend: str, tmp_path: Path, server_env: dict[str, str]
) -> None:
    env = worker_env(server_env, tmp_path, backend)
    clock = SharedClock(tmp_path / "now.txt", T0)
    procs = Processes(tmp_path, env)
    try:
        async with platform_for(env) as (platform, admin):
            await create(platform, admin, "entity", {"name": "ping", "columns": [{"name": "n", "type": "integer"}]})
            beat = {
                "name": "beat",
                "entity": "ping",
                "outcomes": [{"type": "ping", "method": "create", "attributes": {"n": 1}}],
            }
            await create(platform, admin, "action", beat)
            names = [f"worker{n}" for n in range(WORKERS)]
            for name in names:
                procs.start(name, "worker")
            for name in names:
                await wait_started(procs, name)
            # Saved while the workers run: it takes effect without a restart.
            task = await create(
                platform,
                admin,
                "scheduled_task",
                {"name": "minutely", "cron": "* * * * *", "entity": "ping", "action": "beat"},
            )
            assert task["next_run_at"] == T0 + MINUTE

            owners: dict[str, int] = {}
            for minute in range(1, SLOTS + 1):
                slot = T0 + minute * MINUTE
                clock.set(slot)

                async def settled(slot: datetime = slot) -> dict[str, Any] | None:
                    return await slot_settled(platform, slot)

                run = await wait_for(f"the run of {slot:%H:%M}", settled, STEP_DEADLINE, procs)
                assert (run["status"], run["attempt"], run["job_status"]) == ("succeeded", 1, "succeeded"), run
                owners[run["lease_owner"]] = owners.get(run["lease_owner"], 0) + 1

            for _, process, _ in procs.started:
                process.send_signal(signal.SIGTERM)
            for name, process, _ in procs.started:
                assert process.wait(timeout=30) == 0, f"{name} did not stop cleanly\n{procs.logs()}"

            runs = platform.registry.snapshot.models["task_run"].table
            async with platform.db.read() as conn:
                rows = [dict(r) for r in (await conn.execute(select(runs).order_by(runs.c.scheduled_for))).mappings()]
            assert [r["scheduled_for"] for r in rows] == [T0 + m * MINUTE for m in range(1, SLOTS + 1)]
            assert {(r["status"], r["attempt"], r["error"]) for r in rows} == {("succeeded", 1, None)}
            jobs = platform.registry.snapshot.models["job"].table
            async with platform.db.read() as conn:
                task_jobs = [
                    dict(r) for r in (await conn.execute(select(jobs).where(jobs.c.kind == "task.run"))).mappings()
                ]
            assert len(task_jobs) == SLOTS
            assert {(j["status"], j["attempts"]) for j in task_jobs} == {("succeeded", 1)}
            assert await count(platform, "ping") == SLOTS
            # Several processes took part (each slot goes to whichever looks first).
            assert len(owners) >= 2, owners
        logs = procs.logs()
        assert "Traceback" not in logs and " ERROR " not in logs, logs
    finally:
        procs.stop_all()
        await drop_schema(env)
