"""``stateyard serve`` runs an embedded worker, ``serve --no-worker`` leaves the work to ``stateyard worker``
processes, ``GET /health`` shows the queue and the scheduler's lag, and a running worker takes edited
definitions up without a restart. Real processes on the shared file clock.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from stateyard.auth.permissions import Subject
from stateyard.platform import Platform
from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, free_port
from tests.e2e.jobs_support import (
    BACKENDS,
    START_DEADLINE,
    STEP_DEADLINE,
    Processes,
    SharedClock,
    create,
    drop_schema,
    platform_for,
    wait_for,
    worker_env,
    working,
)

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@dataclass
class Scene:
    env: dict[str, str]
    clock: SharedClock
    procs: Processes


@pytest.fixture(params=BACKENDS)
async def scene(request: pytest.FixtureRequest, tmp_path: Path, server_env: dict[str, str]) -> AsyncIterator[Scene]:
    env = worker_env(server_env, tmp_path, request.param)
    procs = Processes(tmp_path, env)
    try:
        yield Scene(env, SharedClock(tmp_path / "now.txt", T0), procs)
    finally:
        procs.stop_all()
        await drop_schema(env)


async def define_beat(platform: Platform, admin: Subject) -> dict[str, Any]:
    """``ping/beat`` creates a ping with n = 1; a minutely task runs it. Answers the action row."""
    await create(platform, admin, "entity", {"name": "ping", "columns": [{"name": "n", "type": "integer"}]})
    beat = {
        "name": "beat",
        "entity": "ping",
        "outcomes": [{"type": "ping", "method": "create", "attributes": {"n": 1}}],
    }
    action = await create(platform, admin, "action", beat)
    task = {"name": "minutely", "cron": "* * * * *", "entity": "ping", "action": "beat"}
    assert (await create(platform, admin, "scheduled_task", task))["next_run_at"] == T0 + MINUTE
    return action


async def serve(scene: Scene, *flags: str) -> tuple[httpx.AsyncClient, int]:
    """Start ``stateyard serve`` and wait until /health answers; a client on it and the process id."""
    port = free_port()
    process = scene.procs.start("server", "serve", "--host", "127.0.0.1", "--port", str(port), *flags)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10.0)

    async def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}\n{scene.procs.logs()}")
        try:
            return (await client.get("/health")).status_code == 200
        except httpx.TransportError:
            return False

    await wait_for("the server to answer", healthy, START_DEADLINE, scene.procs)
    return client, process.pid


async def health(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/health")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def pings(platform: Platform) -> list[int]:
    table = platform.registry.snapshot.models["ping"].table
    async with platform.db.read() as conn:
        return [r.n for r in await conn.execute(select(table.c.n).order_by(table.c.created_at))]


async def run_of(platform: Platform, slot: datetime) -> dict[str, Any] | None:
    """The run of ``slot`` once it and its job have both finished, else None."""
    models = platform.registry.snapshot.models
    runs, jobs = models["task_run"].table, models["job"].table
    stmt = (
        select(runs, jobs.c.status.label("job_status"))
        .select_from(runs.outerjoin(jobs, jobs.c.id == runs.c.job_id))
        .where(runs.c.scheduled_for == slot)
    )
    async with platform.db.read() as conn:
        found = (await conn.execute(stmt)).mappings().first()
    if (
        found is None
        or "queued" in (found["status"], found["job_status"])
        or "running"
        in (
            found["status"],
            found["job_status"],
        )
    ):
        return None
    return dict(found)


async def settle(scene: Scene, platform: Platform, slot: datetime) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        return await run_of(platform, slot)

    return await wait_for(f"the run of {slot:%H:%M}", settled, STEP_DEADLINE, scene.procs)


async def test_serve_runs_an_embedded_worker(scene: Scene) -> None:
    async with platform_for(scene.env) as (platform, admin):
        await define_beat(platform, admin)
        client, pid = await serve(scene)
        async with contextlib.aclosing(client):
            assert f":{pid}:" in await working(platform, scene.procs)
            scene.clock.set(T0 + MINUTE)
            assert (await settle(scene, platform, T0 + MINUTE))["status"] == "succeeded"

            # POST /action/scheduled_task/run_now over HTTP: a run at the current instant, run by the embedded worker.
            signin = await client.post(
                "/action/user_account/signin", json={"attributes": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}
            )
            token = next(d["attributes"]["value"] for d in signin.json() if d["type"] == "client.store.set")
            auth = {"Authorization": f"Bearer {token}"}
            now = T0 + MINUTE + timedelta(seconds=20)
            scene.clock.set(now)
            called = await client.post(
                "/action/scheduled_task/run_now", headers=auth, json={"attributes": {"task": "minutely"}}
            )
            assert called.status_code == 200, called.text
            assert (await settle(scene, platform, now))["status"] == "succeeded"
            assert await pings(platform) == [1, 1]
            bad = await client.post("/action/scheduled_task/run_now", headers=auth, json={"attributes": {"task": 5}})
            assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


async def test_serve_without_worker_leaves_the_work_to_stateyard_worker(scene: Scene) -> None:
    async with platform_for(scene.env) as (platform, admin):
        action = await define_beat(platform, admin)
        client, server_pid = await serve(scene, "--no-worker")
        async with contextlib.aclosing(client):
            async with platform.db.write() as conn:
                await platform.queue.enqueue(conn, "noop", {"waits": "for a worker"})
            scene.clock.set(T0 + MINUTE + timedelta(seconds=30))
            shown = await health(client)
            assert shown["jobs"] == {"depth": 1, "running": 0, "dead": 0, "oldest_due_seconds": 90.0}
            assert shown["scheduler_lag_seconds"] == 30.0  # the 09:01 slot, half a minute overdue

            worker = scene.procs.start("worker", "worker")
            ran_by = await working(platform, scene.procs)
            assert f":{worker.pid}:" in ran_by and f":{server_pid}:" not in ran_by
            assert (await settle(scene, platform, T0 + MINUTE))["status"] == "succeeded"
            shown = await health(client)
            assert shown["jobs"] == {"depth": 0, "running": 0, "dead": 0, "oldest_due_seconds": 0.0}
            assert shown["scheduler_lag_seconds"] == 0.0
            jobs = platform.queue.table
            async with platform.db.read() as conn:
                owners = set((await conn.execute(select(jobs.c.lease_owner))).scalars())
            assert not any(f":{server_pid}:" in owner for owner in owners)

            # An edited action is taken up by the running worker without a restart (it watches for changes).
            outcomes = [{"type": "ping", "method": "create", "attributes": {"n": 2}}]
            await platform.records.update(admin, "action", str(action["id"]), {"outcomes": outcomes})
            slot = T0 + MINUTE
            limit = time.monotonic() + STEP_DEADLINE
            while (await pings(platform))[-1] != 2:
                assert time.monotonic() < limit, f"the worker kept the old action\n{scene.procs.logs()}"
                slot += MINUTE
                scene.clock.set(slot)
                await settle(scene, platform, slot)
            assert set(await pings(platform)) == {1, 2}
