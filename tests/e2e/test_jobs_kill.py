"""A real ``stateyard worker`` killed with SIGKILL mid-job: its lease expires and the job runs again on another
worker (at-least-once), or after its last attempt it is dead with the reason and its task run failed; never
left running.

"Mid-job" is real: the task's action calls a loopback service (``http.request``) that keeps the call
waiting, so the worker is inside the action when it is killed. Time is the shared file clock: the
lease runs out when the test moves it, not by waiting.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stateyard.auth.permissions import Subject
from stateyard.platform import Platform
from tests.e2e.jobs_support import (
    BACKENDS,
    STEP_DEADLINE,
    Processes,
    Remote,
    SharedClock,
    create,
    drop_schema,
    platform_for,
    wait_for,
    worker_env,
    working,
)

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)
#: The hourly task's first fire.
FIRE = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
#: STATEYARD_JOB_LEASE_SECONDS of the children (see worker_env).
LEASE = timedelta(seconds=30)
SECOND = timedelta(seconds=1)


@dataclass
class Scene:
    env: dict[str, str]
    clock: SharedClock
    procs: Processes
    remote: Remote


@pytest.fixture(params=BACKENDS)
async def scene(request: pytest.FixtureRequest, tmp_path: Path, server_env: dict[str, str]) -> AsyncIterator[Scene]:
    env = worker_env(server_env, tmp_path, request.param)
    env["STATEYARD_HTTP_ALLOW"] = "127.0.0.1/32"
    clock = SharedClock(tmp_path / "now.txt", T0)
    procs = Processes(tmp_path, env)
    remote = Remote()
    try:
        yield Scene(env, clock, procs, remote)
    finally:
        remote.release()
        procs.stop_all()
        remote.stop()
        await drop_schema(env)


async def define_call_home(platform: Platform, admin: Subject, remote: Remote, max_attempts: int) -> None:
    """``ping/call_home`` asks the remote service for a number and stores it; an hourly task runs it."""
    await create(platform, admin, "entity", {"name": "ping", "columns": [{"name": "n", "type": "integer"}]})
    outcomes = [
        {
            "type": "http.request",
            "reference": "answer",
            "attributes": {"method": "POST", "url": remote.url("/work"), "json": {"hello": 1}, "timeout": 60},
        },
        {"type": "ping", "method": "create", "attributes": {"n": "{{ answer.body.n }}"}},
    ]
    await create(platform, admin, "action", {"name": "call_home", "entity": "ping", "outcomes": outcomes})
    task = {"name": "call_home_hourly", "cron": "0 * * * *", "entity": "ping", "action": "call_home"}
    created = await create(platform, admin, "scheduled_task", {**task, "max_attempts": max_attempts})
    assert created["next_run_at"] == FIRE


async def rows(platform: Platform, entity: str) -> list[dict[str, Any]]:
    table = platform.registry.snapshot.models[entity].table
    async with platform.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings()]


async def task_job(platform: Platform) -> dict[str, Any]:
    (job,) = [j for j in await rows(platform, "job") if j["kind"] == "task.run"]
    return job


async def kill_mid_job(scene: Scene, platform: Platform, admin: Subject, max_attempts: int) -> tuple[dict, str]:
    """A worker starts the task's run, is killed inside its action; answers the job as left and the worker's name."""
    first = scene.procs.start("first", "worker")
    first_name = await working(platform, scene.procs)
    # Defined while the worker runs: it takes the new entity, action and task up without a restart.
    await define_call_home(platform, admin, scene.remote, max_attempts)
    scene.remote.hold()
    scene.clock.set(FIRE)

    async def called() -> bool:
        return scene.remote.calls >= 1

    await wait_for("the first worker's action to call out", called, STEP_DEADLINE, scene.procs)
    job = await task_job(platform)
    assert (job["status"], job["lease_owner"], job["attempts"]) == ("running", first_name, 1)
    assert job["lease_expires_at"] == FIRE + LEASE
    (run,) = await rows(platform, "task_run")
    assert (run["status"], run["attempt"], run["scheduled_for"]) == ("running", 1, FIRE)

    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=10) == -signal.SIGKILL
    scene.remote.release()  # from now on calls are answered at once
    assert await rows(platform, "ping") == []  # the killed attempt wrote nothing
    return job, first_name


async def test_the_job_of_a_killed_worker_runs_again_on_another_worker(scene: Scene) -> None:
    async with platform_for(scene.env) as (platform, admin):
        job, first_name = await kill_mid_job(scene, platform, admin, max_attempts=3)

        scene.procs.start("second", "worker")
        scene.clock.set(FIRE + LEASE - SECOND)
        second_name = await working(platform, scene.procs)
        assert second_name != first_name
        left = await task_job(platform)
        assert (left["status"], left["lease_owner"]) == ("running", first_name)  # the lease still holds

        scene.clock.set(FIRE + LEASE + SECOND)

        async def finished() -> dict[str, Any] | None:
            found = await task_job(platform)
            return found if found["status"] not in ("queued", "running") else None

        done = await wait_for("the job to run again", finished, STEP_DEADLINE, scene.procs)
        assert (done["status"], done["attempts"], done["lease_owner"]) == ("succeeded", 2, second_name)
        assert done["id"] == job["id"] and done["last_error"] is None
        (run,) = await rows(platform, "task_run")
        assert (run["status"], run["attempt"], run["error"]) == ("succeeded", 2, None)
        assert run["finished_at"] == FIRE + LEASE + SECOND
        # At least once: the remote saw both attempts; the database has the effect of the one that finished.
        assert scene.remote.calls == 2
        assert [p["n"] for p in await rows(platform, "ping")] == [2]
        assert [j for j in await rows(platform, "job") if j["status"] == "running"] == []
    assert "Traceback" not in scene.procs.log_of("second"), scene.procs.logs()


async def test_a_killed_worker_s_last_attempt_is_dead_with_the_reason_and_its_run_failed(scene: Scene) -> None:
    async with platform_for(scene.env) as (platform, admin):
        job, _ = await kill_mid_job(scene, platform, admin, max_attempts=1)

        scene.procs.start("second", "worker")
        await working(platform, scene.procs)
        now = FIRE + LEASE + SECOND
        scene.clock.set(now)

        async def given_up() -> dict[str, Any] | None:
            found = await task_job(platform)
            return found if found["status"] not in ("queued", "running") else None

        dead = await wait_for("the job to be given up", given_up, STEP_DEADLINE, scene.procs)
        assert (dead["status"], dead["attempts"], dead["lease_owner"], dead["finished_at"]) == ("dead", 1, None, now)
        assert dead["id"] == job["id"]
        assert dead["last_error"] == "the worker running it stopped answering (lease expired)"
        # Settled with the job, in the same transaction: the run is not left running until some later fire.
        (run,) = await rows(platform, "task_run")
        assert (run["status"], run["error"], run["finished_at"]) == ("failed", dead["last_error"], now)
        (task,) = await rows(platform, "scheduled_task")
        assert task["last_run_at"] == now and task["next_run_at"] == FIRE + timedelta(hours=1)
        assert scene.remote.calls == 1  # never tried again
        assert await rows(platform, "ping") == []
        assert [j for j in await rows(platform, "job") if j["status"] == "running"] == []
