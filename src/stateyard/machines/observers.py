"""Machines react to row writes: definitions are validated and versioned when saved, machines
marked ``auto_start`` start on new rows, and a deleted row takes its running machines along."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import insert, select

from stateyard.core.db import on_commit
from stateyard.core.errors import FieldError, ProblemError, invalid_definition
from stateyard.core.ids import new_id
from stateyard.crud.hooks import RowObserver, WriteContext
from stateyard.entities.registry import Registry
from stateyard.entities.service import bump_revision
from stateyard.machines.catalog import MachineCatalog
from stateyard.machines.schemas import MachineDef
from stateyard.machines.service import MachineService
from stateyard.machines.validation import machine_errors

DEFINITION_FIELDS = ("entity", "initial_state", "states", "events")


def parse_definition(values: dict[str, Any]) -> MachineDef:
    try:
        return msgspec.convert({k: values.get(k) for k in DEFINITION_FIELDS}, MachineDef)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `$.")
        raise invalid_definition([FieldError(path.rstrip("`") or "definition", "invalid", message)]) from None


def definition_json(definition: MachineDef) -> Any:
    return msgspec.to_builtins(definition)


class StateMachineObserver(RowObserver):
    """Validates a machine on save and keeps every version of its definition."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _check(self, ctx: WriteContext, definition: MachineDef) -> None:
        errors = machine_errors(definition, ctx.snapshot.get(definition.entity), set(ctx.snapshot.groups))
        if errors:
            raise invalid_definition(errors)

    async def _changed(self, ctx: WriteContext) -> None:
        await bump_revision(ctx.conn)
        on_commit(self.registry.reload)

    async def _keep_version(self, ctx: WriteContext, row: dict[str, Any], definition: MachineDef) -> None:
        versions = ctx.snapshot.models["state_machine_version"]
        now = row["updated_at"]
        await ctx.conn.execute(
            insert(versions.table),
            {
                "id": new_id(),
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "owner_id": row["owner_id"],
                "permission": versions.row_permission,
                "machine_id": row["id"],
                "number": row["definition_version"],
                "definition": definition_json(definition),
            },
        )

    async def before_create(self, ctx: WriteContext, values: dict[str, Any]) -> None:
        definition = parse_definition(values)
        self._check(ctx, definition)
        values["states"], values["events"] = (
            definition_json(definition)["states"],
            definition_json(definition)["events"],
        )
        values["definition_version"] = 1

    async def after_create(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        await self._keep_version(ctx, row, parse_definition(row))
        await self._changed(ctx)

    async def before_update(self, ctx: WriteContext, before: dict[str, Any], changes: dict[str, Any]) -> None:
        if "definition_version" in changes and changes["definition_version"] != before["definition_version"]:
            raise invalid_definition(
                [FieldError("definition_version", "read_only", "the platform counts definition versions")]
            )
        changes.pop("definition_version", None)
        if not any(k in changes for k in DEFINITION_FIELDS):
            return
        old = parse_definition(before)
        new = parse_definition({**before, **changes})
        self._check(ctx, new)
        if new.entity != old.entity:
            states = ctx.snapshot.models["object_state"].table
            running = await ctx.conn.scalar(select(states.c.id).where(states.c.machine_id == before["id"]).limit(1))
            if running is not None:
                raise ProblemError(
                    409,
                    "in-use",
                    "Conflict",
                    f"'{before['name']}' runs on {old.entity} rows; it cannot move to another entity.",
                )
        if new != old:
            changes["states"], changes["events"] = definition_json(new)["states"], definition_json(new)["events"]
            changes["definition_version"] = (before["definition_version"] or 1) + 1

    async def after_update(self, ctx: WriteContext, before: dict[str, Any], after: dict[str, Any]) -> None:
        if after["definition_version"] != before["definition_version"]:
            await self._keep_version(ctx, after, parse_definition(after))
        await self._changed(ctx)

    async def after_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        await self._changed(ctx)


class RowLifecycleObserver(RowObserver):
    """For rows of every entity: start auto_start machines on create, forget machines on delete."""

    def __init__(self, catalog: MachineCatalog, machines: MachineService) -> None:
        self.catalog = catalog
        self.machines = machines

    async def after_create(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        for info in self.catalog.for_entity(ctx.model.name):
            if info.auto_start:
                await self.machines.start_in(ctx.conn, ctx.snapshot, ctx.subject, ctx.model, row, info)

    async def after_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        if self.catalog.for_entity(ctx.model.name):
            await self.machines.forget_row(ctx.conn, ctx.snapshot, ctx.model.name, row["id"])
