"""Scheduled tasks declared in schema files (``scheduled_tasks:``): applied idempotently with the entity
and action they run, updated by name on change, refused whole (naming the field) when invalid."""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from stateyard.core.clock import FrozenClock
from stateyard.core.errors import ProblemError
from stateyard.entities.loader import load_folder
from tests.conftest import ADMIN_EMAIL
from tests.integration.jobs.conftest import BEAT, PING, JobProbe

TASK: dict[str, Any] = {
    "name": "nightly_beat",
    "cron": "0 2 * * *",
    "timezone": "Europe/Berlin",
    "entity": "ping",
    "action": "beat",
    "run_as": ADMIN_EMAIL,
    "misfire": "skip",
    "max_attempts": 2,
}


def write(folder: Path, *tasks: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    content = {"entities": [PING], "actions": [BEAT], "scheduled_tasks": list(tasks)}
    (folder / "app.yaml").write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")


async def apply(probe: JobProbe, folder: Path, *, dry_run: bool = False) -> Any:
    return await probe.call(functools.partial(probe.platform.apply_schema, load_folder(folder), dry_run=dry_run))


async def test_a_declared_task_is_created_once_and_fires(tmp_path: Path, probe: JobProbe, clock: FrozenClock) -> None:
    write(tmp_path, TASK)
    planned = await apply(probe, tmp_path, dry_run=True)
    assert "create scheduled task 'nightly_beat'" in [c.detail for c in planned.changes]
    assert await probe.rows("scheduled_task") == []
    result = await apply(probe, tmp_path)
    assert result.applied
    (task,) = await probe.rows("scheduled_task")
    admin = await probe.call(probe.platform.auth.find_user, ADMIN_EMAIL)
    assert (task["run_as"], task["timezone"], task["misfire"], task["max_attempts"]) == (
        admin["id"],
        "Europe/Berlin",
        "skip",
        2,
    )
    assert task["next_run_at"] == clock.now() + timedelta(hours=1)  # 02:00 in Berlin is 01:00 UTC in January
    again = await apply(probe, tmp_path)
    assert (again.applied, again.changes) == (False, [])
    clock.advance(timedelta(hours=1))
    assert await probe.work() == 1
    assert [r["status"] for r in await probe.runs()] == ["succeeded"]


async def test_a_changed_declaration_updates_the_task_by_name(tmp_path: Path, probe: JobProbe) -> None:
    write(tmp_path, TASK)
    await apply(probe, tmp_path)
    (before,) = await probe.rows("scheduled_task")
    write(tmp_path, {**TASK, "cron": "30 * * * *", "enabled": False})
    result = await apply(probe, tmp_path)
    assert [c.detail for c in result.changes] == ["change cron, enabled of scheduled task 'nightly_beat'"]
    (after,) = await probe.rows("scheduled_task")
    assert (after["id"], after["cron"], after["enabled"], after["next_run_at"]) == (
        before["id"],
        "30 * * * *",
        False,
        None,
    )


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"cron": "0 25 * * *"}, "scheduled_tasks[0].cron", "invalid_cron"),
        ({"timezone": "Mars/Base"}, "scheduled_tasks[0].timezone", "invalid_timezone"),
        ({"action": "nope"}, "scheduled_tasks[0].action", "unknown_action"),
        ({"entity": "nothing"}, "scheduled_tasks[0].entity", "unknown_entity"),
        ({"run_as": "nobody@example.com"}, "scheduled_tasks[0].run_as", "unknown_user"),
        ({"run_as": None}, "scheduled_tasks[0].run_as", "required"),  # the system applies it: name someone
    ],
)
async def test_an_invalid_declaration_is_refused_whole(
    tmp_path: Path, probe: JobProbe, change: dict[str, Any], field: str, code: str
) -> None:
    task = {k: v for k, v in {**TASK, **change}.items() if v is not None}
    write(tmp_path, task)
    unchanged = await probe.unchanged("entity", "action", "scheduled_task")
    with pytest.raises(ProblemError) as caught:
        await apply(probe, tmp_path)
    assert caught.value.status == 400
    assert [(e.field, e.code) for e in caught.value.errors or []] == [(field, code)]
    await unchanged.check()
