"""Bad scheduled task definitions are refused naming each field, and leave nothing behind."""

from __future__ import annotations

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.jobs.conftest import JobProbe, create_task, task_body

pytestmark = pytest.mark.usefixtures("beat")


def fields(body: dict) -> dict[str, str]:
    return {e["field"]: e["code"] for e in body["errors"]}


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"cron": "61 * * * *"}, "cron", "invalid_cron"),
        ({"cron": "* * * * * *"}, "cron", "invalid_cron"),
        ({"cron": "@reboot"}, "cron", "invalid_cron"),
        ({"cron": "0 0 31 2 *"}, "cron", "invalid_cron"),
        ({"cron": ""}, "cron", "invalid_cron"),
        ({"timezone": "Mars/Base"}, "timezone", "invalid_timezone"),
        ({"timezone": "europe/berlin"}, "timezone", "invalid_timezone"),
        ({"timezone": ""}, "timezone", "invalid_timezone"),
        ({"action": "nope"}, "action", "unknown_action"),
        ({"entity": "nothing"}, "entity", "unknown_entity"),
    ],
)
async def test_invalid_definition_is_400_naming_the_field(
    admin: Api, probe: JobProbe, overrides: dict, field: str, code: str
) -> None:
    unchanged = await probe.unchanged("scheduled_task", "task_run", "job")
    body = assert_problem(await admin.post("/api/scheduled_task", task_body(**overrides)), 400, "invalid-definition")
    assert fields(body) == {field: code}
    await unchanged.check()


async def test_every_problem_is_named_at_once(admin: Api, probe: JobProbe) -> None:
    bad = task_body(cron="61 * * * *", timezone="Mars/Base", action="nope")
    body = assert_problem(await admin.post("/api/scheduled_task", bad), 400, "invalid-definition")
    assert fields(body) == {"cron": "invalid_cron", "timezone": "invalid_timezone", "action": "unknown_action"}
    assert "Mars/Base" in body["detail"]


async def test_values_of_the_wrong_type_are_422(admin: Api, probe: JobProbe) -> None:
    unchanged = await probe.unchanged("scheduled_task")
    for overrides in ({"misfire": "later"}, {"overlap": "never"}, {"max_attempts": 0}, {"enabled": "yes"}):
        assert_problem(await admin.post("/api/scheduled_task", task_body(**overrides)), 422, "validation")
    assert_problem(await admin.post("/api/scheduled_task", task_body(attributes=[1])), 400)
    assert_problem(await admin.post("/api/scheduled_task", task_body(run_as="not-a-uuid")), 422, "validation")
    assert_problem(await admin.post("/api/scheduled_task", task_body(name="Bad Name")), 422, "validation")
    await unchanged.check()


async def test_an_edit_that_breaks_the_schedule_is_refused(admin: Api, probe: JobProbe) -> None:
    task = await create_task(admin)
    unchanged = await probe.unchanged("scheduled_task")
    url = f"/api/scheduled_task/{task['id']}"
    body = assert_problem(await admin.patch(url, {"cron": "* * * *"}), 400, "invalid-definition")
    assert fields(body) == {"cron": "invalid_cron"}
    body = assert_problem(await admin.patch(url, {"timezone": "Nowhere/Land"}), 400, "invalid-definition")
    assert fields(body) == {"timezone": "invalid_timezone"}
    body = assert_problem(await admin.patch(url, {"action": "gone"}), 400, "invalid-definition")
    assert fields(body) == {"action": "unknown_action"}
    await unchanged.check()


async def test_a_user_cannot_make_a_task_run_as_someone_else(admin: Api, guest: Api, probe: JobProbe) -> None:
    ann = await guest.signup("ann@example.com")
    admin_id = (await admin.me())["id"]
    unchanged = await probe.unchanged("scheduled_task")
    body = assert_problem(await ann.post("/api/scheduled_task", task_body(run_as=admin_id)), 403, "forbidden")
    assert "run as" in body["detail"]
    await unchanged.check()
    own = await create_task(ann, run_as=(await ann.me())["id"])
    assert own["run_as"] == (await ann.me())["id"]
    unchanged = await probe.unchanged("scheduled_task")
    assert_problem(await ann.patch(f"/api/scheduled_task/{own['id']}", {"run_as": admin_id}), 403, "forbidden")
    await unchanged.check()


async def test_a_task_runs_as_its_creator_unless_an_admin_says_otherwise(admin: Api, guest: Api) -> None:
    ann = await guest.signup("ann@example.com")
    ann_id = (await ann.me())["id"]
    assert (await create_task(ann, name="mine"))["run_as"] == ann_id
    assert (await create_task(admin, name="for_ann", run_as=ann_id))["run_as"] == ann_id
    assert (await create_task(admin, name="admins"))["run_as"] == (await admin.me())["id"]


async def test_schedule_fields_are_managed_by_the_platform(admin: Api) -> None:
    task = await create_task(admin, next_run_at="2030-01-01T00:00:00Z", last_run_at="2029-01-01T00:00:00Z")
    assert task["next_run_at"].startswith("2026-01-01T00:01:00")
    assert task["last_run_at"] is None
    patched = await admin.patch(f"/api/scheduled_task/{task['id']}", {"next_run_at": "2030-01-01T00:00:00Z"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["next_run_at"].startswith("2026-01-01T00:01:00")


async def test_guests_cannot_schedule(guest: Api, probe: JobProbe) -> None:
    unchanged = await probe.unchanged("scheduled_task")
    assert_problem(await guest.post("/api/scheduled_task", task_body()), 401)
    await unchanged.check()


async def test_run_as_must_name_an_existing_user(admin: Api, probe: JobProbe) -> None:
    nobody = "01a20379-e49a-73fc-938c-27510d94bb7d"
    unchanged = await probe.unchanged("scheduled_task")
    body = assert_problem(await admin.post("/api/scheduled_task", task_body(run_as=nobody)), 400, "invalid-definition")
    assert fields(body) == {"run_as": "unknown_user"}
    await unchanged.check()
    task = await create_task(admin)
    unchanged = await probe.unchanged("scheduled_task")
    url = f"/api/scheduled_task/{task['id']}"
    body = assert_problem(await admin.patch(url, {"run_as": nobody}), 400, "invalid-definition")
    assert fields(body) == {"run_as": "unknown_user"}
    assert_problem(await admin.patch(url, {"run_as": None}), 422)
    await unchanged.check()
