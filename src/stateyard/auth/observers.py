"""Rules for the system entities behind permissions: row shares and user groups."""

from __future__ import annotations

from typing import Any

from stateyard.auth.access import require_row
from stateyard.auth.permissions import Verb
from stateyard.core.db import on_commit
from stateyard.core.errors import FieldError, ProblemError, invalid
from stateyard.crud.hooks import RowObserver, WriteContext
from stateyard.crud.store import RowStore
from stateyard.entities.registry import Registry
from stateyard.entities.service import bump_revision
from stateyard.entities.system import ADMINISTRATORS, USERS


class RowShareObserver(RowObserver):
    """Only someone who may update a row may share it with a group."""

    def __init__(self, store: RowStore) -> None:
        self.store = store

    async def before_create(self, ctx: WriteContext, values: dict[str, Any]) -> None:
        entity = ctx.snapshot.get(values["entity"])
        if entity is None:
            raise invalid([FieldError("entity", "not_found", f"there is no entity named '{values['entity']}'")])
        row = await self.store.load(ctx.conn, entity, values["row_id"])
        if row is None:
            raise invalid(
                [FieldError("row_id", "not_found", f"there is no {entity.name} with id '{values['row_id']}'")]
            )
        await require_row(ctx.conn, ctx.snapshot, ctx.subject, entity, row, Verb.UPDATE)

    async def before_update(self, ctx: WriteContext, before: dict[str, Any], changes: dict[str, Any]) -> None:
        raise ProblemError(
            405,
            "method-not-allowed",
            "Method not allowed",
            "A share cannot be changed; delete it and share again.",
        )


class UsergroupObserver(RowObserver):
    """Groups are referred to by name in definitions: changing them changes the schema revision."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def _changed(self, ctx: WriteContext) -> None:
        await bump_revision(ctx.conn)
        on_commit(self.registry.reload)

    async def after_create(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        await self._changed(ctx)

    async def before_update(self, ctx: WriteContext, before: dict[str, Any], changes: dict[str, Any]) -> None:
        if before["name"] in (ADMINISTRATORS, USERS) and changes.get("name", before["name"]) != before["name"]:
            raise _builtin_group(before["name"])

    async def after_update(self, ctx: WriteContext, before: dict[str, Any], after: dict[str, Any]) -> None:
        if before["name"] != after["name"]:
            await self._changed(ctx)

    async def before_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        if row["name"] in (ADMINISTRATORS, USERS):
            raise _builtin_group(row["name"])

    async def after_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        await self._changed(ctx)


def _builtin_group(name: str) -> ProblemError:
    return ProblemError(409, "system-group", "Conflict", f"The built-in group '{name}' cannot be renamed or deleted.")
