"""A ``ping`` entity with a ``beat`` action for tasks to run, and a probe that drives workers.

Workers run with ``run_once`` on the app's own event loop (through the test client's portal,
like the records suite's :class:`Probe`), and time only moves when a test advances the clock.
A :class:`Gate` is a built-in action whose performer waits until the test opens it: a run that
is still running, without sleeping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from stateyard.actions.registry import ActionCall, Performer, PerformerResult
from stateyard.jobs.queue import Backoff
from stateyard.platform import Platform
from tests.conftest import Api
from tests.integration.crud.conftest import Probe

#: The frozen clock starts here (see tests/conftest.py).
T0 = datetime(2026, 1, 1, tzinfo=UTC)

PING = {"name": "ping", "columns": [{"name": "n", "type": "integer"}]}
BEAT = {"name": "beat", "entity": "ping", "outcomes": [{"type": "ping", "method": "create", "attributes": {"n": 1}}]}


def task_body(name: str = "beat_task", **overrides: Any) -> dict[str, Any]:
    return {"name": name, "cron": "* * * * *", "entity": "ping", "action": "beat", **overrides}


class JobProbe(Probe):
    """Reads jobs and runs past the API and drives workers, on the app's loop."""

    async def work(self, name: str = "w1") -> int:
        """One worker cycle: recover leases, fire due tasks, run every due job."""
        return await self.call(self.platform.worker(name=name).run_once)

    def work_in_background(self, name: str) -> concurrent.futures.Future[int]:
        """A worker cycle left running on the app's loop (for runs that block on a gate)."""
        return self.client.blocking_portal.start_task_soon(self.platform.worker(name=name).run_once)

    async def enqueue(self, kind: str, payload: dict[str, Any] | None = None, **options: Any) -> uuid.UUID:
        async def run() -> uuid.UUID:
            async with self.platform.db.write() as conn:
                return await self.platform.queue.enqueue(conn, kind, payload, **options)

        return await self.call(run)

    async def job(self, job_id: uuid.UUID | str) -> dict[str, Any]:
        table = self.platform.registry.snapshot.models["job"].table
        key = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(job_id)

        async def run() -> dict[str, Any]:
            async with self.platform.db.read() as conn:
                return dict((await conn.execute(select(table).where(table.c.id == key))).mappings().one())

        return await self.call(run)

    async def jobs(self) -> list[dict[str, Any]]:
        return await self.rows("job")

    async def runs(self) -> list[dict[str, Any]]:
        """Every task_run, in (scheduled_for, created_at) order."""
        return sorted(await self.rows("task_run"), key=lambda r: (r["scheduled_for"], r["created_at"]))

    async def task(self, task_id: str) -> dict[str, Any]:
        return next(r for r in await self.rows("scheduled_task") if str(r["id"]) == task_id)


@pytest.fixture
def probe(client: AsyncTestClient[Any], platform: Platform) -> JobProbe:
    return JobProbe(client, platform)


@pytest.fixture
async def beat(admin: Api) -> None:
    """The ``ping`` entity and its ``beat`` action (creates one ping)."""
    response = await admin.post("/api/entity", PING)
    assert response.status_code == 201, response.text
    response = await admin.post("/api/action", BEAT)
    assert response.status_code == 201, response.text


async def create_task(api: Api, **body: Any) -> dict[str, Any]:
    response = await api.post("/api/scheduled_task", task_body(**body))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


class Gate:
    """The built-in action ``ping/wait``: its performer waits until the test opens the gate.

    The events belong to the app's loop: they are created, set and awaited there only.
    """

    def __init__(self, probe: JobProbe) -> None:
        self.probe = probe
        self.entered: asyncio.Event | None = None
        self.opened: asyncio.Event | None = None
        self.calls = 0
        self.inside = 0
        self.most_inside = 0

    async def _setup(self) -> None:
        self.entered, self.opened = asyncio.Event(), asyncio.Event()

    async def perform(self, call: ActionCall, data: Any) -> PerformerResult:
        assert self.entered is not None and self.opened is not None
        self.calls += 1
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        self.entered.set()
        try:
            await asyncio.wait_for(self.opened.wait(), 10)  # a bound against a hung test, not a timing
        finally:
            self.inside -= 1
        return PerformerResult(value={"waited": True})

    async def wait_entered(self) -> None:
        async def run() -> None:
            assert self.entered is not None
            await asyncio.wait_for(self.entered.wait(), 5)
            self.entered.clear()

        await self.probe.call(run)

    async def open(self) -> None:
        async def run() -> None:
            assert self.opened is not None
            self.opened.set()

        await self.probe.call(run)


class WaitInput(msgspec.Struct, forbid_unknown_fields=True):
    pass


@pytest.fixture
async def gate(probe: JobProbe, platform: Platform, beat: None) -> Gate:
    """``ping/wait``, and a lease long enough that a run left waiting across a clock jump keeps it.

    Real workers renew leases every third of the lease; ``run_once`` has no renewer, and the tests
    jump the frozen clock by whole minutes.
    """
    made = Gate(probe)
    await probe.call(made._setup)
    platform.actions.performer(Performer("test.wait", WaitInput, made.perform, "Waits for the test."))
    platform.actions.expose("ping", "wait", "test.wait", access="user")
    platform.queue.lease = timedelta(hours=1)
    return made


async def result_of(future: concurrent.futures.Future[Any]) -> Any:
    return await asyncio.to_thread(future.result, 10)


FAST = Backoff(initial=10.0, multiplier=3.0, maximum=60.0, jitter=0.2)
