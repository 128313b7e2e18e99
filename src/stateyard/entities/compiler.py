"""Compile entity definitions into SQLAlchemy tables and per-entity msgspec Structs.

A compiled :class:`Model` is immutable: when definitions change, a whole new set is
compiled and swapped in, so a request never sees half of a change.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any

import msgspec
from sqlalchemy import Column, ForeignKey, Index, Integer, MetaData, PrimaryKeyConstraint, Table, Uuid

from stateyard.auth.permissions import encode
from stateyard.core.sqltypes import UTCDateTime
from stateyard.entities.schemas import ColumnDef, EntityDef, RelationDef
from stateyard.entities.types import ColumnType, column_type

MAX_IDENTIFIER = 63
ON_DELETE_SQL = {"restrict": "RESTRICT", "set_null": "SET NULL", "cascade": "CASCADE"}


def identifier(*parts: str) -> str:
    """A database identifier within PostgreSQL's 63-byte limit, unique by a hash suffix when cut."""
    name = "_".join(parts)
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]  # noqa: S324 - a name, not a secret
    return f"{name[: MAX_IDENTIFIER - 9]}_{digest}"


def join_table_name(entity: str, relation: str) -> str:
    return f"{entity}__{relation}"


class Model:
    """One entity as the platform uses it at run time."""

    def __init__(
        self,
        definition: EntityDef,
        table: Table,
        *,
        row_id: uuid.UUID | None,
        owner_id: uuid.UUID | None,
        group_ids: frozenset[uuid.UUID],
        row_group_ids: frozenset[uuid.UUID],
        join_tables: dict[str, Table],
    ) -> None:
        self.definition = definition
        self.name = definition.name
        self.table = table
        self.row_id = row_id
        self.owner_id = owner_id
        self.group_ids = group_ids
        self.row_group_ids = row_group_ids
        self.join_tables = join_tables
        self.table_permission = encode(definition.permissions.table)
        self.row_permission = encode(definition.permissions.row)
        self.columns: dict[str, ColumnDef] = {c.name: c for c in definition.columns}
        self.types: dict[str, ColumnType] = {c.name: column_type(c.type) for c in definition.columns}
        self.relations: dict[str, RelationDef] = {r.name: r for r in definition.relations}
        self.foreign_keys: dict[str, RelationDef] = {
            r.column: r for r in definition.relations if r.type == "belongs_to"
        }
        self.returned_columns = tuple(name for name, ctype in self.types.items() if ctype.returned)

    @cached_property
    def secret_columns(self) -> frozenset[str]:
        """Columns whose values no log may show: password hashes and encrypted values."""
        return frozenset(n for n, t in self.types.items() if t.name in ("password", "encrypted", "secret"))

    @cached_property
    def validators(self) -> dict[str, Callable[[Any], Any]]:
        """Each column's :meth:`ColumnType.validator`: how a create or patch checks its values."""
        return {name: ctype.validator(self.columns[name]) for name, ctype in self.types.items()}

    @cached_property
    def filled_on_create(self) -> tuple[tuple[str, ColumnDef], ...]:
        """Columns a create must fill when its body leaves them out: with their default, or refused as required."""
        return tuple((c.name, c) for c in self.columns.values() if c.default is not None or c.required)

    @cached_property
    def required_foreign_keys(self) -> tuple[str, ...]:
        return tuple(fk for fk, rel in self.foreign_keys.items() if rel.required)

    @cached_property
    def stored_forms(self) -> dict[str, ColumnType]:
        """Columns whose values are written in another form than validated (hashed, encrypted)."""
        return {n: t for n, t in self.types.items() if type(t).store is not ColumnType.store}

    @property
    def read_only(self) -> bool:
        return self.definition.read_only

    def field_names(self) -> list[str]:
        """Every field a row shows or a filter may name: row columns, declared columns, foreign keys."""
        return [c.name for c in self.table.columns]

    @cached_property
    def condition_fields(self) -> dict[str, Any]:
        """Fields the condition language may name on this entity (see :func:`condition_fields`)."""
        return condition_fields(self)

    @cached_property
    def structs(self) -> tuple[type[msgspec.Struct], type[msgspec.Struct], type[msgspec.Struct]]:
        """(row, create input, patch input) Structs, from which the OpenAPI schemas are generated."""
        return build_structs(self)


def row_columns() -> list[Column[Any]]:
    return [
        Column("id", Uuid(as_uuid=True), primary_key=True),
        Column("version", Integer(), nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("updated_at", UTCDateTime(), nullable=False),
        Column("owner_id", Uuid(as_uuid=True), nullable=True),
        Column("permission", Integer(), nullable=False),
    ]


def declared_column(col: ColumnDef) -> Column[Any]:
    return Column(col.name, column_type(col.type).sql_type(col), nullable=True)


def foreign_key_column(entity: str, relation: RelationDef) -> Column[Any]:
    return Column(
        relation.column,
        Uuid(as_uuid=True),
        ForeignKey(
            f"{relation.target}.id",
            ondelete=ON_DELETE_SQL[relation.on_delete],
            name=identifier("fk", entity, relation.column),
        ),
        nullable=True,
    )


def column_indexes(entity: str, col_name: str, *, unique: bool, indexed: bool) -> Index | None:
    if unique:
        return Index(identifier("uq", entity, col_name), col_name, unique=True)
    if indexed:
        return Index(identifier("ix", entity, col_name), col_name)
    return None


def compile_table(definition: EntityDef, metadata: MetaData) -> Table:
    name = definition.name
    columns: list[Any] = row_columns()
    columns += [declared_column(c) for c in definition.columns]
    columns += [foreign_key_column(name, r) for r in definition.relations if r.type == "belongs_to"]
    table = Table(name, metadata, *columns)
    Index(identifier("ix", name, "owner_id"), table.c.owner_id)
    for col in definition.columns:
        index = column_indexes(name, col.name, unique=col.unique, indexed=col.indexed)
        if index is not None:
            table.append_constraint(index)
    for rel in definition.relations:
        if rel.type == "belongs_to":
            Index(identifier("ix", name, rel.column), table.c[rel.column])
    for idx in definition.indexes:
        prefix = "uq" if idx.unique else "ix"
        Index(identifier(prefix, name, *idx.columns), *(table.c[c] for c in idx.columns), unique=idx.unique)
    return table


def compile_join_table(entity: str, relation: RelationDef, metadata: MetaData) -> Table:
    name = join_table_name(entity, relation.name)
    return Table(
        name,
        metadata,
        Column(
            "source_id",
            Uuid(as_uuid=True),
            ForeignKey(f"{entity}.id", ondelete="CASCADE", name=identifier("fk", name, "source")),
            nullable=False,
        ),
        Column(
            "target_id",
            Uuid(as_uuid=True),
            ForeignKey(f"{relation.target}.id", ondelete="CASCADE", name=identifier("fk", name, "target")),
            nullable=False,
        ),
        Column("created_at", UTCDateTime(), nullable=False),
        PrimaryKeyConstraint("source_id", "target_id", name=identifier("pk", name)),
        Index(identifier("ix", name, "target_id"), "target_id"),
    )


def compile_tables(definitions: Iterable[EntityDef], metadata: MetaData) -> dict[str, tuple[Table, dict[str, Table]]]:
    """Tables for all definitions, plus each one's many-to-many join tables by relation name."""
    result: dict[str, tuple[Table, dict[str, Table]]] = {}
    for definition in definitions:
        table = compile_table(definition, metadata)
        joins = {
            r.name: compile_join_table(definition.name, r, metadata)
            for r in definition.relations
            if r.type == "many_to_many"
        }
        result[definition.name] = (table, joins)
    return result


def build_structs(model: Model) -> tuple[type[msgspec.Struct], type[msgspec.Struct], type[msgspec.Struct]]:
    """Per-entity Structs built at run time: what a row looks like, and what create/patch accept."""
    import datetime as dt

    row_fields: list[Any] = [
        ("id", uuid.UUID),
        ("version", int),
        ("created_at", dt.datetime),
        ("updated_at", dt.datetime),
        ("owner_id", uuid.UUID | None),
        ("permission", dict[str, list[str]]),
    ]
    create_fields: list[Any] = [("id", uuid.UUID | msgspec.UnsetType, msgspec.UNSET)]
    patch_fields: list[Any] = [("version", int | msgspec.UnsetType, msgspec.UNSET)]
    for name, col in model.columns.items():
        annotation = model.types[name].annotation(col)
        if model.types[name].returned:
            row_fields.append((name, annotation | None))
        if col.required and col.default is None:
            create_fields.insert(0, (name, annotation))
        else:
            create_fields.append((name, annotation | None | msgspec.UnsetType, msgspec.UNSET))
        patch_fields.append((name, annotation | None | msgspec.UnsetType, msgspec.UNSET))
    for fk, rel in model.foreign_keys.items():
        row_fields.append((fk, uuid.UUID | None))
        if rel.required:
            create_fields.insert(0, (fk, uuid.UUID))
        else:
            create_fields.append((fk, uuid.UUID | None | msgspec.UnsetType, msgspec.UNSET))
        patch_fields.append((fk, uuid.UUID | None | msgspec.UnsetType, msgspec.UNSET))
    create_fields.append(("permission", dict[str, list[str]] | msgspec.UnsetType, msgspec.UNSET))
    patch_fields.append(("permission", dict[str, list[str]] | msgspec.UnsetType, msgspec.UNSET))
    title = model.name
    row = msgspec.defstruct(_struct_name(title, ""), row_fields, kw_only=True)
    create = msgspec.defstruct(_struct_name(title, "Create"), create_fields, kw_only=True, forbid_unknown_fields=True)
    patch = msgspec.defstruct(_struct_name(title, "Patch"), patch_fields, kw_only=True, forbid_unknown_fields=True)
    return row, create, patch


def _struct_name(entity: str, suffix: str) -> str:
    return "".join(part.capitalize() for part in entity.split("_")) + suffix


KIND_BY_TYPE = {
    "string": "text",
    "text": "text",
    "email": "text",
    "url": "text",
    "enum": "text",
    "integer": "number",
    "float": "number",
    "decimal": "number",
    "boolean": "boolean",
    "date": "temporal",
    "datetime": "temporal",
    "uuid": "id",
    "json": "json",
}


def condition_fields(model: Model) -> dict[str, Any]:
    """The fields a condition may name on this entity, with their SQL columns and value coercion."""
    from stateyard.entities.types import DateTimeType, IntegerType, UuidType
    from stateyard.expressions.conditions import FieldSpec

    table = model.table
    uuid_parse = UuidType().parse
    fields: dict[str, FieldSpec] = {
        "id": FieldSpec("id", "id", uuid_parse, table.c.id),
        "owner_id": FieldSpec("owner_id", "id", uuid_parse, table.c.owner_id),
        "version": FieldSpec("version", "number", IntegerType().parse, table.c.version),
        "created_at": FieldSpec("created_at", "temporal", DateTimeType().parse, table.c.created_at),
        "updated_at": FieldSpec("updated_at", "temporal", DateTimeType().parse, table.c.updated_at),
    }
    for name, ctype in model.types.items():
        kind = KIND_BY_TYPE.get(ctype.name)
        if kind is None or not ctype.filterable:
            continue
        fields[name] = FieldSpec(name, kind, ctype.parse, table.c[name])
    for fk in model.foreign_keys:
        fields[fk] = FieldSpec(fk, "id", uuid_parse, table.c[fk])
    return fields
