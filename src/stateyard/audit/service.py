"""Write audit records inside the transaction of the change they describe.

An audit record is a row of the ``audit_log`` entity, owned by the owner of the row it
describes, so people read the history of their own rows and administrators read all.
Secret values never reach the log: password hashes and ciphertexts are replaced by a marker.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.core.ids import new_id
from stateyard.entities.compiler import Model

HIDDEN = "[hidden]"


def audit_view(model: Model, values: dict[str, Any]) -> dict[str, Any]:
    """JSON-safe copy of ``values`` for the log, with secrets masked."""
    shown: dict[str, Any] = {}
    for key, value in values.items():
        ctype = model.types.get(key)
        if ctype is not None and ctype.name in ("password", "encrypted", "secret") and value is not None:
            shown[key] = HIDDEN
        else:
            shown[key] = value
    return msgspec.to_builtins(shown)  # type: ignore[no-any-return]


async def record(
    conn: AsyncConnection,
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
) -> None:
    # Parameters rather than .values(): building a statement from values costs more than the insert.
    await conn.execute(
        insert(audit_model.table),
        {
            "id": new_id(),
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
        },
    )
