"""Related rows: ``include=`` embedding and the per-relation endpoints.

Related rows pass the same permission filter as a list of their own entity: a user never
sees a row through a relation that they could not list directly. A belongs_to target that
may only be peeked at shows as ``{"id": ...}``; one that may not even be peeked at, as null.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.permissions import Subject, Verb, row_filter
from stateyard.core.db import as_dicts
from stateyard.crud.present import Presenter
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot
from stateyard.entities.schemas import RelationDef


def has_many_key(model: Model, rel: RelationDef) -> str:
    """The foreign key column on the target that a has_many relation follows."""
    return f"{rel.inverse or model.name}_id"


class Includer:
    def __init__(self, presenter: Presenter, limit: int) -> None:
        self.presenter = presenter
        self.limit = limit

    async def attach(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        rows: Sequence[Mapping[str, Any]],
        shown: list[dict[str, Any]],
        include: Sequence[str],
    ) -> None:
        for name in include:
            rel = model.relations[name]
            target = snapshot.model(rel.target)
            if rel.type == "belongs_to":
                await self._belongs_to(conn, snapshot, subject, rel, target, rows, shown)
            else:
                await self._many(conn, snapshot, subject, model, rel, target, rows, shown)

    async def _belongs_to(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        rel: RelationDef,
        target: Model,
        rows: Sequence[Mapping[str, Any]],
        shown: list[dict[str, Any]],
    ) -> None:
        ids = {row[rel.column] for row in rows if row.get(rel.column) is not None}
        found: dict[uuid.UUID, dict[str, Any] | None] = {}
        if ids:
            table = target.table
            readable = row_filter(subject, table, target.name, Verb.READ, snapshot.share_table)
            peekable = row_filter(subject, table, target.name, Verb.PEEK, snapshot.share_table)
            stmt = select(table, readable.label("_readable")).where(table.c.id.in_(ids), peekable)
            for related in as_dicts(await conn.execute(stmt)):
                readable_now = related.pop("_readable")
                found[related["id"]] = (
                    self.presenter.row(snapshot, target, related, subject) if readable_now else {"id": related["id"]}
                )
        for row, out in zip(rows, shown, strict=True):
            ref = row.get(rel.column)
            out[rel.name] = found.get(ref) if ref is not None else None

    async def _many(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        rel: RelationDef,
        target: Model,
        rows: Sequence[Mapping[str, Any]],
        shown: list[dict[str, Any]],
    ) -> None:
        parent_ids = [row["id"] for row in rows]
        grouped: dict[uuid.UUID, list[dict[str, Any]]] = {pid: [] for pid in parent_ids}
        if parent_ids:
            table = target.table
            visible = row_filter(subject, table, target.name, Verb.READ, snapshot.share_table)
            if rel.type == "has_many":
                parent = table.c[has_many_key(model, rel)]
                base = select(table, parent.label("_parent")).where(parent.in_(parent_ids), visible)
            else:
                join = model.join_tables[rel.name]
                parent = join.c.source_id
                base = (
                    select(table, parent.label("_parent"))
                    .join(join, join.c.target_id == table.c.id)
                    .where(parent.in_(parent_ids), visible)
                )
            ranked = base.add_columns(
                func.row_number().over(partition_by=parent, order_by=(table.c.created_at, table.c.id)).label("_rank")
            ).subquery()
            # ranked.c["_parent"], not ranked.c._parent: the attribute is the column collection's own
            # (its parent collection), and ordering by it orders by every column, id first.
            stmt = select(ranked).where(ranked.c._rank <= self.limit).order_by(ranked.c["_parent"], ranked.c._rank)
            for related in as_dicts(await conn.execute(stmt)):
                parent_id = related.pop("_parent")
                related.pop("_rank")
                grouped[parent_id].append(related)
        for row, out in zip(rows, shown, strict=True):
            out[rel.name] = self.presenter.rows(snapshot, target, grouped[row["id"]], subject)


def related_where(model: Model, rel: RelationDef, target: Model, row_id: uuid.UUID) -> Any:
    """SQL selecting the target rows related to one row of ``model``."""
    if rel.type == "has_many":
        return target.table.c[has_many_key(model, rel)] == row_id
    join = model.join_tables[rel.name]
    return target.table.c.id.in_(select(join.c.target_id).where(join.c.source_id == row_id))


__all__ = ["Includer", "and_", "has_many_key", "related_where"]
