"""Write audit records inside the transaction of the change they describe.

An audit record is a row of the ``audit_log`` entity, owned by the owner of the row it
describes, so people read the history of their own rows and administrators read all.
Secret values never reach the log: password hashes and ciphertexts are replaced by a marker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.core.bulk import insert_rows
from stateyard.core.ids import new_id
from stateyard.entities.compiler import Model

HIDDEN = "[hidden]"


def audit_view(model: Model, values: Mapping[str, Any], *, leave_out: Iterable[str] = ()) -> dict[str, Any]:
    """Copy of ``values`` for the log, without the ``leave_out`` fields, with secrets masked.

    Values stay as they are (ids, dates, decimals): the JSON column's encoder writes them as
    their usual strings, with no converted copy made first."""
    shown = dict(values)
    for key in leave_out:
        shown.pop(key, None)
    for key in model.secret_columns:
        if shown.get(key) is not None:
            shown[key] = HIDDEN
    return shown


def entry(
    audit_model: Model,
    *,
    entity: str,
    row_id: uuid.UUID,
    operation: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    at: datetime,
    entry_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """The audit_log row describing one change (not written yet: see :func:`record` and :func:`record_many`).
    Writers of many records draw their ids together (:func:`new_ids`) and pass each one's ``entry_id``."""
    return {
        "id": entry_id or new_id(),
        "version": 1,
        "created_at": at,
        "updated_at": at,
        "owner_id": owner_id,
        "permission": audit_model.row_permission,
        "entity": entity,
        "row_id": row_id,
        "operation": operation,
        "before": before,
        "after": after,
        "actor_id": actor_id,
    }


async def record(conn: AsyncConnection, audit_model: Model, **change: Any) -> None:
    # Parameters rather than .values(): building a statement from values costs more than the insert.
    await conn.execute(insert(audit_model.table), entry(audit_model, **change))


async def record_many(conn: AsyncConnection, audit_model: Model, entries: list[dict[str, Any]]) -> None:
    """Write many :func:`entry` rows in one round trip (see :func:`insert_rows`)."""
    await insert_rows(conn, audit_model.table, entries)
