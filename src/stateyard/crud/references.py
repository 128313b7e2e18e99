"""Check belongs_to values: each must name a row that exists and that the writer may refer to.

One query per relation answers for many rows at once (an import's batch as well as a single
create), with the permission test done in SQL by the same row filter lists use, so a
reference to a row one may not even peek at reads exactly like one to a missing row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.permissions import Subject, Verb, row_filter
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot

#: Ids per IN list: well under every backend's limit on bound parameters.
CHUNK = 500


class ReferenceProblem(msgspec.Struct, frozen=True):
    #: Position of the row in the sequence that was checked.
    index: int
    field: str
    target: str
    value: uuid.UUID
    #: ``not_found``: no such row, or none the writer may peek at; ``refer``: seen but not referable.
    kind: Literal["not_found", "refer"]

    @property
    def message(self) -> str:
        if self.kind == "refer":
            return f"you lack the 'refer' permission on {self.target} {self.value}"
        return f"there is no {self.target} with id '{self.value}'"


async def reference_problems(
    conn: AsyncConnection,
    snapshot: Snapshot,
    subject: Subject,
    model: Model,
    rows: Sequence[Mapping[str, Any]],
) -> list[ReferenceProblem]:
    problems: list[ReferenceProblem] = []
    for key, rel in model.foreign_keys.items():
        wanted = {row[key] for row in rows if row.get(key) is not None}
        if not wanted:
            continue
        target = snapshot.model(rel.target)
        access = await _access(conn, snapshot, subject, target, wanted)
        for index, row in enumerate(rows):
            value = row.get(key)
            if value is None:
                continue
            may_peek, may_refer = access.get(value, (False, False))
            if not may_peek:
                problems.append(ReferenceProblem(index, key, rel.target, value, "not_found"))
            elif not may_refer:
                problems.append(ReferenceProblem(index, key, rel.target, value, "refer"))
    return problems


async def _access(
    conn: AsyncConnection, snapshot: Snapshot, subject: Subject, target: Model, ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[bool, bool]]:
    """(may peek, may refer) for each of ``ids`` that exists."""
    table = target.table
    share = snapshot.share_table
    stmt = select(
        table.c.id,
        row_filter(subject, table, target.name, Verb.PEEK, share).label("may_peek"),
        row_filter(subject, table, target.name, Verb.REFER, share).label("may_refer"),
    )
    found: dict[uuid.UUID, tuple[bool, bool]] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        for row_id, may_peek, may_refer in await conn.execute(stmt.where(table.c.id.in_(chunk))):
            found[row_id] = (bool(may_peek), bool(may_refer))
    return found
