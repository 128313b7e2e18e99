"""Table and row permission checks against live definitions and rows.

:mod:`stateyard.auth.permissions` knows the rules; this module applies them to a model
and a stored row, looking up the row's group shares only when the answer depends on them.
Every area (records, state events, actions, exports) checks access through these functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.permissions import GROUP_SHIFT, Grant, Subject, Verb, allows, refusal
from stateyard.core.errors import ProblemError, not_found
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot


def table_grant(subject: Subject, model: Model) -> Grant:
    return Grant(model.table_permission, model.owner_id, shared=bool(subject.group_ids & model.group_ids))


def table_allows(subject: Subject, model: Model, verb: Verb) -> bool:
    return allows(subject, table_grant(subject, model), verb)


def require_table(subject: Subject, model: Model, verb: Verb) -> None:
    if not table_allows(subject, model, verb):
        raise refusal(subject, verb, "table", model.name, f"the '{model.name}' table")


async def row_allows(
    conn: AsyncConnection,
    snapshot: Snapshot,
    subject: Subject,
    model: Model,
    row: Mapping[str, Any],
    verb: Verb,
) -> bool:
    grant = Grant(row["permission"], row["owner_id"], shared=False)
    if allows(subject, grant, verb):
        return True
    if not subject.group_ids or not row["permission"] & (int(verb) << GROUP_SHIFT):
        return False
    share = snapshot.share_table
    shared = await conn.scalar(
        select(
            exists().where(
                share.c.entity == model.name,
                share.c.row_id == row["id"],
                share.c.usergroup_id.in_(sorted(subject.group_ids)),
            )
        )
    )
    return bool(shared)


async def require_row(
    conn: AsyncConnection,
    snapshot: Snapshot,
    subject: Subject,
    model: Model,
    row: Mapping[str, Any],
    verb: Verb,
) -> None:
    """Refuse unless ``subject`` holds ``verb`` on ``row``.

    Someone who may not even peek at the row learns nothing: the answer is the same 404 as
    for a row that does not exist. Someone who may peek learns which permission is missing.
    """
    if await row_allows(conn, snapshot, subject, model, row, verb):
        return
    if verb != Verb.PEEK and (
        await row_allows(conn, snapshot, subject, model, row, Verb.PEEK)
        or await row_allows(conn, snapshot, subject, model, row, Verb.READ)
    ):
        raise refusal(subject, verb, "row", model.name, f"this {model.name}")
    raise missing_row(model, row["id"])


def missing_row(model: Model, row_id: object) -> ProblemError:
    return not_found(f"There is no {model.name} with id '{row_id}'.", entity=model.name, id=str(row_id))
