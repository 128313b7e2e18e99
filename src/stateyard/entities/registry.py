"""The live set of compiled entities, shared by every request in a process.

Definitions are stored as rows of ``entity``, ``entity_column`` and ``entity_relation``;
the registry compiles them into an immutable :class:`Snapshot`. A change bumps a revision
counter in the same transaction; this process reloads at once, other processes notice the
new revision within ``schema_poll_seconds`` (or at once when a request names an entity
they do not know yet).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import MetaData, Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.permissions import decode
from stateyard.core.db import Database
from stateyard.core.errors import not_found
from stateyard.entities.compiler import Model, compile_tables
from stateyard.entities.schemas import ColumnDef, EntityDef, EntityPermissions, IndexDef, RelationDef
from stateyard.entities.system import META_TABLE, SCHEMA_REVISION, system_definitions

log = logging.getLogger(__name__)

COLUMN_FIELDS = tuple(f.name for f in msgspec.structs.fields(ColumnDef))
RELATION_FIELDS = tuple(f.name for f in msgspec.structs.fields(RelationDef))
FLAG_FIELDS = frozenset({"required", "unique", "indexed"})


class Snapshot:
    """Every entity at one schema revision; never mutated after construction."""

    def __init__(
        self,
        revision: int,
        models: dict[str, Model],
        metadata: MetaData,
        groups: dict[str, uuid.UUID],
    ) -> None:
        self.revision = revision
        self.models = models
        self.metadata = metadata
        self.groups = groups

    def get(self, name: str) -> Model | None:
        return self.models.get(name)

    def model(self, name: str) -> Model:
        found = self.models.get(name)
        if found is None:
            raise not_found(f"There is no entity named '{name}'.", entity=name)
        return found

    @property
    def share_table(self) -> Table:
        return self.models["row_share"].table

    def group_id(self, name: str) -> uuid.UUID | None:
        return self.groups.get(name)


def compile_snapshot(
    revision: int,
    definitions: Iterable[tuple[EntityDef, uuid.UUID | None, uuid.UUID | None]],
    groups: dict[str, uuid.UUID],
    *,
    previous: Snapshot | None = None,
) -> Snapshot:
    """Compile (definition, entity row id, owner id) triples into a snapshot.

    With ``previous``, the new snapshot shares its MetaData and keeps every model whose
    definition did not change: their Table objects stay the same, so SQLAlchemy's statement
    cache (keyed by table) survives a schema change elsewhere, and only changed entities are
    compiled again. Requests still holding ``previous`` keep working on its models.
    """
    items = list(definitions)
    metadata = previous.metadata if previous is not None else MetaData()
    models: dict[str, Model] = {}
    changed: list[tuple[EntityDef, uuid.UUID | None, uuid.UUID | None]] = []
    for definition, row_id, owner_id in items:
        group_ids = frozenset(groups[g] for g in definition.groups if g in groups)
        row_group_ids = frozenset(groups[g] for g in definition.row_groups if g in groups)
        old = previous.models.get(definition.name) if previous is not None else None
        if (
            old is not None
            and old.definition == definition
            and (old.row_id, old.owner_id, old.group_ids, old.row_group_ids)
            == (row_id, owner_id, group_ids, row_group_ids)
        ):
            models[definition.name] = old
        else:
            changed.append((definition, row_id, owner_id))
    if previous is not None:
        # Tables of changed and dropped entities leave the shared MetaData before the new ones join it.
        for name, old in previous.models.items():
            if name not in models:
                for table in (old.table, *old.join_tables.values()):
                    if metadata.tables.get(table.name) is table:
                        metadata.remove(table)
    tables = compile_tables((d for d, _, _ in changed), metadata)
    for definition, row_id, owner_id in changed:
        table, joins = tables[definition.name]
        models[definition.name] = Model(
            definition,
            table,
            row_id=row_id,
            owner_id=owner_id,
            group_ids=frozenset(groups[g] for g in definition.groups if g in groups),
            row_group_ids=frozenset(groups[g] for g in definition.row_groups if g in groups),
            join_tables=joins,
        )
    return Snapshot(revision, models, metadata, groups)


@cache
def bootstrap_snapshot() -> Snapshot:
    """The system entities alone, as shipped: enough to create and read the definition tables."""
    return compile_snapshot(0, ((d, None, None) for d in system_definitions().values()), {})


def definition_from_rows(
    entity_row: dict[str, Any], column_rows: list[dict[str, Any]], relation_rows: list[dict[str, Any]]
) -> EntityDef:
    columns = [msgspec.convert(_given(row, COLUMN_FIELDS), ColumnDef) for row in column_rows]
    relations = [msgspec.convert(_given(row, RELATION_FIELDS), RelationDef) for row in relation_rows]
    return EntityDef(
        name=entity_row["name"],
        label=entity_row["label"],
        description=entity_row["description"],
        columns=columns,
        relations=relations,
        indexes=msgspec.convert(entity_row["indexes"] or [], list[IndexDef]),
        permissions=EntityPermissions(
            table=decode(entity_row["table_permission"]), row=decode(entity_row["row_permission"])
        ),
        groups=list(entity_row["groups"] or []),
        row_groups=list(entity_row["row_groups"] or []),
        read_only=bool(entity_row["read_only"]),
        audited=bool(entity_row["audited"]),
        system=bool(entity_row["system"]),
    )


def _given(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The stored fields that say something: nulls and unset flags are left to the Struct's defaults."""
    return {k: row[k] for k in fields if row.get(k) is not None and not (k in FLAG_FIELDS and row[k] is False)}


async def read_revision(conn: AsyncConnection) -> int:
    value = await conn.scalar(select(META_TABLE.c.value).where(META_TABLE.c.key == SCHEMA_REVISION))
    return int(value or 0)


async def read_snapshot(conn: AsyncConnection, previous: Snapshot | None = None) -> Snapshot:
    base = bootstrap_snapshot()
    ent, col, rel, grp = (base.models[n].table for n in ("entity", "entity_column", "entity_relation", "usergroup"))
    revision = await read_revision(conn)
    entity_rows = [dict(r) for r in (await conn.execute(select(ent))).mappings()]
    column_rows = [
        dict(r) for r in (await conn.execute(select(col).order_by(col.c.position, col.c.created_at))).mappings()
    ]
    relation_rows = [dict(r) for r in (await conn.execute(select(rel).order_by(rel.c.created_at))).mappings()]
    groups = {r.name: r.id for r in (await conn.execute(select(grp.c.id, grp.c.name))).all()}
    by_entity: dict[uuid.UUID, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {
        row["id"]: ([], []) for row in entity_rows
    }
    for row in column_rows:
        by_entity.setdefault(row["entity_id"], ([], []))[0].append(row)
    for row in relation_rows:
        by_entity.setdefault(row["entity_id"], ([], []))[1].append(row)
    triples = []
    for row in entity_rows:
        cols, rels = by_entity[row["id"]]
        triples.append((definition_from_rows(row, cols, rels), row["id"], row["owner_id"]))
    # Before the first bootstrap has written them, system entities are known by their shipped form.
    stored = {row["name"] for row in entity_rows}
    triples += [(d, None, None) for name, d in system_definitions().items() if name not in stored]
    return compile_snapshot(revision, triples, groups, previous=previous)


class Registry:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._snapshot = bootstrap_snapshot()
        self._lock = asyncio.Lock()
        #: Snapshots loaded here share one MetaData (see compile_snapshot); the shipped one has its own.
        self._loaded: Snapshot | None = None
        #: Areas that cache something derived from definitions (machines, say) reload with the registry.
        self._listeners: list[Callable[[Snapshot], Awaitable[None]]] = []

    def on_reload(self, listener: Callable[[Snapshot], Awaitable[None]]) -> None:
        self._listeners.append(listener)

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    async def reload(self) -> Snapshot:
        async with self._lock:
            async with self.db.read() as conn:
                snapshot = await read_snapshot(conn, self._loaded)
            self.db.tables_changed()
            for listener in self._listeners:
                await listener(snapshot)
            self._snapshot = self._loaded = snapshot
        return snapshot

    async def refresh(self) -> Snapshot:
        """Reload when another process (or this one) changed definitions since the last load."""
        async with self.db.read() as conn:
            revision = await read_revision(conn)
        if revision != self._snapshot.revision:
            return await self.reload()
        return self._snapshot

    async def model(self, name: str) -> Model:
        """The named entity, looking again at the database before answering 404."""
        found = self._snapshot.get(name)
        if found is None:
            found = (await self.refresh()).model(name)
        return found
