"""POST /action/scheduled_task/run_now fires a task outside its schedule, by id or by name."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stateyard.core.clock import FrozenClock
from tests.conftest import Api, assert_problem
from tests.integration.jobs.conftest import JobProbe, create_task

pytestmark = pytest.mark.usefixtures("beat")

URL = "/action/scheduled_task/run_now"


async def test_run_now_by_name_and_by_id(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    task = await create_task(admin, cron="@yearly")
    called = await admin.post(URL, {"attributes": {"task": "beat_task"}})
    assert called.status_code == 200, called.text
    assert called.json()[0]["type"] == "client.notify"
    clock.advance(timedelta(seconds=5))
    called = await admin.post(URL, {"attributes": {"task": task["id"]}})
    assert called.status_code == 200, called.text
    assert await probe.work() == 2
    runs = await probe.runs()
    assert [r["scheduled_for"] for r in runs] == [clock.now() - timedelta(seconds=5), clock.now()]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert await probe.count("ping") == 2
    shown = (await admin.get(f"/api/scheduled_task/{task['id']}")).json()
    assert shown["next_run_at"] == "2027-01-01T00:00:00Z"  # the schedule is untouched


async def test_run_now_twice_at_the_same_instant_is_a_conflict(admin: Api, probe: JobProbe) -> None:
    await create_task(admin)
    assert (await admin.post(URL, {"attributes": {"task": "beat_task"}})).status_code == 200
    unchanged = await probe.unchanged("task_run", "job")
    assert_problem(await admin.post(URL, {"attributes": {"task": "beat_task"}}), 409)
    await unchanged.check()


async def test_run_now_refusals(admin: Api, guest: Api, probe: JobProbe) -> None:
    task = await create_task(admin)
    ann = await guest.signup("ann@example.com")
    unchanged = await probe.unchanged("task_run", "job")
    assert_problem(await admin.post(URL, {"attributes": {"task": "missing"}}), 404, "not-found")
    assert_problem(await admin.post(URL, {"attributes": {"task": "01a20379-e49a-73fc-938c-27510d94bb7d"}}), 404)
    assert_problem(await admin.post(URL, {"attributes": {}}), 422)
    assert_problem(await admin.post(URL, {"attributes": {"task": "beat_task", "when": "now"}}), 422)
    assert_problem(await guest.post(URL, {"attributes": {"task": "beat_task"}}), 401)
    # Someone else's task is invisible to ann, by id and by name alike, and its id is not told.
    assert_problem(await ann.post(URL, {"attributes": {"task": task["id"]}}), 404, "not-found")
    by_name = assert_problem(await ann.post(URL, {"attributes": {"task": "beat_task"}}), 404, "not-found")
    assert task["id"] not in str(by_name)
    await unchanged.check()


async def test_a_user_runs_their_own_task_now(guest: Api, probe: JobProbe) -> None:
    ann = await guest.signup("ann@example.com")
    await create_task(ann, name="anns")
    called = await ann.post(URL, {"attributes": {"task": "anns"}})
    assert called.status_code == 200, called.text
    await probe.work()
    assert [r["status"] for r in await probe.runs()] == ["succeeded"]
