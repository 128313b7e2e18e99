"""Saving a task takes effect at once: next_run_at follows edits, disabling stops future runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stateyard.core.clock import FrozenClock
from tests.conftest import Api
from tests.integration.jobs.conftest import JobProbe, create_task

pytestmark = pytest.mark.usefixtures("beat")


async def get_task(admin: Api, task_id: str) -> dict:
    response = await admin.get(f"/api/scheduled_task/{task_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_next_run_at_is_computed_on_save_in_the_task_time_zone(admin: Api) -> None:
    task = await create_task(admin, cron="0 9 * * *", timezone="Europe/Berlin")
    assert task["next_run_at"] == "2026-01-01T08:00:00Z"  # 09:00 CET
    assert task["timezone"] == "Europe/Berlin"
    defaulted = await create_task(admin, name="utc_task", cron="0 9 * * *", timezone=None)
    assert (defaulted["timezone"], defaulted["next_run_at"]) == ("UTC", "2026-01-01T09:00:00Z")


async def test_a_task_fires_when_due_and_shows_its_last_run(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    task = await create_task(admin)
    assert await probe.work() == 0  # not due yet
    assert await probe.runs() == []
    clock.advance(timedelta(minutes=1))
    assert await probe.work() == 1
    (run,) = await probe.runs()
    assert (run["scheduled_for"], run["status"], run["attempt"]) == (clock.now(), "succeeded", 1)
    assert run["started_at"] == run["finished_at"] == clock.now()
    assert run["error"] is None
    assert run["result"] == {"directives": ["ping"]}
    assert await probe.count("ping") == 1
    shown = await get_task(admin, task["id"])
    assert shown["last_run_at"] == "2026-01-01T00:01:00Z"
    assert shown["next_run_at"] == "2026-01-01T00:02:00Z"
    runs = await admin.get(f"/api/scheduled_task/{task['id']}/runs")
    assert runs.status_code == 200, runs.text
    assert [r["status"] for r in runs.json()["data"]] == ["succeeded"]


async def test_editing_the_cron_recomputes_next_run_from_now(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    task = await create_task(admin, cron="0 * * * *")
    assert task["next_run_at"] == "2026-01-01T01:00:00Z"
    clock.advance(timedelta(minutes=20))
    patched = await admin.patch(f"/api/scheduled_task/{task['id']}", {"cron": "*/15 * * * *"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["next_run_at"] == "2026-01-01T00:30:00Z"
    clock.advance(timedelta(minutes=10))
    assert await probe.work() == 1
    assert [r["scheduled_for"].minute for r in await probe.runs()] == [30]


async def test_a_time_zone_edit_moves_the_next_run(admin: Api) -> None:
    task = await create_task(admin, cron="0 9 * * *")
    patched = await admin.patch(f"/api/scheduled_task/{task['id']}", {"timezone": "America/New_York"})
    assert patched.json()["next_run_at"] == "2026-01-01T14:00:00Z"  # 09:00 EST


async def test_an_edit_that_does_not_touch_the_schedule_keeps_it(admin: Api, clock: FrozenClock) -> None:
    task = await create_task(admin, cron="0 * * * *")
    clock.advance(timedelta(minutes=30))
    patched = await admin.patch(f"/api/scheduled_task/{task['id']}", {"attributes": {"x": 1}})
    assert patched.json()["next_run_at"] == task["next_run_at"]


async def test_disabling_stops_future_runs_and_enabling_resumes_from_now(
    admin: Api, probe: JobProbe, clock: FrozenClock
) -> None:
    task = await create_task(admin)
    url = f"/api/scheduled_task/{task['id']}"
    disabled = await admin.patch(url, {"enabled": False})
    assert disabled.json()["next_run_at"] is None
    clock.advance(timedelta(hours=2))
    assert await probe.work() == 0
    assert await probe.runs() == []
    enabled = await admin.patch(url, {"enabled": True})
    assert enabled.json()["next_run_at"] == "2026-01-01T02:01:00Z"  # no catch-up for the disabled time
    clock.advance(timedelta(minutes=1))
    assert await probe.work() == 1
    assert len(await probe.runs()) == 1


async def test_a_task_created_disabled_never_fires(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    task = await create_task(admin, enabled=False)
    assert task["next_run_at"] is None
    clock.advance(timedelta(days=1))
    assert await probe.work() == 0
    assert await probe.runs() == []


async def test_a_run_already_queued_when_the_task_is_disabled_does_not_run_the_action(
    admin: Api, probe: JobProbe, clock: FrozenClock
) -> None:
    task = await create_task(admin)
    clock.advance(timedelta(minutes=1))
    assert await probe.call(probe.platform.scheduler.tick) == 1  # fired, its job not run yet
    await admin.patch(f"/api/scheduled_task/{task['id']}", {"enabled": False})
    await probe.work()
    (run,) = await probe.runs()
    assert (run["status"], run["error"]) == ("skipped", "the task is disabled")
    assert await probe.count("ping") == 0


async def test_deleting_a_task_deletes_its_runs_and_stops_it(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    task = await create_task(admin)
    clock.advance(timedelta(minutes=1))
    await probe.work()
    assert (await admin.delete(f"/api/scheduled_task/{task['id']}")).status_code == 204
    assert await probe.runs() == []
    clock.advance(timedelta(minutes=5))
    assert await probe.work() == 0
    assert await probe.count("ping") == 1
