"""Check an entity definition before anything is created from it.

Every problem is reported at once, each with the path of the offending value
(``columns[2].type``), so a builder fixes a definition in one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from stateyard.auth.permissions import encode
from stateyard.core.errors import FieldError
from stateyard.entities.schemas import (
    NAME_PATTERN,
    RESERVED_ENTITY_NAMES,
    RESERVED_RELATION_NAMES,
    ROW_COLUMNS,
    EntityDef,
)
from stateyard.entities.types import COLUMN_TYPES, COMMON_OPTIONS, FieldProblem

INTERNAL_TYPES = frozenset({"permission"})


def name_problem(name: str, what: str) -> str | None:
    if not NAME_PATTERN.match(name):
        return (
            f"'{name}' is not a valid {what} name: use lowercase letters, digits and underscores, "
            "starting with a letter, at most 63 characters"
        )
    if "__" in name:
        return f"'{name}': a {what} name may not contain a double underscore"
    return None


def entity_name_problem(name: str) -> str | None:
    problem = name_problem(name, "entity")
    if problem:
        return problem
    if name in RESERVED_ENTITY_NAMES or name.startswith(("stateyard", "sqlite_", "pg_")):
        return f"'{name}' is a reserved name"
    return None


def definition_errors(
    definition: EntityDef,
    others: Mapping[str, EntityDef],
    groups: set[str],
    *,
    allow_system: bool = False,
) -> list[FieldError]:
    """All problems with ``definition``; ``others`` holds every other entity it may refer to."""
    errors: list[FieldError] = []

    def add(field: str, code: str, message: str) -> None:
        errors.append(FieldError(field, code, message))

    problem = entity_name_problem(definition.name)
    if problem and not (allow_system and definition.system):
        add("name", "invalid_name", problem)
    if definition.system and not allow_system:
        add("system", "reserved", "only Stateyard itself declares system entities")

    taken: dict[str, str] = dict.fromkeys(ROW_COLUMNS, "a built-in row column")
    for i, col in enumerate(definition.columns):
        where = f"columns[{i}]"
        problem = name_problem(col.name, "column")
        if problem:
            add(f"{where}.name", "invalid_name", problem)
        elif col.name in taken:
            add(f"{where}.name", "duplicate", f"'{col.name}' is already {taken[col.name]}")
        taken.setdefault(col.name, f"column {i}")
        ctype = COLUMN_TYPES.get(col.type)
        if ctype is None or (col.type in INTERNAL_TYPES and not allow_system):
            known = ", ".join(sorted(set(COLUMN_TYPES) - INTERNAL_TYPES))
            add(f"{where}.type", "unknown_type", f"unknown column type '{col.type}' (known: {known})")
            continue
        # Identity, not equality: a bound of 0 is given (0 == False would hide it).
        given = {k for k, v in msgspec.structs.asdict(col).items() if v is not None and v is not False}
        for option in sorted(given - COMMON_OPTIONS - ctype.options):
            add(f"{where}.{option}", "unsupported_option", f"a {col.type} column has no '{option}' option")
        for message in ctype.definition_errors(col):
            add(where, "invalid_column", message)
        if (col.unique or col.indexed) and not ctype.indexable:
            add(where, "unsupported_option", f"a {col.type} column cannot be unique or indexed")
        if col.default is not None:
            try:
                ctype.validate(col, col.default)
            except FieldProblem as exc:
                add(f"{where}.default", "invalid_default", f"default does not fit the column: {exc.message}")
            if col.type in ("password", "encrypted", "secret"):
                add(f"{where}.default", "invalid_default", f"a {col.type} column cannot have a default")
        if col.readers is not None:
            unknown = [g for g in col.readers if g != "owner" and g not in groups]
            if unknown:
                add(f"{where}.readers", "unknown_group", f"unknown group(s): {', '.join(unknown)}")

    for i, rel in enumerate(definition.relations):
        where = f"relations[{i}]"
        problem = name_problem(rel.name, "relation")
        if problem:
            add(f"{where}.name", "invalid_name", problem)
            continue
        if rel.name in RESERVED_RELATION_NAMES:
            add(f"{where}.name", "invalid_name", f"'{rel.name}' is a reserved relation name")
        claimed = [rel.name] + ([rel.column] if rel.type == "belongs_to" else [])
        for name in claimed:
            if name in taken:
                add(f"{where}.name", "duplicate", f"'{name}' is already {taken[name]}")
            taken.setdefault(name, f"relation {i}")
        target = definition if rel.target == definition.name else others.get(rel.target)
        if target is None:
            add(f"{where}.target", "unknown_entity", f"no entity named '{rel.target}'")
            continue
        if rel.type == "belongs_to":
            if rel.required and rel.on_delete == "set_null":
                add(
                    f"{where}.on_delete",
                    "invalid_relation",
                    "a required relation cannot be set to null on delete",
                )
        else:
            if rel.required:
                add(f"{where}.required", "unsupported_option", "only belongs_to relations can be required")
            if rel.on_delete != "restrict":
                add(f"{where}.on_delete", "unsupported_option", "on_delete applies to belongs_to relations")
        if rel.type == "has_many":
            inverse_name = rel.inverse or definition.name
            inverse = target.relation(inverse_name)
            if inverse is None or inverse.type != "belongs_to" or inverse.target != definition.name:
                add(
                    f"{where}.inverse",
                    "missing_inverse",
                    f"'{rel.target}' needs a belongs_to relation '{inverse_name}' targeting '{definition.name}'",
                )
        elif rel.inverse is not None:
            add(f"{where}.inverse", "unsupported_option", "inverse applies to has_many relations")

    indexable = {*ROW_COLUMNS, *(c.name for c in definition.columns)}
    indexable |= {r.column for r in definition.relations if r.type == "belongs_to"}
    for i, idx in enumerate(definition.indexes):
        if not idx.columns:
            add(f"indexes[{i}].columns", "invalid_index", "an index needs at least one column")
        for name in idx.columns:
            if name not in indexable:
                add(f"indexes[{i}].columns", "unknown_column", f"no column named '{name}'")

    for scope in ("table", "row"):
        try:
            encode(getattr(definition.permissions, scope))
        except ValueError as exc:
            add(f"permissions.{scope}", "invalid_permission", str(exc))
    for key in ("groups", "row_groups"):
        unknown = [g for g in getattr(definition, key) if g not in groups]
        if unknown:
            add(key, "unknown_group", f"unknown group(s): {', '.join(unknown)}")
    return errors
