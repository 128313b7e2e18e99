"""Scheduled tasks declared in schema files: checked before anything of the document is applied,
then created or updated by name through the records service (so the same checks and schedule
computation apply as through the API). Tasks not named in the files are left alone."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from stateyard.auth.permissions import Subject
from stateyard.core.errors import FieldError, invalid_definition
from stateyard.entities.diff import Change
from stateyard.entities.schemas import SchemaDocument
from stateyard.jobs import cron
from stateyard.jobs.schemas import TaskDef

if TYPE_CHECKING:
    from stateyard.platform import Platform

#: The columns of a ``scheduled_task`` row a schema file decides (run_as compared as the resolved id).
SPEC_FIELDS = ("cron", "timezone", "entity", "action", "attributes", "enabled", "misfire", "overlap", "max_attempts")


def _field(index: int, name: str) -> str:
    return f"scheduled_tasks[{index}].{name}"


async def _accounts(platform: Platform, emails: set[str]) -> dict[str, Any]:
    """Ids of the user accounts with these emails (lower-cased, as stored)."""
    if not emails:
        return {}
    users = platform.registry.snapshot.models["user_account"].table
    async with platform.db.read() as conn:
        rows = await conn.execute(select(users.c.email, users.c.id).where(func.lower(users.c.email).in_(emails)))
        return {email.lower(): user_id for email, user_id in rows}


async def check_specs(platform: Platform, document: SchemaDocument, actor: Subject) -> dict[str, Any]:
    """Refuse the document unless every task in it can be saved; answers the run_as ids by email.

    The entity and action may be declared by the same document (they are applied first).
    """
    specs = document.scheduled_tasks
    if not specs:
        return {}
    snapshot = platform.registry.snapshot
    entities = set(snapshot.models) | {e.name for e in document.entities}
    declared = {(a.entity, a.name) for a in document.actions}
    accounts = await _accounts(platform, {s.run_as.lower() for s in specs if s.run_as})
    errors: list[FieldError] = []
    for index, spec in enumerate(specs):
        problem = cron.cron_problem(spec.cron)
        if problem:
            errors.append(FieldError(_field(index, "cron"), "invalid_cron", problem))
        problem = cron.zone_problem(spec.timezone)
        if problem:
            errors.append(FieldError(_field(index, "timezone"), "invalid_timezone", problem))
        if spec.entity not in entities:
            errors.append(FieldError(_field(index, "entity"), "unknown_entity", f"there is no entity '{spec.entity}'"))
        elif (
            (spec.entity, spec.action) not in declared
            and platform.action_catalog.get(spec.entity, spec.action) is None
            and platform.actions.find(spec.entity, spec.action) is None
        ):
            problem = f"'{spec.entity}' has no action named '{spec.action}'"
            errors.append(FieldError(_field(index, "action"), "unknown_action", problem))
        if spec.run_as is None and actor.user_id is None:
            problem = "name the email of the user account the task runs as"
            errors.append(FieldError(_field(index, "run_as"), "required", problem))
        elif spec.run_as is not None and spec.run_as.lower() not in accounts:
            problem = f"there is no user account '{spec.run_as}'"
            errors.append(FieldError(_field(index, "run_as"), "unknown_user", problem))
    if errors:
        raise invalid_definition(errors)
    return accounts


async def apply_specs(
    platform: Platform, specs: list[TaskDef], accounts: dict[str, Any], *, actor: Subject, dry_run: bool = False
) -> list[Change]:
    """Make the declared tasks exist as declared (create or update by name)."""
    if not specs:
        return []
    table = platform.registry.snapshot.models["scheduled_task"].table
    async with platform.db.read() as conn:
        existing = {r["name"]: dict(r) for r in (await conn.execute(select(table))).mappings()}
    changes: list[Change] = []
    for spec in specs:
        body: dict[str, Any] = {k: getattr(spec, k) for k in SPEC_FIELDS}
        body["run_as"] = accounts[spec.run_as.lower()] if spec.run_as else actor.user_id
        current = existing.get(spec.name)
        if current is None:
            changes.append(Change("create_task", spec.entity, f"create scheduled task '{spec.name}'", spec.name))
            if not dry_run:
                await platform.records.create(actor, "scheduled_task", {"name": spec.name, **body})
            continue
        differing = sorted(k for k in (*SPEC_FIELDS, "run_as") if current.get(k) != body[k])
        if differing:
            detail = f"change {', '.join(differing)} of scheduled task '{spec.name}'"
            changes.append(Change("update_task", spec.entity, detail, spec.name))
            if not dry_run:
                changed = {k: body[k] for k in differing}
                await platform.records.update(actor, "scheduled_task", str(current["id"]), changed)
    return changes
