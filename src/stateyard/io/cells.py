"""Between spreadsheet cells and column values, both ways.

CSV cells are text and XLSX cells are loosely typed (a code column holds numbers, a date
column datetimes at midnight); the API takes JSON values. Reading, each cell is turned into
the JSON-like value its column's type accepts and then validated exactly as a create body
is. Writing, each value becomes text (CSV) or a typed cell (XLSX).

A cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab or CR first) is
written with a leading apostrophe, and one apostrophe is taken off such a cell on import.
The rule also escapes cells that already start with apostrophes before one of those
characters, so it can be undone exactly and a round trip keeps every value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from stateyard.entities.types import FieldProblem

_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_ESCAPED_FORMULA = re.compile(r"^'+[=+\-@\t\r]")
TRUE_CELLS = frozenset({"true", "yes", "y", "1", "on"})
FALSE_CELLS = frozenset({"false", "no", "n", "0", "off"})
_json_encoder = msgspec.json.Encoder()
#: Digits beyond any 64-bit integer: longer integer cells are refused before they are built.
_INTEGER_DIGITS = 30

CellReader = Callable[[Any], Any]


def neutralise(text: str) -> str:
    """The text with a leading apostrophe if a spreadsheet would otherwise read it as a formula."""
    return "'" + text if _FORMULA.match(text) else text


def unneutralise(text: str) -> str:
    return text[1:] if _ESCAPED_FORMULA.match(text) else text


def _as_text(value: Any) -> Any:
    """Numbers and dates in a text column (a code typed as 00123 comes back as 123 from XLSX)."""
    if isinstance(value, str):
        return unneutralise(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # a duration cell, as a spreadsheet shows it: 1:30:00
        return str(value)
    return value


def _number_text(value: str, expected: str) -> str:
    # Python's int() and float() take "1_000", which no spreadsheet means as a number.
    text = value.strip()
    if "_" in text:
        raise FieldProblem("type", f"expected {expected}, got {value!r}")
    return text


def _as_integer(value: Any) -> Any:
    if isinstance(value, str):
        text = _number_text(value, "an integer")
        try:
            return int(text)
        except ValueError:
            pass
        try:  # "3.0" and "1e3" are integers; decimally, so that "1.0000000000000001" is not
            number = Decimal(text)
        except InvalidOperation:
            number = None
        if number is not None and number.is_finite() and number == number.to_integral_value():
            if number.adjusted() > _INTEGER_DIGITS:  # never build a number of a billion digits
                raise FieldProblem("max" if number > 0 else "min", "outside the 64-bit integer range")
            return int(number)
        raise FieldProblem("type", f"expected an integer, got {value!r}")
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def _as_float(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(_number_text(value, "a number"))
        except ValueError:
            raise FieldProblem("type", f"expected a number, got {value!r}") from None
    if isinstance(value, Decimal):
        return float(value)
    return value


def _as_boolean(value: Any) -> Any:
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_CELLS:
            return True
        if word in FALSE_CELLS:
            return False
        raise FieldProblem("type", f"expected true or false (yes/no, 1/0), got {value!r}")
    if isinstance(value, int | float) and not isinstance(value, bool) and value in (0, 1):
        return bool(value)
    return value


def _as_date(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0) or value.tzinfo is not None:
            raise FieldProblem("format", f"expected a date without a time, got {value.isoformat()}")
        return value.date()
    return value


def _as_datetime(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time(0))
    return value


def _as_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return msgspec.json.decode(unneutralise(value))
        except msgspec.DecodeError:
            raise FieldProblem("format", "not valid JSON") from None
    return value


def _as_is(value: Any) -> Any:
    return value


_READERS: dict[str, CellReader] = {
    "string": _as_text,
    "text": _as_text,
    "email": _as_text,
    "url": _as_text,
    "enum": _as_text,
    "password": _as_text,
    "encrypted": _as_text,
    "secret": _as_text,
    "uuid": _as_text,
    "integer": _as_integer,
    "float": _as_float,
    "decimal": _as_text,
    "boolean": _as_boolean,
    "date": _as_date,
    "datetime": _as_datetime,
    "json": _as_json,
}


def cell_reader(type_name: str) -> CellReader:
    """How a file cell becomes the value a column of this type validates."""
    return _READERS.get(type_name, _as_is)


def csv_text(value: Any) -> str:
    """A value as CSV text: ISO dates, exact decimals, ``true``/``false``, compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return neutralise(_json_encoder.encode(value).decode())
    return neutralise(str(value))


#: Column kinds whose values are text a person typed (and so may look like a formula).
TEXT_KINDS = frozenset({"string", "text", "email", "url", "enum", "encrypted"})


def _iso(value: Any) -> str:
    return str(value.isoformat())


def _boolean_text(value: Any) -> str:
    return "true" if value else "false"


def csv_converter(kind: str) -> Callable[[Any], Any] | None:
    """How a non-null value of a column of ``kind`` becomes CSV text (None: the csv module's own str())."""
    if kind in ("integer", "float", "version"):
        return None
    if kind in ("decimal", "uuid"):
        return str
    if kind == "boolean":
        return _boolean_text
    if kind in ("date", "datetime"):
        return _iso
    if kind in TEXT_KINDS:
        return neutralise
    if kind == "json":
        return json_cell
    return csv_text


def json_cell(value: Any) -> str:
    """A json column's value as the JSON text an import reads back: a string value keeps its quotes."""
    return neutralise(_json_encoder.encode(value).decode())


def json_text(value: Any) -> str:
    return _json_encoder.encode(value).decode()
