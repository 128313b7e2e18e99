"""Which field of the entity each header (or JSON key) of a file fills.

Headers match a field's name or label case- and space-insensitively ("Customer Name",
"customer_name" and "customer-name" all fill ``customer_name``); an explicit ``mapping``
``{"Header": "field"}`` wins, and ``{"Header": null}`` leaves a header out on purpose.
A header that matches nothing is reported (or, with ``strict``, refused), never dropped in
silence; headers naming fields the platform manages (``version``, ``created_at``) are
reported as ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import msgspec

from stateyard.core.errors import FieldError, bad_request, invalid
from stateyard.crud.validation import SYSTEM_MANAGED
from stateyard.entities.compiler import Model

#: Row fields a file may set besides columns and belongs_to keys (as a create body may).
ROW_FIELDS = ("id", "owner_id", "permission")
_SEPARATORS = re.compile(r"[\s_\-]+")


class IgnoredHeader(msgspec.Struct, frozen=True):
    header: str
    reason: str


def header_key(text: str) -> str:
    return _SEPARATORS.sub("_", text.strip().lower()).strip("_")


def importable_fields(model: Model) -> list[str]:
    return [*ROW_FIELDS, *model.columns, *model.foreign_keys]


class HeaderMap:
    """Resolves headers to fields, once per distinct header, remembering what it could not place."""

    def __init__(self, model: Model, mapping: Mapping[str, str | None], *, strict: bool) -> None:
        self.model = model
        self.strict = strict
        self.mapping = dict(mapping)
        fields = importable_fields(model)
        bad = [
            FieldError(f"mapping.{h}", "unknown", f"'{model.name}' has no field '{f}'")
            for h, f in self.mapping.items()
            if f is not None and f not in fields
        ]
        if bad:
            raise invalid(bad, detail="The mapping names fields the entity does not have.")
        self._by_key: dict[str, str] = {}
        for name in fields:
            self._by_key.setdefault(header_key(name), name)
        for name, col in model.columns.items():
            if col.label:
                self._by_key.setdefault(header_key(col.label), name)
        self._resolved: dict[str, str | None] = {}
        self._filled: dict[str, str] = {}
        self.unknown: list[str] = []
        self.ignored: list[IgnoredHeader] = []

    def field(self, header: str) -> str | None:
        """The field ``header`` fills, or None (then it is recorded as unknown or ignored)."""
        if header in self._resolved:
            return self._resolved[header]
        found = self._resolve(header)
        if found is not None:
            other = self._filled.get(found)
            if other is not None:
                raise bad_request(
                    f"The headers {other!r} and {header!r} both fill '{found}'; map one of them to another "
                    "field or to null in 'mapping'.",
                    code="import-headers",
                )
            self._filled[found] = header
        self._resolved[header] = found
        return found

    def _resolve(self, header: str) -> str | None:
        if header in self.mapping:
            target = self.mapping[header]
            if target is None:
                self.ignored.append(IgnoredHeader(header, "mapped to null"))
            return target
        key = header_key(header)
        found = self._by_key.get(key)
        if found is not None:
            return found
        if key in SYSTEM_MANAGED:
            self.ignored.append(IgnoredHeader(header, "managed by the platform"))
        else:
            self.unknown.append(header)
        return None

    def note_unnamed(self) -> None:
        """A value stands in a column without a header: reported once, as an unknown header."""
        if "" not in self._resolved:
            self._resolved[""] = None
            self.unknown.append("")

    def plan(self, headers: Iterable[str]) -> list[str | None]:
        """The field of each header of a file with a header row, checked as a whole."""
        headers = list(headers)
        seen: set[str] = set()
        for header in headers:
            if header in seen and header:
                raise bad_request(f"The header {header!r} appears more than once.", code="import-headers")
            seen.add(header)
        missing = [h for h in self.mapping if h not in seen]
        if missing:
            raise bad_request(
                f"'mapping' names header(s) the file does not have: {', '.join(map(repr, missing))}; "
                f"the file's headers: {', '.join(map(repr, headers))}",
                code="import-headers",
            )
        fields = [self.field(h) if h else None for h in headers]
        if self.strict and self.unknown:
            raise bad_request(
                f"Unknown header(s) with 'strict': {', '.join(map(repr, self.unknown))}. Known fields of "
                f"'{self.model.name}': {', '.join(importable_fields(self.model))}",
                code="import-headers",
                unknown_headers=self.unknown,
            )
        return fields
