"""Check an action's inputs like entity columns: types, ranges, patterns, enums, normalisation, files."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from stateyard.actions.schemas import InFieldDef
from stateyard.core.errors import FieldError, ProblemError, invalid
from stateyard.entities.types import FieldProblem, column_type

_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[\w=.+-]+)*;base64,(?P<data>.*)$", re.DOTALL)


class FileValue(msgspec.Struct, frozen=True):
    """An uploaded file: from a multipart part, or a data URL / base64 object in JSON."""

    name: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def parse_file(raw: Any) -> FileValue:
    if isinstance(raw, FileValue):
        return raw
    name, content_type, encoded = "upload", "application/octet-stream", None
    if isinstance(raw, str):
        match = _DATA_URL.match(raw)
        if not match:
            raise FieldProblem("format", "expected a file: a data URL (data:<type>;base64,...) or an upload")
        content_type = match.group("type") or content_type
        encoded = match.group("data")
    elif isinstance(raw, dict) and isinstance(raw.get("content"), str):
        name = str(raw.get("name") or name)
        content_type = str(raw.get("content_type") or content_type)
        encoded = raw["content"]
    else:
        raise FieldProblem("type", "expected a file: a data URL, {name, content_type, content} or an upload")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise FieldProblem("format", "the file content is not valid base64") from None
    return FileValue(name=name, content_type=content_type, data=data)


def validate_inputs(
    fields: Iterable[InFieldDef], attributes: dict[str, Any], *, extra: Iterable[str] = (), max_file_bytes: int
) -> dict[str, Any]:
    """Parsed inputs by name; one 422 naming every bad input (413 for an oversize file)."""
    declared = {f.name: f for f in fields}
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    allowed = set(declared) | set(extra)
    for key in attributes:
        if key not in allowed:
            errors.append(FieldError(key, "unknown", f"this action takes no input '{key}'"))
    for name, field in declared.items():
        if name not in attributes or attributes[name] is None:
            if name in attributes and field.required:
                errors.append(FieldError(name, "required", f"'{name}' is required and cannot be null"))
            elif field.default is not None and field.type != "file":
                values[name] = _checked(field, field.default, errors)
            elif field.required:
                errors.append(FieldError(name, "required", f"'{name}' is required"))
            else:
                values[name] = None
            continue
        raw = attributes[name]
        if field.type == "file":
            try:
                upload = parse_file(raw)
            except FieldProblem as exc:
                errors.append(FieldError(name, exc.code, exc.message))
                continue
            limit = field.max_size or max_file_bytes
            if upload.size > limit:
                raise ProblemError(
                    413,
                    "too-large",
                    "File too large",
                    f"'{name}' is {upload.size} bytes; this action accepts at most {limit}.",
                    field=name,
                )
            if field.accept and upload.content_type not in field.accept:
                errors.append(
                    FieldError(name, "content_type", f"'{upload.content_type}' is not one of {', '.join(field.accept)}")
                )
                continue
            values[name] = upload
            continue
        values[name] = _checked(field, raw, errors)
    if errors:
        raise invalid(errors)
    return values


def _checked(field: InFieldDef, raw: Any, errors: list[FieldError]) -> Any:
    value = raw
    if isinstance(value, str):
        if field.trim:
            value = value.strip()
        if field.lowercase:
            value = value.lower()
    try:
        column = field.as_column()
        return column_type(field.type).validate(column, value)
    except FieldProblem as exc:
        errors.append(FieldError(field.name, exc.code, exc.message))
        return None
