"""Declared actions are checked when saved, and reload in every process when they change."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select

from stateyard.actions.catalog import ACTION_FIELDS
from stateyard.actions.registry import ActionRegistry
from stateyard.actions.schemas import ActionDef
from stateyard.actions.validation import action_errors
from stateyard.core.db import on_commit
from stateyard.core.errors import FieldError, forbidden, invalid_definition
from stateyard.crud.hooks import RowObserver, WriteContext
from stateyard.entities.registry import Registry
from stateyard.entities.service import bump_revision


def parse_action(values: dict[str, Any]) -> ActionDef:
    raw = {k: values[k] for k in ACTION_FIELDS if values.get(k) is not None}
    try:
        return msgspec.convert(raw, ActionDef)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `$.")
        raise invalid_definition([FieldError(path.rstrip("`") or "action", "invalid", message)]) from None


class ActionObserver(RowObserver):
    def __init__(self, registry: Registry, actions: ActionRegistry) -> None:
        self.registry = registry
        self.actions = actions

    async def _check(self, ctx: WriteContext, values: dict[str, Any]) -> dict[str, Any]:
        action = parse_action(values)
        if action.run_as == "system" and not ctx.subject.is_admin:
            raise forbidden("Only administrators may declare an action that runs as the system.", permission="run_as")
        table = ctx.snapshot.models["action"].table
        declared = [(r.entity, r.name) for r in await ctx.conn.execute(select(table.c.entity, table.c.name))]
        errors = action_errors(action, ctx.snapshot, self.actions, declared)
        if errors:
            raise invalid_definition(errors)
        stored = msgspec.to_builtins(action)
        return {k: stored.get(k) for k in ("in_fields", "condition", "groups", "outcomes")}

    async def _changed(self, ctx: WriteContext) -> None:
        await bump_revision(ctx.conn)
        on_commit(self.registry.reload)

    async def before_create(self, ctx: WriteContext, values: dict[str, Any]) -> None:
        values.update(await self._check(ctx, values))

    async def after_create(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        await self._changed(ctx)

    async def before_update(self, ctx: WriteContext, before: dict[str, Any], changes: dict[str, Any]) -> None:
        changes.update(await self._check(ctx, {**before, **changes}))

    async def after_update(self, ctx: WriteContext, before: dict[str, Any], after: dict[str, Any]) -> None:
        await self._changed(ctx)

    async def after_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        await self._changed(ctx)
