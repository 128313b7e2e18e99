"""Plan how to turn the current definition of an entity into a desired one.

The plan is a list of :class:`Change` values, each marked destructive or not. It is what
``stateyard schema diff`` prints, what a dry run returns, and what the entity service
executes; a destructive change (data can be lost) runs only when explicitly allowed.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from stateyard.entities.compiler import declared_column
from stateyard.entities.schemas import ColumnDef, EntityDef, IndexDef, RelationDef

ChangeKind = Literal[
    "create_entity",
    "drop_entity",
    "update_entity",
    "add_column",
    "drop_column",
    "retype_column",
    "resize_column",
    "update_column",
    "add_relation",
    "drop_relation",
    "update_relation",
    "add_index",
    "drop_index",
    "create_machine",
    "update_machine",
    "create_action",
    "update_action",
    "create_task",
    "update_task",
]

#: Column fields whose change needs no DDL at all: they live only in the definition.
METADATA_ONLY = (
    "label",
    "description",
    "required",
    "default",
    "min",
    "max",
    "min_length",
    "pattern",
    "options",
    "readers",
)
ENTITY_METADATA = ("label", "description", "permissions", "groups", "row_groups", "read_only", "audited")


class Change(msgspec.Struct, frozen=True, omit_defaults=True):
    kind: ChangeKind
    entity: str
    detail: str
    target: str | None = None
    destructive: bool = False


def plan_entity(current: EntityDef | None, desired: EntityDef) -> list[Change]:
    name = desired.name
    if current is None:
        return [Change("create_entity", name, f"create entity '{name}' with {len(desired.columns)} column(s)")]
    changes: list[Change] = []
    changed_meta = [f for f in ENTITY_METADATA if getattr(current, f) != getattr(desired, f)]
    if changed_meta:
        changes.append(Change("update_entity", name, f"change {', '.join(changed_meta)}"))
    changes += _plan_columns(name, current, desired)
    changes += _plan_relations(name, current, desired)
    changes += _plan_indexes(name, current.indexes, desired.indexes)
    return changes


def _plan_columns(name: str, current: EntityDef, desired: EntityDef) -> list[Change]:
    changes: list[Change] = []
    now = {c.name: c for c in current.columns}
    want = {c.name: c for c in desired.columns}
    for col_name, col in want.items():
        old = now.get(col_name)
        if old is None:
            changes.append(Change("add_column", name, f"add {col.type} column '{col_name}'", target=col_name))
            continue
        if old.type != col.type:
            changes.append(
                Change(
                    "retype_column",
                    name,
                    f"change column '{col_name}' from {old.type} to {col.type}: values that do not fit become null",
                    target=col_name,
                    destructive=True,
                )
            )
            continue
        if _sql_type_text(old) != _sql_type_text(col):
            changes.append(
                Change(
                    "resize_column",
                    name,
                    f"change the storage of column '{col_name}' ({_sql_type_text(old)} -> {_sql_type_text(col)})"
                    + (": values that do not fit become null" if _narrower(old, col) else ""),
                    target=col_name,
                    destructive=_narrower(old, col),
                )
            )
        differing = [f for f in METADATA_ONLY if getattr(old, f) != getattr(col, f)]
        if _sql_type_text(old) == _sql_type_text(col):
            # Sizes a type does not store (a text column's max_length) are rules like min_length.
            differing += [f for f in ("max_length", "precision", "scale") if getattr(old, f) != getattr(col, f)]
        if old.unique != col.unique or old.indexed != col.indexed:
            differing.append("index")
        if differing:
            changes.append(
                Change(
                    "update_column",
                    name,
                    f"change {', '.join(differing)} of column '{col_name}'",
                    target=col_name,
                )
            )
    for col_name, old in now.items():
        if col_name not in want:
            changes.append(
                Change(
                    "drop_column",
                    name,
                    f"drop column '{col_name}' ({old.type}) and all its values",
                    target=col_name,
                    destructive=True,
                )
            )
    return changes


def _plan_relations(name: str, current: EntityDef, desired: EntityDef) -> list[Change]:
    changes: list[Change] = []
    now = {r.name: r for r in current.relations}
    want = {r.name: r for r in desired.relations}
    for rel_name, rel in want.items():
        old = now.get(rel_name)
        if old is None:
            changes.append(
                Change(
                    "add_relation",
                    name,
                    f"add {rel.type} relation '{rel_name}' to '{rel.target}'",
                    target=rel_name,
                )
            )
        elif (old.type, old.target) != (rel.type, rel.target):
            changes.append(
                Change(
                    "drop_relation",
                    name,
                    f"replace relation '{rel_name}' ({old.type} {old.target}): existing links are lost",
                    target=rel_name,
                    destructive=_holds_data(old),
                )
            )
            changes.append(
                Change(
                    "add_relation",
                    name,
                    f"add {rel.type} relation '{rel_name}' to '{rel.target}'",
                    target=rel_name,
                )
            )
        elif old != rel:
            changes.append(Change("update_relation", name, f"change relation '{rel_name}'", target=rel_name))
    for rel_name, old in now.items():
        if rel_name not in want:
            changes.append(
                Change(
                    "drop_relation",
                    name,
                    f"drop {old.type} relation '{rel_name}'" + (" and its links" if _holds_data(old) else ""),
                    target=rel_name,
                    destructive=_holds_data(old),
                )
            )
    return changes


def _plan_indexes(name: str, current: list[IndexDef], desired: list[IndexDef]) -> list[Change]:
    def key(idx: IndexDef) -> str:
        return ("unique " if idx.unique else "") + "(" + ", ".join(idx.columns) + ")"

    now = {key(i) for i in current}
    want = {key(i) for i in desired}
    return [Change("add_index", name, f"add index {k}", target=k) for k in sorted(want - now)] + [
        Change("drop_index", name, f"drop index {k}", target=k) for k in sorted(now - want)
    ]


def _holds_data(rel: RelationDef) -> bool:
    return rel.type in ("belongs_to", "many_to_many")


def _sql_type_text(col: ColumnDef) -> str:
    return repr(declared_column(col).type)


def _narrower(old: ColumnDef, new: ColumnDef) -> bool:
    def smaller(a: int | None, b: int | None) -> bool:
        return b is not None and (a is None or b < a)

    return (
        smaller(old.max_length, new.max_length)
        or smaller(old.precision, new.precision)
        or smaller(old.scale, new.scale)
    )


def has_destructive(changes: list[Change]) -> bool:
    return any(c.destructive for c in changes)
