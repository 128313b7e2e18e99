"""Schema changes as actions, for administrators: reload the schema folder, add, remove and rename columns.

They go through the same entity service as ``/api/entity`` and ``stateyard schema apply``.
Each runs its DDL in a transaction of its own (DDL takes the schema lock, and on SQLite the one
writer), so it cannot join an action's chain transaction: in a declared action it must come
before any step that reads or writes rows (otherwise 409 ``chain-open``), and its change is
committed when it returns, whatever later steps do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from stateyard.actions.directives import Directive, notify, record
from stateyard.actions.registry import ActionCall, ActionRegistry, Performer, PerformerFn, PerformerResult
from stateyard.core.errors import FieldError, ProblemError, invalid, invalid_definition, not_found
from stateyard.entities.loader import SchemaFileError, load_folder
from stateyard.entities.schemas import ColumnDef
from stateyard.entities.service import ApplyResult
from stateyard.entities.system import system_definitions


class ReloadInput(msgspec.Struct, forbid_unknown_fields=True):
    dry_run: bool = False
    allow_destructive: bool = False


class AddColumnInput(msgspec.Struct, forbid_unknown_fields=True):
    entity: str
    column: ColumnDef
    dry_run: bool = False


class RemoveColumnInput(msgspec.Struct, forbid_unknown_fields=True):
    entity: str
    column: str
    allow_destructive: bool = False
    dry_run: bool = False


class RenameColumnInput(msgspec.Struct, forbid_unknown_fields=True):
    entity: str
    column: str
    new_name: str
    allow_destructive: bool = False
    dry_run: bool = False


def _answer(result: ApplyResult, message: str) -> PerformerResult:
    value: dict[str, Any] = {"applied": result.applied, "changes": msgspec.to_builtins(result.changes)}
    if not result.changes:
        message = "Nothing to change."
    elif not result.applied:
        message = f"Dry run: {len(result.changes)} change(s) would be made."
    return PerformerResult(value=value, directives=[record("schema_change", value), notify(message)])


async def reload_schema(call: ActionCall, data: ReloadInput) -> PerformerResult:
    call.require_own_transaction("schema.reload")
    platform = call.platform
    folder = Path(platform.settings.schema_dir)
    try:
        document = load_folder(folder)
    except SchemaFileError as exc:
        raise invalid_definition([FieldError("schema_dir", "invalid", str(exc))]) from None
    result = await platform.apply_schema(
        document, allow_destructive=data.allow_destructive, dry_run=data.dry_run, actor=call.subject
    )
    return _answer(result, f"Applied {len(result.changes)} change(s) from the schema folder.")


async def add_column(call: ActionCall, data: AddColumnInput) -> PerformerResult:
    call.require_own_transaction("column.add")
    platform = call.platform
    model = (await platform.registry.refresh()).model(data.entity)
    definition = model.definition
    if definition.column(data.column.name) is not None or data.column.name in model.foreign_keys:
        raise ProblemError(
            409, "duplicate", "Conflict", f"'{definition.name}' already has a column '{data.column.name}'."
        )
    changed = msgspec.structs.replace(definition, columns=[*definition.columns, data.column])
    result = await platform.entities.apply([changed], actor=call.subject, dry_run=data.dry_run)
    return _answer(result, f"Added '{data.column.name}' to '{definition.name}'.")


def _existing_column(model: Any, column: str) -> None:
    if column in model.columns:
        shipped = system_definitions().get(model.name)
        if shipped is not None and shipped.column(column) is not None:
            raise ProblemError(
                409,
                "system-entity",
                "Conflict",
                f"'{model.name}.{column}' belongs to the platform and cannot be changed or removed.",
            )
        return
    hint = " (it belongs to a relation: change the relation instead)" if column in model.foreign_keys else ""
    raise not_found(f"'{model.name}' has no column named '{column}'{hint}.", entity=model.name, column=column)


async def remove_column(call: ActionCall, data: RemoveColumnInput) -> PerformerResult:
    call.require_own_transaction("column.remove")
    platform = call.platform
    model = (await platform.registry.refresh()).model(data.entity)
    _existing_column(model, data.column)
    definition = model.definition
    changed = msgspec.structs.replace(definition, columns=[c for c in definition.columns if c.name != data.column])
    result = await platform.entities.apply(
        [changed], actor=call.subject, allow_destructive=data.allow_destructive, dry_run=data.dry_run
    )
    return _answer(result, f"Removed '{data.column}' from '{definition.name}'.")


async def rename_column(call: ActionCall, data: RenameColumnInput) -> PerformerResult:
    call.require_own_transaction("column.rename")
    platform = call.platform
    model = (await platform.registry.refresh()).model(data.entity)
    _existing_column(model, data.column)
    if data.new_name == data.column:
        raise invalid([FieldError("new_name", "unchanged", f"'{data.column}' already has this name")])
    result = await platform.entities.rename_column(
        model.name,
        data.column,
        data.new_name,
        actor=call.subject,
        allow_destructive=data.allow_destructive,
        dry_run=data.dry_run,
    )
    return _answer(result, f"Renamed '{model.name}.{data.column}' to '{data.new_name}'.")


def register(registry: ActionRegistry) -> None:
    performers: list[tuple[str, type[msgspec.Struct], PerformerFn, str, str]] = [
        ("schema.reload", ReloadInput, reload_schema, "Make the database match the schema folder.", "reload_schema"),
        ("column.add", AddColumnInput, add_column, "Add a column to an entity.", "add_column"),
        ("column.remove", RemoveColumnInput, remove_column, "Remove a column and its values.", "remove_column"),
        ("column.rename", RenameColumnInput, rename_column, "Rename a column, keeping its values.", "rename_column"),
    ]
    for name, kind, run, description, action in performers:
        registry.performer(Performer(name, kind, run, description, admin_only=True))
        registry.expose("entity", action, name, access="admin", label=description.rstrip("."))


__all__ = ["Directive", "register"]
