"""Declared actions known to this process, reloaded with the entity registry."""

from __future__ import annotations

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.actions.schemas import ActionDef
from stateyard.entities.registry import Snapshot

ACTION_FIELDS = tuple(f.name for f in msgspec.structs.fields(ActionDef))


def definition_from_row(row: dict[str, object]) -> ActionDef:
    raw = {k: row[k] for k in ACTION_FIELDS if row.get(k) is not None}
    return msgspec.convert(raw, ActionDef)


class ActionCatalog:
    def __init__(self) -> None:
        self._actions: dict[tuple[str, str], ActionDef] = {}

    async def reload(self, snapshot: Snapshot, conn: AsyncConnection) -> None:
        table = snapshot.models["action"].table
        rows = (await conn.execute(select(table))).mappings().all()
        self._actions = {(r["entity"], r["name"]): definition_from_row(dict(r)) for r in rows}

    def get(self, entity: str, name: str) -> ActionDef | None:
        return self._actions.get((entity, name))

    def all(self) -> list[ActionDef]:
        return sorted(self._actions.values(), key=lambda a: (a.entity, a.name))
