"""Scheduled tasks: validated when saved, run by a job as their ``run_as`` user, recorded per fire."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.actions.directives import notify, record
from stateyard.actions.registry import ActionCall, ActionRegistry, Performer, PerformerResult
from stateyard.auth.access import require_row, require_table
from stateyard.auth.permissions import Verb
from stateyard.core.db import on_commit
from stateyard.core.errors import FieldError, ProblemError, forbidden, invalid, invalid_definition, not_found
from stateyard.crud.hooks import RowObserver, WriteContext
from stateyard.jobs import cron
from stateyard.jobs.worker import DeferJob, JobContext, PermanentJobError

if TYPE_CHECKING:
    from stateyard.platform import Platform

SCHEDULE_FIELDS = ("cron", "timezone", "enabled")
#: How often a run kept waiting by ``overlap: queue_one`` checks whether the previous one has finished.
QUEUE_ONE_RECHECK_SECONDS = 2.0


class ScheduledTaskObserver(RowObserver):
    """Checks cron, time zone, action and run_as on save; keeps ``next_run_at`` in step with edits."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def _check(self, ctx: WriteContext, values: dict[str, Any]) -> None:
        errors: list[FieldError] = []
        problem = cron.cron_problem(values.get("cron") or "")
        if problem:
            errors.append(FieldError("cron", "invalid_cron", problem))
        timezone = values.get("timezone")
        problem = cron.zone_problem("UTC" if timezone is None else timezone)
        if problem:
            errors.append(FieldError("timezone", "invalid_timezone", problem))
        entity, action = values.get("entity"), values.get("action")
        if ctx.snapshot.get(entity or "") is None:
            errors.append(FieldError("entity", "unknown_entity", f"there is no entity named '{entity}'"))
        elif (
            self.platform.action_catalog.get(entity or "", action or "") is None
            and self.platform.actions.find(entity or "", action or "") is None
        ):
            errors.append(FieldError("action", "unknown_action", f"'{entity}' has no action named '{action}'"))
        attributes = values.get("attributes")
        if attributes is not None and not isinstance(attributes, dict):
            errors.append(FieldError("attributes", "type", "expected an object of action inputs"))
        if errors:
            raise invalid_definition(errors)

    @staticmethod
    async def _check_user(ctx: WriteContext, user_id: uuid.UUID) -> None:
        """A task must run as a user account that exists (a wrong id would fail every fire)."""
        users = ctx.snapshot.models["user_account"].table
        if await ctx.conn.scalar(select(users.c.id).where(users.c.id == user_id)) is None:
            problem = f"there is no user account with id '{user_id}'"
            raise invalid_definition([FieldError("run_as", "unknown_user", problem)])

    def _schedule(self, values: dict[str, Any]) -> Any:
        if not values.get("enabled", True):
            return None
        return cron.next_fire(values["cron"], values.get("timezone") or "UTC", self.platform.clock.now())

    async def before_create(self, ctx: WriteContext, values: dict[str, Any]) -> None:
        if values.get("timezone") is None:
            values["timezone"] = "UTC"
        self._check(ctx, values)
        run_as = values.get("run_as") or ctx.subject.user_id
        if run_as != ctx.subject.user_id and not ctx.subject.is_admin:
            raise forbidden("Only administrators may schedule a task to run as someone else.", field="run_as")
        if run_as is None:
            raise invalid([FieldError("run_as", "required", "the id of the user the task runs as")])
        if run_as != ctx.subject.user_id:
            await self._check_user(ctx, run_as)
        values["run_as"] = run_as
        values["next_run_at"] = self._schedule(values)
        values.pop("last_run_at", None)

    async def before_update(self, ctx: WriteContext, before: dict[str, Any], changes: dict[str, Any]) -> None:
        if "timezone" in changes and changes["timezone"] is None:
            changes["timezone"] = "UTC"
        merged = {**before, **changes}
        self._check(ctx, merged)
        if "run_as" in changes and changes["run_as"] != before["run_as"]:
            if not ctx.subject.is_admin:
                raise forbidden("Only administrators may change who a task runs as.", field="run_as")
            if changes["run_as"] is None:
                raise invalid([FieldError("run_as", "required", "the id of the user the task runs as")])
            await self._check_user(ctx, changes["run_as"])
        for managed in ("next_run_at", "last_run_at"):
            changes.pop(managed, None)
        if any(k in changes for k in (*SCHEDULE_FIELDS,)):
            changes["next_run_at"] = self._schedule(merged)


async def run_task(ctx: JobContext) -> dict[str, Any]:
    """The job behind one fire: run the task's action as its user and record how it went."""
    platform = ctx.platform
    models = platform.registry.snapshot.models
    tasks, runs = models["scheduled_task"].table, models["task_run"].table
    run_id = uuid.UUID(ctx.payload["task_run_id"])
    now = platform.clock.now()
    async with platform.db.write() as conn:
        found = select(tasks).join(runs, runs.c.task_id == tasks.c.id).where(runs.c.id == run_id)
        task = (await conn.execute(found)).mappings().first()
        if task is None:
            raise PermanentJobError("the task or its run was deleted")
        if not task["enabled"]:
            await conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(status="skipped", error="the task is disabled", finished_at=now)
            )
            return {"skipped": "disabled"}
        if task["overlap"] == "queue_one" and "running" in await platform.scheduler.open_runs(
            conn, task["id"], other_than=run_id
        ):
            raise DeferJob(QUEUE_ONE_RECHECK_SECONDS, "the previous run has not finished (overlap: queue_one)")
        await conn.execute(
            update(runs).where(runs.c.id == run_id).values(status="running", attempt=ctx.attempt, started_at=now)
        )
    outcome: dict[str, Any] = {"status": "failed", "error": None, "result": None}

    async def record_outcome(conn: AsyncConnection) -> None:
        # Recorded with the job's own end, in its transaction (see JobContext.on_finish).
        finished = platform.clock.now()
        await conn.execute(update(runs).where(runs.c.id == run_id).values(**outcome, finished_at=finished))
        await conn.execute(update(tasks).where(tasks.c.id == task["id"]).values(last_run_at=finished))

    ctx.on_finish.append(record_outcome)
    try:
        subject = await platform.auth.subject_for_user(task["run_as"])
        directives = await platform.engine.call(subject, task["entity"], task["action"], task["attributes"] or {})
        result = {"directives": [d.type for d in directives]}
        outcome.update(status="succeeded", result=result)
        return result
    except ProblemError as exc:
        outcome["error"] = f"{exc.status} {exc.code}: {exc.detail}"
        raise
    except Exception as exc:
        outcome["error"] = f"{type(exc).__name__}: {exc}"
        raise


class RunNowInput(msgspec.Struct, forbid_unknown_fields=True):
    #: The task's id or name.
    task: str


async def run_now(call: ActionCall, data: RunNowInput) -> PerformerResult:
    """Fire a task now, outside its schedule (needs execute permission on the task)."""
    platform = call.platform
    snapshot = call.snapshot
    model = snapshot.models["scheduled_task"]
    require_table(call.subject, model, Verb.EXECUTE)
    conn = await call.connection()
    table = model.table
    try:
        where = table.c.id == uuid.UUID(data.task)
    except ValueError:
        where = table.c.name == data.task
    task = (await conn.execute(select(table).where(where))).mappings().first()
    if task is None:
        raise not_found(f"There is no scheduled task '{data.task}'.")
    try:
        await require_row(conn, snapshot, call.subject, model, dict(task), Verb.EXECUTE)
    except ProblemError as exc:
        if exc.status == 404:  # invisible: answer as for a missing task, without the id a name led to
            raise not_found(f"There is no scheduled task '{data.task}'.") from None
        raise
    now = platform.clock.now()
    created = await platform.scheduler.create_run(conn, task, now, now)
    if not created:
        raise ProblemError(409, "duplicate", "Conflict", "This task already has a run for this instant.")
    return PerformerResult(
        value={"task": task["name"], "scheduled_for": now.isoformat()},
        directives=[notify(f"'{task['name']}' will run now.")],
    )


class ReplayInput(msgspec.Struct, forbid_unknown_fields=True):
    job_id: uuid.UUID


async def replay(call: ActionCall, data: ReplayInput) -> PerformerResult:
    result = await call.platform.queue.replay(data.job_id)
    return PerformerResult(value=result, directives=[record("job", result), notify("The job will run again.")])


def register(registry: ActionRegistry) -> None:
    registry.performer(Performer("task.run_now", RunNowInput, run_now, "Run a scheduled task now."))
    registry.performer(Performer("job.replay", ReplayInput, replay, "Run a dead job again.", admin_only=True))
    registry.expose("scheduled_task", "run_now", "task.run_now", access="user", label="Run now")
    registry.expose("job", "replay", "job.replay", access="admin", label="Replay job")


__all__ = ["ScheduledTaskObserver", "on_commit", "register", "run_task"]
