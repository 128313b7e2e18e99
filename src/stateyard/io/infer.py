"""Guess an entity's columns from a data file, for ``/action/entity/import_new``.

Every value of every column is looked at (one streaming pass), and a column gets the most
specific type all its values fit: boolean, integer, float, date, datetime, uuid, email, url,
then string (or text for long or multi-line values); JSON objects and arrays make a json
column. Because every value was tried, the rows then always fit the columns they inferred.
Cells of CSV and XLSX files are converted for their column when imported (``"yes"`` fills a
boolean, a number a string), JSON values are not: a JSON string never makes a number or
boolean column, and a key whose values are of several JSON kinds makes a json column. Numbers
written with leading zeros (``01234``) are codes, not numbers: they stay text.
Column names come from the headers (``Unit price`` becomes ``unit_price``, labelled with
the header as written).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

from stateyard.entities.schemas import ROW_COLUMNS
from stateyard.entities.types import EMAIL_PATTERN, ColumnType, EmailType, FieldProblem, UrlType
from stateyard.io.cells import FALSE_CELLS, TRUE_CELLS
from stateyard.io.errors import RecordError
from stateyard.io.mapping import header_key

#: From most to least specific: a column takes the first type every value fits.
ORDER = ("boolean", "integer", "float", "date", "datetime", "uuid", "email", "url", "string")
#: Longer values, or values with line breaks, make a text column rather than a string one.
LONG_TEXT = 255
INT64 = 2**63
_INTEGER = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_URL = re.compile(r"^https?://[^\s/]+\S*$")
_LEADING_ZERO = re.compile(r"^[+-]?0\d")
_EMAIL = EmailType()
_URL_TYPE = UrlType()
_BOOLEAN_WORDS = (TRUE_CELLS | FALSE_CELLS) - {"1", "0"}


class InferredColumn(msgspec.Struct, omit_defaults=True):
    name: str
    type: str
    label: str | None = None


class ColumnGuess:
    """The types one column's values still all fit."""

    def __init__(self, header: str, *, typed: bool = False) -> None:
        self.header = header
        self.typed = typed
        self.possible = set(ORDER)
        self.long = False
        self.json = False
        self.values = 0

    def see(self, value: Any) -> None:
        if value is None or value == "":
            return
        self.values += 1
        if isinstance(value, dict | list):
            self.json = True
            self.possible.clear()
            return
        self.possible &= _fits_json(value) if self.typed else _fits(value)
        if isinstance(value, str) and (len(value) > LONG_TEXT or "\n" in value):
            self.long = True

    def type(self) -> str:
        if self.values == 0:
            return "string"
        if self.json or not self.possible:  # only JSON values of several kinds empty it: a json column takes them all
            return "json"
        for kind in ORDER:
            if kind in self.possible:
                return "text" if kind == "string" and self.long else kind
        return "text" if self.long else "string"


def _fits(value: Any) -> set[str]:
    """The types a single value fits (strings are parsed, typed values taken as they are)."""
    if isinstance(value, bool):
        return {"boolean", "string"}
    if isinstance(value, int):
        return {"integer", "float", "string"} if -INT64 <= value < INT64 else {"float", "string"}
    if isinstance(value, float):
        return {"integer", "float", "string"} if value.is_integer() and abs(value) < 2**53 else {"float", "string"}
    if isinstance(value, dt.datetime):
        return (
            {"date", "datetime", "string"}
            if value.time() == dt.time(0) and value.tzinfo is None
            else {"datetime", "string"}
        )
    if isinstance(value, dt.date):
        return {"date", "datetime", "string"}
    if not isinstance(value, str):
        return {"string"}
    text = value.strip()
    fits = {"string"}
    lowered = text.lower()
    if lowered in _BOOLEAN_WORDS:
        fits.add("boolean")
    if _LEADING_ZERO.match(text):
        pass  # a code such as a postal code: as a number it would lose its zeros
    elif _INTEGER.match(text) and -INT64 <= int(text) < INT64:
        fits |= {"integer", "float"}
    elif _FLOAT.match(text):
        fits.add("float")
    if _is_date(text):
        fits |= {"date", "datetime"}
    elif _is_datetime(text):
        fits.add("datetime")
    if _is_uuid(text):
        fits.add("uuid")
    # Confirmed by the column types themselves, whose checks are stricter than a pattern.
    if EMAIL_PATTERN.match(text) and _accepts(_EMAIL, text):
        fits.add("email")
    if _URL.match(text) and _accepts(_URL_TYPE, text):
        fits.add("url")
    return fits


#: What a JSON value of each kind fits as it is (a JSON string may be a date, never a number).
_JSON_TEXT_TYPES = frozenset({"date", "datetime", "uuid", "email", "url", "string"})


def _fits_json(value: Any) -> set[str]:
    """The types a value of a JSON file fits without conversion."""
    if isinstance(value, str):
        return _fits(value) & _JSON_TEXT_TYPES
    if isinstance(value, bool):
        return {"boolean"}
    if isinstance(value, int | float):
        return _fits(value) - {"string"}
    return set()


def _accepts(kind: ColumnType, text: str) -> bool:
    try:
        kind.parse(text)
    except FieldProblem:
        return False
    return True


def _is_date(text: str) -> bool:
    if len(text) != 10:
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_datetime(text: str) -> bool:
    if len(text) < 16 or ("T" not in text and " " not in text):
        return False
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_uuid(text: str) -> bool:
    if len(text) != 36:
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def column_names(headers: Iterable[str]) -> dict[str, str]:
    """A valid, distinct column name for each header (row fields such as ``version`` get a ``file_`` prefix)."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for position, header in enumerate(headers, start=1):
        base = re.sub(r"[^a-z0-9_]", "", header_key(header).replace("__", "_")) or f"column_{position}"
        if not base[0].isalpha():
            base = f"c_{base}"
        if base in ROW_COLUMNS:
            base = f"file_{base}"
        base = base[:60].rstrip("_")
        name, suffix = base, 2
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        names[header] = name
    return names


class Inference:
    """Guesses columns from records; call :meth:`see` for each, then :meth:`columns`."""

    def __init__(self, headers: list[str] | None, *, typed: bool = False) -> None:
        self.typed = typed
        self.guesses: dict[str, ColumnGuess] = {h: ColumnGuess(h, typed=typed) for h in headers or [] if h}
        self.rows = 0

    def see(self, record: dict[str, Any] | RecordError) -> None:
        if isinstance(record, RecordError):
            return
        self.rows += 1
        for header, value in record.items():
            if not header:
                continue
            guess = self.guesses.get(header)
            if guess is None:
                guess = self.guesses[header] = ColumnGuess(header, typed=self.typed)
            guess.see(value)

    def columns(self) -> tuple[list[InferredColumn], dict[str, str | None]]:
        """The columns to declare, and the import mapping from headers to them.

        A header ``id`` whose values are all UUIDs keeps the rows' ids instead of becoming a column.
        """
        mapping: dict[str, str | None] = {}
        for header, guess in self.guesses.items():
            if header_key(header) == "id" and guess.type() == "uuid" and "id" not in mapping.values():
                mapping[header] = "id"
        rest = [h for h in self.guesses if h not in mapping]
        names = column_names(rest)
        columns: list[InferredColumn] = []
        for header in rest:
            name = names[header]
            mapping[header] = name
            label = header.strip()[:200]
            columns.append(InferredColumn(name=name, type=self.guesses[header].type(), label=label or None))
        return columns, mapping
