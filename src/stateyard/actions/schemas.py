"""How an action is declared: typed inputs and a chain of outcomes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import msgspec

if TYPE_CHECKING:
    from stateyard.entities.schemas import ColumnDef

CRUD_METHODS = ("create", "get", "list", "update", "delete")


class InFieldDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An action input: the options of an entity column, plus normalisation and file inputs."""

    name: str
    type: str
    label: str | None = None
    description: str | None = None
    required: bool = False
    default: Any = None
    max_length: int | None = None
    min_length: int | None = None
    min: int | float | None = None
    max: int | float | None = None
    pattern: str | None = None
    options: list[str] | None = None
    precision: int | None = None
    scale: int | None = None
    #: Strip surrounding white space from text before checking it.
    trim: bool = False
    #: Lower-case text before checking it.
    lowercase: bool = False
    #: File inputs: the largest accepted file in bytes (default: the server's body limit).
    max_size: int | None = None
    #: File inputs: accepted media types (e.g. ["text/csv"]); empty accepts any.
    accept: list[str] = msgspec.field(default_factory=list)

    def as_column(self) -> ColumnDef:
        """The column this input is checked like (file inputs have none)."""
        # Imported here: schema files (entities.schemas) declare actions, so that module imports this one.
        from stateyard.entities.schemas import ColumnDef

        fields = {f: getattr(self, f) for f in COLUMN_OPTION_FIELDS if getattr(self, f) is not None}
        return msgspec.convert({**fields, "name": self.name, "type": self.type}, ColumnDef)


COLUMN_OPTION_FIELDS = (
    "label",
    "description",
    "required",
    "default",
    "max_length",
    "min_length",
    "min",
    "max",
    "pattern",
    "options",
    "precision",
    "scale",
)


class OutcomeDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One step of an action: a performer, a CRUD method on an entity, or a client directive."""

    type: str
    method: str | None = None
    #: The name later templates use for this step's result.
    reference: str | None = None
    #: The step runs only when this condition (over the template context) holds.
    condition: Any = None
    #: A failure of this step is recorded under its reference and the chain goes on.
    continue_on_error: bool = False
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)


class ActionDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    entity: str
    label: str | None = None
    description: str | None = None
    #: The action works on one row, passed as ``attributes.<entity>_id`` and known as ``subject``.
    instance_required: bool = False
    in_fields: list[InFieldDef] = msgspec.field(default_factory=list)
    #: The action may run only when this condition (over ``subject`` and ``input``) holds.
    condition: Any = None
    #: Only members of these groups (and administrators) may call it.
    groups: list[str] = msgspec.field(default_factory=list)
    outcomes: list[OutcomeDef] = msgspec.field(default_factory=list)
    #: ``system`` runs the outcomes with every permission: only administrators may declare it.
    run_as: Literal["user", "system"] = "user"
