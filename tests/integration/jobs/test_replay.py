"""An administrator replays a dead job (POST /action/job/replay); nobody else may, and only dead or failed jobs."""

from __future__ import annotations

import uuid
from typing import Any

from stateyard.core.clock import FrozenClock
from stateyard.jobs.worker import JobContext
from stateyard.platform import Platform
from tests.conftest import Api, assert_problem
from tests.integration.jobs.conftest import JobProbe

URL = "/action/job/replay"


async def dead_job(probe: JobProbe, platform: Platform, outcome: dict[str, Any]) -> uuid.UUID:
    async def handler(ctx: JobContext) -> Any:
        if outcome.get("fail", True):
            raise RuntimeError("still broken")
        return {"fixed": True}

    platform.job_handlers["test.fragile"] = handler
    job_id = await probe.enqueue("test.fragile", max_attempts=1)
    await probe.work()
    assert (await probe.job(job_id))["status"] == "dead"
    return job_id


async def test_admin_replays_a_dead_job_with_fresh_attempts(
    admin: Api, probe: JobProbe, platform: Platform, clock: FrozenClock
) -> None:
    outcome: dict[str, Any] = {}
    job_id = await dead_job(probe, platform, outcome)
    replayed = await admin.post(URL, {"attributes": {"job_id": str(job_id)}})
    assert replayed.status_code == 200, replayed.text
    assert [d["type"] for d in replayed.json()] == ["job", "client.notify"]
    job = await probe.job(job_id)
    assert (job["status"], job["attempts"], job["run_at"], job["finished_at"]) == ("queued", 0, clock.now(), None)
    assert job["last_error"] == "RuntimeError: still broken"  # kept until the next attempt tells otherwise
    outcome["fail"] = False
    assert await probe.work() == 1
    job = await probe.job(job_id)
    assert (job["status"], job["attempts"], job["result"], job["last_error"]) == ("succeeded", 1, {"fixed": True}, None)


async def test_a_failed_job_can_be_replayed_too(admin: Api, probe: JobProbe) -> None:
    job_id = await probe.enqueue("nobody.handles.this")
    await probe.work()
    assert (await probe.job(job_id))["status"] == "failed"
    assert (await admin.post(URL, {"attributes": {"job_id": str(job_id)}})).status_code == 200
    assert (await probe.job(job_id))["status"] == "queued"


async def test_only_administrators_may_replay(admin: Api, guest: Api, probe: JobProbe, platform: Platform) -> None:
    job_id = await dead_job(probe, platform, {})
    ann = await guest.signup("ann@example.com")
    unchanged = await probe.unchanged("job")
    assert_problem(await ann.post(URL, {"attributes": {"job_id": str(job_id)}}), 403, "forbidden")
    assert_problem(await guest.post(URL, {"attributes": {"job_id": str(job_id)}}), 401)
    await unchanged.check()


async def test_a_job_that_is_not_dead_cannot_be_replayed(admin: Api, probe: JobProbe, platform: Platform) -> None:
    queued = await probe.enqueue("noop")
    unchanged = await probe.unchanged("job")
    body = assert_problem(await admin.post(URL, {"attributes": {"job_id": str(queued)}}), 409, "not-replayable")
    assert body["status_now"] == "queued"
    await unchanged.check()
    await probe.work()
    body = assert_problem(await admin.post(URL, {"attributes": {"job_id": str(queued)}}), 409, "not-replayable")
    assert body["status_now"] == "succeeded"


async def test_replay_refuses_bad_input(admin: Api, probe: JobProbe) -> None:
    unchanged = await probe.unchanged("job")
    assert_problem(await admin.post(URL, {"attributes": {"job_id": str(uuid.uuid4())}}), 404, "not-found")
    assert_problem(await admin.post(URL, {"attributes": {"job_id": "not-a-uuid"}}), 422)
    assert_problem(await admin.post(URL, {"attributes": {}}), 422)
    assert_problem(await admin.post(URL, {"attributes": {"job_id": str(uuid.uuid4()), "force": True}}), 422)
    await unchanged.check()
