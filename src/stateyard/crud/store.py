"""Low-level row writes: version, timestamps, group shares and the audit record, together.

Every write of an entity row in Stateyard, from the HTTP API, an action, an import or the
entity service itself, goes through :class:`RowStore`, so no path can forget the audit
record or the version bump. Permission checks and input validation happen before this layer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import msgspec
from sqlalchemy import Select, Table, Update, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.audit.service import audit_view, entry, record, record_many
from stateyard.auth.permissions import Subject
from stateyard.core.bulk import insert_rows
from stateyard.core.clock import Clock
from stateyard.core.errors import conflict
from stateyard.core.ids import new_id, new_ids
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot


# Statements are built once per table and run with parameters: building a statement from values
# costs more than compiling it, which SQLAlchemy caches anyway. Bound names start with "_", which
# no column name can (see NAME_PATTERN), so they never clash with a SET column.
@lru_cache(maxsize=256)
def _load_statement(table: Table, for_update: bool) -> Select[Any]:
    stmt = select(table).where(table.c.id == bindparam("_row_id"))
    return stmt.with_for_update() if for_update else stmt


@lru_cache(maxsize=256)
def _update_statement(table: Table) -> Update:
    return update(table).where(table.c.id == bindparam("_row_id"), table.c.version == bindparam("_row_version"))


#: Row fields not worth keeping in a log: the timestamps and the version counter.
UNLOGGED = ("created_at", "updated_at", "version")


class NewRow(msgspec.Struct):
    """A row to insert: validated, stored-form values plus the row fields a writer may choose."""

    values: dict[str, Any]
    owner_id: uuid.UUID | None = None
    permission: int | None = None
    row_id: uuid.UUID | None = None


class RowStore:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def load(
        self, conn: AsyncConnection, model: Model, row_id: uuid.UUID, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        stmt = _load_statement(model.table, for_update and conn.dialect.name == "postgresql")
        found = (await conn.execute(stmt, {"_row_id": row_id})).mappings().first()
        return dict(found) if found is not None else None

    async def insert(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        model: Model,
        values: Mapping[str, Any],
        *,
        actor: Subject,
        owner_id: uuid.UUID | None = None,
        permission: int | None = None,
        row_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        new = NewRow(dict(values), owner_id=owner_id, permission=permission, row_id=row_id)
        return (await self.insert_many(conn, snapshot, model, [new], actor=actor))[0]

    async def insert_many(
        self, conn: AsyncConnection, snapshot: Snapshot, model: Model, rows: Sequence[NewRow], *, actor: Subject
    ) -> list[dict[str, Any]]:
        """Insert rows with their shares and audit records, one statement each (see :func:`insert_rows`)."""
        now = self.clock.now()
        fresh = iter(new_ids(sum(new.row_id is None for new in rows)))
        stored = [
            {
                "id": new.row_id or next(fresh),
                "version": 1,
                "created_at": now,
                "updated_at": now,
                "owner_id": new.owner_id,
                "permission": model.row_permission if new.permission is None else new.permission,
                **new.values,
            }
            for new in rows
        ]
        if not stored:
            return stored
        # executemany binds the same columns for every row: a column a row lacks is null, as it would be alone
        # (validation has already filled declared defaults in).
        first = stored[0].keys()
        if all(row.keys() == first for row in stored):
            uniform = stored
        else:
            keys = {key for row in stored for key in row}
            uniform = [dict.fromkeys(keys) | row for row in stored]
        await insert_rows(conn, model.table, uniform)
        if model.row_group_ids:
            await self.share_many(conn, snapshot, model.name, [row["id"] for row in stored], model.row_group_ids)
        if model.definition.audited:
            audit_model = snapshot.models["audit_log"]
            entry_ids = new_ids(len(stored))
            await record_many(
                conn,
                audit_model,
                [
                    entry(
                        audit_model,
                        entry_id=entry_id,
                        entity=model.name,
                        row_id=row["id"],
                        operation="create",
                        before=None,
                        after=audit_view(model, row, leave_out=UNLOGGED),
                        actor_id=actor.user_id,
                        owner_id=row["owner_id"],
                        at=now,
                    )
                    for row, entry_id in zip(stored, entry_ids, strict=True)
                ],
            )
        return stored

    async def update(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        model: Model,
        before: Mapping[str, Any],
        changes: Mapping[str, Any],
        *,
        actor: Subject,
        operation: str = "update",
    ) -> dict[str, Any]:
        """Apply ``changes`` to the row read as ``before``; 409 if someone changed it since."""
        now = self.clock.now()
        values = {**changes, "version": before["version"] + 1, "updated_at": now}
        result = await conn.execute(
            _update_statement(model.table), {**values, "_row_id": before["id"], "_row_version": before["version"]}
        )
        if result.rowcount != 1:
            raise conflict(
                f"{model.name} {before['id']} was changed by someone else; read it again and retry.",
                code="stale-version",
                entity=model.name,
                id=str(before["id"]),
            )
        after = {**before, **values}
        if model.definition.audited:
            changed = [k for k in changes if before.get(k) != changes[k]]
            await record(
                conn,
                snapshot.models["audit_log"],
                entity=model.name,
                row_id=before["id"],
                operation=operation,
                before=audit_view(model, {k: before.get(k) for k in changed}),
                after=audit_view(model, {k: changes[k] for k in changed}),
                actor_id=actor.user_id,
                owner_id=after["owner_id"],
                at=now,
            )
        return after

    async def delete(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        model: Model,
        before: Mapping[str, Any],
        *,
        actor: Subject,
    ) -> None:
        table = model.table
        result = await conn.execute(
            delete(table).where(table.c.id == before["id"], table.c.version == before["version"])
        )
        if result.rowcount != 1:
            raise conflict(
                f"{model.name} {before['id']} was changed by someone else; read it again and retry.",
                code="stale-version",
                entity=model.name,
                id=str(before["id"]),
            )
        share = snapshot.share_table
        await conn.execute(delete(share).where(share.c.entity == model.name, share.c.row_id == before["id"]))
        if model.definition.audited:
            await record(
                conn,
                snapshot.models["audit_log"],
                entity=model.name,
                row_id=before["id"],
                operation="delete",
                before=audit_view(model, before, leave_out=UNLOGGED),
                after=None,
                actor_id=actor.user_id,
                owner_id=before["owner_id"],
                at=self.clock.now(),
            )

    async def link(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        model: Model,
        relation: str,
        join: Table,
        row: Mapping[str, Any],
        target_id: uuid.UUID,
        *,
        actor: Subject,
    ) -> bool:
        """Add a many_to_many link (audited on the source row); False if it already existed."""
        exists_already = await conn.scalar(
            select(join.c.source_id).where(join.c.source_id == row["id"], join.c.target_id == target_id)
        )
        if exists_already is not None:
            return False
        now = self.clock.now()
        await conn.execute(insert(join).values(source_id=row["id"], target_id=target_id, created_at=now))
        await self._audit_link(conn, snapshot, model, row, "link", relation, target_id, actor)
        return True

    async def unlink(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        model: Model,
        relation: str,
        join: Table,
        row: Mapping[str, Any],
        target_id: uuid.UUID,
        *,
        actor: Subject,
    ) -> bool:
        result = await conn.execute(delete(join).where(join.c.source_id == row["id"], join.c.target_id == target_id))
        if result.rowcount != 1:
            return False
        await self._audit_link(conn, snapshot, model, row, "unlink", relation, target_id, actor)
        return True

    async def _audit_link(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        model: Model,
        row: Mapping[str, Any],
        operation: str,
        relation: str,
        target_id: uuid.UUID,
        actor: Subject,
    ) -> None:
        if model.definition.audited:
            change = {relation: str(target_id)}
            await record(
                conn,
                snapshot.models["audit_log"],
                entity=model.name,
                row_id=row["id"],
                operation=operation,
                before=None if operation == "link" else change,
                after=change if operation == "link" else None,
                actor_id=actor.user_id,
                owner_id=row["owner_id"],
                at=self.clock.now(),
            )

    async def share(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        entity: str,
        row_id: uuid.UUID,
        group_ids: frozenset[uuid.UUID],
    ) -> None:
        """Share a row with groups, whose members then hold the row permission's group verbs."""
        await self.share_many(conn, snapshot, entity, [row_id], group_ids)

    async def share_many(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        entity: str,
        row_ids: Sequence[uuid.UUID],
        group_ids: frozenset[uuid.UUID],
    ) -> None:
        now = self.clock.now()
        share_model = snapshot.models["row_share"]
        await conn.execute(
            insert(share_model.table),
            [
                {
                    "id": new_id(),
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                    "owner_id": None,
                    "permission": share_model.row_permission,
                    "entity": entity,
                    "row_id": row_id,
                    "usergroup_id": group_id,
                }
                for row_id in row_ids
                for group_id in sorted(group_ids)
            ],
        )
