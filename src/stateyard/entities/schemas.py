"""The metaschema: how an entity, its columns and relations are declared.

These Structs are the one typed boundary for definitions, whether they arrive as
``POST /api/entity`` bodies or as YAML/JSON files under ``schema/``.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from stateyard.actions.schemas import ActionDef
from stateyard.auth.permissions import ALL_VERBS, PermissionSpec, decode, encode, spec, verb_names
from stateyard.jobs.schemas import TaskDef
from stateyard.machines.schemas import MachineSpec

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

#: Columns every row has; a definition may not declare them.
ROW_COLUMNS = ("id", "version", "created_at", "updated_at", "owner_id", "permission")

#: Entity names the API's routes, the database or the platform itself claim.
RESERVED_ENTITY_NAMES = frozenset(
    {"api", "action", "actions", "event", "health", "schema", "states", "openapi", "metrics", "login"}
)

#: Relation names that collide with per-row endpoints.
RESERVED_RELATION_NAMES = frozenset({"states", "history", "diagram"})

RelationType = Literal["belongs_to", "has_many", "many_to_many"]
OnDelete = Literal["restrict", "set_null", "cascade"]


class ColumnDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    type: str
    label: str | None = None
    description: str | None = None
    required: bool = False
    unique: bool = False
    indexed: bool = False
    default: Any = None
    max_length: int | None = None
    min_length: int | None = None
    min: int | float | None = None
    max: int | float | None = None
    pattern: str | None = None
    options: list[str] | None = None
    precision: int | None = None
    scale: int | None = None
    #: encrypted columns: who reads the clear value besides administrators ("owner" or group names).
    readers: list[str] | None = None


class RelationDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    type: RelationType
    target: str
    label: str | None = None
    description: str | None = None
    #: belongs_to only: a row must reference a target row.
    required: bool = False
    #: belongs_to only: what deleting the referenced row does to referencing rows.
    on_delete: OnDelete = "restrict"
    #: has_many only: the target's belongs_to relation that points back here (default: this entity's name).
    inverse: str | None = None

    @property
    def column(self) -> str:
        """The foreign key column a belongs_to relation adds to its entity."""
        return f"{self.name}_id"


class IndexDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    columns: list[str]
    unique: bool = False


class EntityPermissions(msgspec.Struct, forbid_unknown_fields=True):
    #: Who may do what with the table as a whole (list, create, ...).
    table: PermissionSpec = msgspec.field(default_factory=lambda: decode(DEFAULT_TABLE_PERMISSION))
    #: The permission each new row starts with.
    row: PermissionSpec = msgspec.field(default_factory=lambda: decode(DEFAULT_ROW_PERMISSION))


class EntityDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An entity as declared. Permissions are kept in canonical form (``all`` spelled out),
    so that two declarations granting the same verbs compare equal."""

    name: str
    label: str | None = None
    description: str | None = None
    columns: list[ColumnDef] = msgspec.field(default_factory=list)
    relations: list[RelationDef] = msgspec.field(default_factory=list)
    indexes: list[IndexDef] = msgspec.field(default_factory=list)
    permissions: EntityPermissions = msgspec.field(default_factory=EntityPermissions)
    #: Groups the table is shared with: their members get the table permission's group verbs.
    groups: list[str] = msgspec.field(default_factory=lambda: ["users"])
    #: Groups every new row is shared with: their members get the row permission's group verbs.
    row_groups: list[str] = msgspec.field(default_factory=list)
    #: Rows can be read through the API but never written (audit log, history).
    read_only: bool = False
    #: Changes to rows are recorded in the audit log.
    audited: bool = True
    #: Shipped with Stateyard; only the platform itself declares these.
    system: bool = False

    def __post_init__(self) -> None:
        try:
            self.permissions = EntityPermissions(
                table=decode(encode(self.permissions.table)), row=decode(encode(self.permissions.row))
            )
        except ValueError as exc:
            raise ValueError(f"permissions: {exc}") from None

    def column(self, name: str) -> ColumnDef | None:
        return next((c for c in self.columns if c.name == name), None)

    def relation(self, name: str) -> RelationDef | None:
        return next((r for r in self.relations if r.name == name), None)


class GroupDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    label: str | None = None
    description: str | None = None


class SchemaDocument(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One file under ``schema/``; later areas add their own sections."""

    groups: list[GroupDef] = msgspec.field(default_factory=list)
    entities: list[EntityDef] = msgspec.field(default_factory=list)
    state_machines: list[MachineSpec] = msgspec.field(default_factory=list)
    actions: list[ActionDef] = msgspec.field(default_factory=list)
    scheduled_tasks: list[TaskDef] = msgspec.field(default_factory=list)


DEFAULT_TABLE_PERMISSION: int = spec(
    owner=["all"], group=["peek", "read", "create", "update", "delete", "execute", "refer"]
)
DEFAULT_ROW_PERMISSION: int = spec(owner=["peek", "read", "update", "delete", "execute", "refer"])

__all__ = [
    "ALL_VERBS",
    "ROW_COLUMNS",
    "ColumnDef",
    "EntityDef",
    "EntityPermissions",
    "GroupDef",
    "IndexDef",
    "RelationDef",
    "SchemaDocument",
    "verb_names",
]
