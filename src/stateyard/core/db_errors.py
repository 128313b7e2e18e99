"""Translate database integrity errors into problems that name the field at fault.

The database is the last line of defence for uniqueness and references (two requests can
race past any check made before writing), so its refusals must read as well as ours.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError

from stateyard.core.errors import FieldError, ProblemError, conflict

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
_PG_KEY = re.compile(r"Key \((.+?)\)=")


def _sqlstate(exc: IntegrityError) -> str | None:
    return getattr(exc.orig, "sqlstate", None)


def _message(exc: IntegrityError) -> str:
    cause = exc.orig.__cause__ if exc.orig is not None else None
    detail = getattr(cause, "detail", None) or ""
    return f"{exc.orig} {detail}"


def unique_columns(exc: IntegrityError) -> list[str] | None:
    """The columns of the violated unique constraint, or None if this is not a unique violation."""
    text = _message(exc)
    if _sqlstate(exc) == "23505" or "duplicate key" in text:
        found = _PG_KEY.search(text)
        return [c.strip().strip('"') for c in found.group(1).split(",")] if found else []
    match = _SQLITE_UNIQUE.search(str(exc.orig))
    if match:
        return [part.strip().split(".")[-1] for part in match.group(1).split(",")]
    return None


def is_foreign_key_violation(exc: IntegrityError) -> bool:
    return _sqlstate(exc) == "23503" or "FOREIGN KEY constraint failed" in str(exc.orig)


def integrity_problem(exc: IntegrityError, entity: str, *, deleting: bool = False) -> ProblemError:
    columns = unique_columns(exc)
    if columns is not None:
        names = ", ".join(columns) or "a unique field"
        return conflict(
            f"Another {entity} already has this {names}.",
            code="duplicate",
            entity=entity,
            errors=[FieldError(c, "unique", f"another {entity} already has this value") for c in columns] or None,
        )
    if is_foreign_key_violation(exc):
        if deleting:
            return conflict(
                f"This {entity} is still referenced by other rows; remove or re-point them first.",
                code="in-use",
                entity=entity,
            )
        return conflict("A referenced row does not exist (any more).", code="missing-reference", entity=entity)
    return conflict(f"The database refused the change: {exc.orig}", code="integrity", entity=entity)
