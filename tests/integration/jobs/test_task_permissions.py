"""A task runs its action as its run_as user, with that user's permissions, and nothing more."""

from __future__ import annotations

from datetime import timedelta

from stateyard.core.clock import FrozenClock
from tests.conftest import Api
from tests.integration.jobs.conftest import BEAT, JobProbe, create_task

#: Users may read pings and call actions on them, but not create them.
LOCKED_PING = {
    "name": "ping",
    "columns": [{"name": "n", "type": "integer"}],
    "permissions": {"table": {"owner": ["all"], "group": ["peek", "read", "execute"]}},
}


async def test_a_forbidden_action_is_recorded_as_failed_with_no_side_effect(
    admin: Api, guest: Api, probe: JobProbe, clock: FrozenClock
) -> None:
    assert (await admin.post("/api/entity", LOCKED_PING)).status_code == 201
    assert (await admin.post("/api/action", BEAT)).status_code == 201
    ann = await guest.signup("ann@example.com")
    task = await create_task(ann, name="anns", max_attempts=3)
    audit_before = await probe.count("audit_log")
    clock.advance(timedelta(minutes=1))
    assert await probe.work() == 1
    (run,) = await probe.runs()
    assert (run["status"], run["attempt"], run["finished_at"]) == ("failed", 1, clock.now())
    assert run["error"].startswith("403 forbidden")
    job = await probe.job(run["job_id"])
    assert (job["status"], job["attempts"]) == ("failed", 1)  # not retried: another try cannot fix it
    assert job["last_error"].startswith("403 forbidden")
    assert await probe.count("ping") == 0
    assert await probe.count("audit_log") == audit_before
    shown = await ann.get(
        f"/api/task_run?filter=%7B%22field%22%3A%22task_id%22%2C%22op%22%3A%22equals%22%2C%22value%22%3A%22{task['id']}%22%7D"
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["data"][0]["status"] == "failed"


async def test_the_same_task_run_as_an_administrator_succeeds(admin: Api, probe: JobProbe, clock: FrozenClock) -> None:
    assert (await admin.post("/api/entity", LOCKED_PING)).status_code == 201
    assert (await admin.post("/api/action", BEAT)).status_code == 201
    await create_task(admin)
    clock.advance(timedelta(minutes=1))
    await probe.work()
    assert [r["status"] for r in await probe.runs()] == ["succeeded"]
    assert await probe.count("ping") == 1


async def test_a_task_runs_as_the_user_it_names_not_its_creator(
    admin: Api, guest: Api, probe: JobProbe, clock: FrozenClock
) -> None:
    assert (await admin.post("/api/entity", LOCKED_PING)).status_code == 201
    assert (await admin.post("/api/action", BEAT)).status_code == 201
    ann = await guest.signup("ann@example.com")
    await create_task(admin, run_as=(await ann.me())["id"])
    clock.advance(timedelta(minutes=1))
    await probe.work()
    assert [r["status"] for r in await probe.runs()] == ["failed"]
    assert await probe.count("ping") == 0


async def test_a_task_of_a_deleted_user_fails_without_side_effect(
    admin: Api, guest: Api, probe: JobProbe, clock: FrozenClock
) -> None:
    assert (
        await admin.post("/api/entity", {"name": "ping", "columns": [{"name": "n", "type": "integer"}]})
    ).status_code == 201
    assert (await admin.post("/api/action", BEAT)).status_code == 201
    ann = await guest.signup("ann@example.com")
    ann_id = (await ann.me())["id"]
    await create_task(admin, run_as=ann_id)
    assert (await admin.delete(f"/api/user_account/{ann_id}")).status_code == 204
    clock.advance(timedelta(minutes=1))
    await probe.work()
    runs = await probe.runs()
    assert [r["status"] for r in runs] == ["failed"]
    assert runs[0]["error"].startswith("401 unauthorized")
    assert (await probe.job(runs[0]["job_id"]))["status"] == "failed"
    assert await probe.count("ping") == 0
