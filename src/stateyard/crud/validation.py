"""Check a create or patch body against an entity, reporting every bad field at once."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from stateyard.auth.permissions import Subject
from stateyard.core.errors import FieldError
from stateyard.entities.compiler import Model
from stateyard.entities.types import FieldProblem, PermissionType, UuidType

SYSTEM_MANAGED = ("version", "created_at", "updated_at")
_uuid = UuidType()
_permission = PermissionType()


class Validated(msgspec.Struct):
    """Parsed values ready for the store, plus the row-level fields set alongside them."""

    values: dict[str, Any]
    errors: list[FieldError]
    row_id: uuid.UUID | None = None
    version: int | None = None
    permission: int | None = None
    owner_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET


def validate_body(model: Model, body: dict[str, Any], *, creating: bool) -> Validated:
    result = Validated(values={}, errors=[])

    def fail(field: str, code: str, message: str) -> None:
        result.errors.append(FieldError(field, code, message))

    columns, validators, values = model.columns, model.validators, result.values
    for key, raw in body.items():
        if key in columns:
            if raw is None:
                if columns[key].required:
                    fail(key, "required", f"'{key}' is required and cannot be null")
                else:
                    values[key] = None
                continue
            try:
                values[key] = validators[key](raw)
            except FieldProblem as exc:
                fail(key, exc.code, exc.message)
        elif key in model.foreign_keys:
            rel = model.foreign_keys[key]
            if raw is None:
                if rel.required:
                    fail(key, "required", f"'{key}' is required and cannot be null")
                else:
                    result.values[key] = None
                continue
            try:
                result.values[key] = _uuid.parse(raw)
            except FieldProblem as exc:
                fail(key, exc.code, exc.message)
        elif key == "id" and creating:
            try:
                result.row_id = _uuid.parse(raw)
            except FieldProblem as exc:
                fail(key, exc.code, exc.message)
        elif key == "version" and not creating:
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
                fail(key, "type", "expected the positive integer version you last read")
            else:
                result.version = raw
        elif key == "permission":
            try:
                result.permission = _permission.parse(raw)
            except FieldProblem as exc:
                fail(key, exc.code, exc.message)
        elif key == "owner_id":
            try:
                result.owner_id = None if raw is None else _uuid.parse(raw)
            except FieldProblem as exc:
                fail(key, exc.code, exc.message)
        elif key in SYSTEM_MANAGED or key == "id":
            fail(key, "read_only", f"'{key}' is managed by the platform and cannot be set")
        elif key in model.relations:
            fail(key, "unknown", f"'{key}' is a relation; use its endpoint /api/{model.name}/<id>/{key}")
        else:
            fail(key, "unknown", f"'{model.name}' has no field '{key}'")

    if creating:
        for name, col in model.filled_on_create:
            if name in body:
                continue
            if col.default is not None:
                values[name] = validators[name](col.default)
            else:
                fail(name, "required", f"'{name}' is required")
        for fk in model.required_foreign_keys:
            if fk not in body:
                fail(fk, "required", f"'{fk}' is required")
    return result


def validate_create(model: Model, subject: Subject, body: dict[str, Any]) -> Validated:
    """A create body checked for ``subject``: the fields, and who may set the owner."""
    checked = validate_body(model, body, creating=True)
    if checked.owner_id is not msgspec.UNSET and not subject.is_admin:
        checked.errors.append(FieldError("owner_id", "forbidden", "only administrators may set the owner"))
    return checked
