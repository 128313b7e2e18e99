"""Jobs are for administrators only; task runs are visible to whoever may read their task."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from stateyard.core.clock import FrozenClock
from tests.conftest import Api, assert_problem
from tests.integration.jobs.conftest import JobProbe, create_task


async def test_administrators_list_and_filter_jobs(admin: Api, probe: JobProbe) -> None:
    await probe.enqueue("noop", {"a": 1})
    await probe.enqueue("nobody.handles.this")
    await probe.work()
    listed = await admin.get(
        "/api/job", params={"filter": json.dumps({"field": "status", "op": "equals", "value": "failed"})}
    )
    assert listed.status_code == 200, listed.text
    (job,) = listed.json()["data"]
    assert (job["kind"], job["status"], job["attempts"]) == ("nobody.handles.this", "failed", 1)
    assert job["last_error"] == "no handler for job kind 'nobody.handles.this'"
    assert (await admin.get(f"/api/job/{job['id']}")).json()["id"] == job["id"]
    assert listed.json()["meta"]["total"] == 1


async def test_jobs_are_invisible_to_everyone_else(admin: Api, guest: Api, probe: JobProbe) -> None:
    job_id = await probe.enqueue("noop")
    ann = await guest.signup("ann@example.com")
    refused = await ann.get("/api/job")
    assert_problem(refused, 403, "forbidden")
    assert_problem(
        await ann.get("/api/job", params={"filter": json.dumps({"field": "kind", "op": "equals", "value": "noop"})}),
        403,
    )
    assert_problem(await ann.get(f"/api/job/{job_id}"), 403)
    assert_problem(await guest.get("/api/job"), 401)


async def test_jobs_cannot_be_written_through_the_api(admin: Api, probe: JobProbe) -> None:
    job_id = await probe.enqueue("noop")
    unchanged = await probe.unchanged("job")
    assert_problem(await admin.post("/api/job", {"kind": "noop", "run_at": "2026-01-01T00:00:00Z"}), 405)
    assert_problem(await admin.patch(f"/api/job/{job_id}", {"status": "succeeded"}), 405)
    assert_problem(await admin.delete(f"/api/job/{job_id}"), 405)
    await unchanged.check()


@pytest.mark.usefixtures("beat")
async def test_task_runs_are_visible_to_the_task_owner_only(
    admin: Api, guest: Api, probe: JobProbe, clock: FrozenClock
) -> None:
    ann = await guest.signup("ann@example.com")
    bob = await guest.signup("bob@example.com")
    await create_task(ann, name="anns")
    await create_task(admin, name="admins")
    clock.advance(timedelta(minutes=1))
    await probe.work()
    mine = await ann.get("/api/task_run")
    assert mine.status_code == 200, mine.text
    assert mine.json()["meta"]["total"] == 1
    assert (await bob.get("/api/task_run")).json()["meta"]["total"] == 0
    assert (await admin.get("/api/task_run")).json()["meta"]["total"] == 2
    assert (await bob.get("/api/scheduled_task")).json()["meta"]["total"] == 0
