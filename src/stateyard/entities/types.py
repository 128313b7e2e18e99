"""Column types: how each declared type is stored, validated, shown and described.

One class per type keeps every rule about a type in one place: the SQL type, the check
of an incoming JSON value (with a stable error code), the stored form (hashed, encrypted),
and the annotation from which the per-entity msgspec Struct and its JSON Schema are built.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from decimal import Context, Decimal, InvalidOperation
from functools import partial
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import msgspec
from sqlalchemy import BigInteger, Boolean, Date, Float, Integer, String, Text, Uuid
from sqlalchemy.types import TypeEngine

from stateyard.auth.permissions import MAX_PERMISSION, PermissionSpec, decode, encode
from stateyard.core.crypto import Crypto
from stateyard.core.db import bounded_regex_search
from stateyard.core.sqltypes import ExactDecimal, UTCDateTime, json_type
from stateyard.entities.schemas import ColumnDef

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
EMAIL_MAX = 320
URL_MAX = 2048
PASSWORD_MAX = 1024

COMMON_OPTIONS = frozenset({"name", "type", "label", "description", "required", "unique", "indexed", "default"})


class FieldProblem(ValueError):
    """A value that does not fit its column: a stable ``code`` and a message for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ColumnType(ABC):
    name: ClassVar[str]
    #: Column options this type understands beyond the common ones.
    options: ClassVar[frozenset[str]] = frozenset()
    filterable: ClassVar[bool] = True
    sortable: ClassVar[bool] = True
    #: False for values that must never leave the server (password hashes).
    returned: ClassVar[bool] = True
    #: Unique/indexed make sense only on values the database can compare.
    indexable: ClassVar[bool] = True
    #: The Python type of a validated value (``Any`` for JSON), or None when it is not one type.
    value_type: ClassVar[Any] = None

    @abstractmethod
    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]: ...

    @abstractmethod
    def parse(self, value: Any) -> Any:
        """Check the JSON value's type and convert it to the Python value the database takes."""

    def check(self, col: ColumnDef, value: Any) -> None:
        """Check the column's constraints on a parsed value."""

    @abstractmethod
    def annotation(self, col: ColumnDef) -> Any:
        """The Python type (with msgspec constraints) that describes values of this column."""

    def store(self, value: Any, crypto: Crypto) -> Any:
        """The form in which a valid value is written (hashes and ciphertexts differ)."""
        return value

    def definition_errors(self, col: ColumnDef) -> list[str]:
        """Problems with a column declaration of this type, as sentences."""
        return []

    def validate(self, col: ColumnDef, value: Any) -> Any:
        parsed = self.parse(value)
        self.check(col, parsed)
        return parsed

    def checks(self, col: ColumnDef) -> bool:
        """Whether :meth:`check` can refuse a parsed value of this column (it has constraints to check)."""
        return type(self).check is not ColumnType.check

    def validator(self, col: ColumnDef) -> Callable[[Any], Any]:
        """:meth:`validate` for one column as one callable, for code that validates many values of
        it (every row of an import): a column with nothing to check is validated by :meth:`parse` alone."""
        return partial(self.validate, col) if self.checks(col) else self.parse


def _meta(col: ColumnDef, **constraints: Any) -> msgspec.Meta:
    kept = {k: v for k, v in constraints.items() if v is not None}
    return msgspec.Meta(title=col.label, description=col.description, **kept)


class StringType(ColumnType):
    name = "string"
    value_type = str
    options = frozenset({"max_length", "min_length", "pattern"})

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return String(col.max_length) if col.max_length else String()

    def parse(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise FieldProblem("type", f"expected a string, got {_json_kind(value)}")
        if "\x00" in value:
            raise FieldProblem("format", "text may not contain NUL characters")
        return value

    def checks(self, col: ColumnDef) -> bool:
        return col.max_length is not None or col.min_length is not None or col.pattern is not None

    def check(self, col: ColumnDef, value: Any) -> None:
        if col.max_length is not None and len(value) > col.max_length:
            raise FieldProblem("max_length", f"at most {col.max_length} characters, got {len(value)}")
        if col.min_length is not None and len(value) < col.min_length:
            raise FieldProblem("min_length", f"at least {col.min_length} characters, got {len(value)}")
        if col.pattern is not None and not bounded_regex_search(col.pattern, value):
            raise FieldProblem("pattern", f"does not match the pattern {col.pattern!r}")

    def annotation(self, col: ColumnDef) -> Any:
        pattern = col.pattern if col.pattern and _stdlib_regex_ok(col.pattern) else None
        return Annotated[str, _meta(col, max_length=col.max_length, min_length=col.min_length, pattern=pattern)]

    def definition_errors(self, col: ColumnDef) -> list[str]:
        errors = []
        if col.max_length is not None and col.max_length < 1:
            errors.append("max_length must be at least 1")
        if col.min_length is not None and col.min_length < 0:
            errors.append("min_length may not be negative")
        if col.pattern is not None and not _stdlib_regex_ok(col.pattern):
            errors.append(f"pattern {col.pattern!r} is not a valid regular expression")
        return errors


class TextType(StringType):
    name = "text"

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return Text()


class EmailType(StringType):
    name = "email"
    options = frozenset()

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return String(EMAIL_MAX)

    def parse(self, value: Any) -> Any:
        text = super().parse(value).strip()
        if len(text) > EMAIL_MAX or not EMAIL_PATTERN.match(text):
            raise FieldProblem("format", "not an email address")
        # Addresses compare case-insensitively in practice; store one form so unique works.
        return text.lower()

    def check(self, col: ColumnDef, value: Any) -> None:
        return None

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[str, _meta(col, max_length=EMAIL_MAX, extra_json_schema={"format": "email"})]


class UrlType(StringType):
    name = "url"
    options = frozenset()

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return String(URL_MAX)

    def parse(self, value: Any) -> Any:
        text = super().parse(value).strip()
        try:
            parts = urlsplit(text)
        except ValueError:
            parts = None
        if (
            parts is None
            or len(text) > URL_MAX
            or parts.scheme not in ("http", "https")
            or not parts.netloc
            or any(ch.isspace() for ch in text)
        ):
            raise FieldProblem("format", "not an http(s) URL")
        return text

    def check(self, col: ColumnDef, value: Any) -> None:
        return None

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[str, _meta(col, max_length=URL_MAX, extra_json_schema={"format": "uri"})]


class _NumberType(ColumnType):
    options = frozenset({"min", "max"})

    def checks(self, col: ColumnDef) -> bool:
        return col.min is not None or col.max is not None

    def check(self, col: ColumnDef, value: Any) -> None:
        if col.min is not None and value < col.min:
            raise FieldProblem("min", f"must be at least {col.min}, got {value}")
        if col.max is not None and value > col.max:
            raise FieldProblem("max", f"must be at most {col.max}, got {value}")

    def definition_errors(self, col: ColumnDef) -> list[str]:
        if col.min is not None and col.max is not None and col.min > col.max:
            return [f"min ({col.min}) is greater than max ({col.max})"]
        return []


class IntegerType(_NumberType):
    name = "integer"
    value_type = int

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return BigInteger().with_variant(Integer(), "sqlite")

    def parse(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise FieldProblem("type", f"expected an integer, got {_json_kind(value)}")
        if not INT64_MIN <= value <= INT64_MAX:
            raise FieldProblem("max" if value > 0 else "min", "outside the 64-bit integer range")
        return value

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[int, _meta(col, ge=col.min, le=col.max)]


class FloatType(_NumberType):
    name = "float"
    value_type = float

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return Float(precision=53)

    def parse(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FieldProblem("type", f"expected a number, got {_json_kind(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise FieldProblem("type", "expected a finite number")
        return number

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[float, _meta(col, ge=col.min, le=col.max)]


#: A context wide enough for any declared precision: quantizing must never round here.
_WIDE = Context(prec=80)
_QUANTA = [Decimal(1).scaleb(-scale) for scale in range(39)]


class DecimalType(_NumberType):
    name = "decimal"
    value_type = Decimal
    options = frozenset({"min", "max", "precision", "scale"})
    DEFAULT_PRECISION, DEFAULT_SCALE = 18, 2

    def _shape(self, col: ColumnDef) -> tuple[int, int]:
        return (
            self.DEFAULT_PRECISION if col.precision is None else col.precision,
            self.DEFAULT_SCALE if col.scale is None else col.scale,
        )

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        precision, scale = self._shape(col)
        return ExactDecimal(precision, scale)

    def parse(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise FieldProblem("type", f"expected a decimal number or numeric string, got {_json_kind(value)}")
        try:
            number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            raise FieldProblem("type", f"{value!r} is not a decimal number") from None
        if not number.is_finite():
            raise FieldProblem("type", "expected a finite decimal number")
        return number

    def checks(self, col: ColumnDef) -> bool:
        return True  # every value is fitted to the column's scale

    def check(self, col: ColumnDef, value: Any) -> None:
        self._fitted(col, value)

    def validate(self, col: ColumnDef, value: Any) -> Any:
        return self._fitted(col, self.parse(value))

    def _fitted(self, col: ColumnDef, value: Decimal) -> Decimal:
        """The value at the column's scale, so that what a create answers is what a later read shows;
        refused if that would round it or it has more digits before the point than the column."""
        super().check(col, value)
        precision, scale = self._shape(col)
        # Digits before the point first: quantizing 1E+100 to cents would overflow the context.
        if not value.is_zero() and value.adjusted() + 1 > precision - scale:
            raise FieldProblem("precision", f"at most {precision - scale} digits before the decimal point")
        scaled = value.quantize(_QUANTA[scale], context=_WIDE)
        # Trailing zeros are no extra digits: 12.300 fits a scale of 2, 12.305 does not.
        if scaled != value:
            raise FieldProblem("scale", f"at most {scale} digits after the decimal point")
        return scaled.copy_abs() if scaled.is_zero() else scaled

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[Decimal, _meta(col)]

    def definition_errors(self, col: ColumnDef) -> list[str]:
        errors = super().definition_errors(col)
        precision, scale = self._shape(col)
        if not 1 <= precision <= 38:
            errors.append("precision must be between 1 and 38")
        if not 0 <= scale <= precision:
            errors.append("scale must be between 0 and precision")
        return errors


class BooleanType(ColumnType):
    name = "boolean"
    value_type = bool
    indexable = True

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return Boolean()

    def parse(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise FieldProblem("type", f"expected true or false, got {_json_kind(value)}")
        return value

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[bool, _meta(col)]


class DateType(ColumnType):
    # No min/max: ColumnDef bounds are numbers, so a date bound could be declared but never checked.
    name = "date"
    value_type = dt.date

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return Date()

    def parse(self, value: Any) -> Any:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if not isinstance(value, str):
            raise FieldProblem("type", f"expected a date string (YYYY-MM-DD), got {_json_kind(value)}")
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise FieldProblem("format", f"{value!r} is not a date (YYYY-MM-DD)") from None

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[dt.date, _meta(col)]


class DateTimeType(ColumnType):
    name = "datetime"
    value_type = dt.datetime

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return UTCDateTime()

    def parse(self, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                raise FieldProblem("format", f"{value!r} is not an ISO 8601 date-time") from None
        else:
            raise FieldProblem("type", f"expected an ISO 8601 date-time string, got {_json_kind(value)}")
        # A time without an offset is taken as UTC, the platform's one time zone for storage.
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before the first representable UTC moment
            raise FieldProblem("format", f"{value!r} is outside the representable range of date-times") from None

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[dt.datetime, _meta(col)]


class JsonType(ColumnType):
    name = "json"
    value_type = Any
    filterable = False
    sortable = False
    indexable = False

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return json_type()

    def parse(self, value: Any) -> Any:
        return value

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[Any, _meta(col)]


class EnumType(ColumnType):
    name = "enum"
    value_type = str
    options = frozenset({"options"})

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        longest = max((len(o) for o in col.options or []), default=1)
        return String(max(longest, 32))

    def parse(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise FieldProblem("type", f"expected a string, got {_json_kind(value)}")
        return value

    def check(self, col: ColumnDef, value: Any) -> None:
        if value not in (col.options or []):
            allowed = ", ".join(col.options or [])
            raise FieldProblem("enum", f"{value!r} is not one of: {allowed}")

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[Literal[tuple(col.options or [""])], _meta(col)]

    def definition_errors(self, col: ColumnDef) -> list[str]:
        if not col.options:
            return ["an enum column needs a non-empty 'options' list"]
        errors = []
        if len(set(col.options)) != len(col.options):
            errors.append("enum options must be unique")
        if any(not isinstance(o, str) or not o for o in col.options):
            errors.append("enum options must be non-empty strings")
        return errors


class UuidType(ColumnType):
    name = "uuid"
    value_type = uuid.UUID

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return Uuid(as_uuid=True)

    def parse(self, value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return value
        if not isinstance(value, str):
            raise FieldProblem("type", f"expected a UUID string, got {_json_kind(value)}")
        try:
            return uuid.UUID(value)
        except ValueError:
            raise FieldProblem("format", f"{value!r} is not a UUID") from None

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[uuid.UUID, _meta(col)]


class PasswordType(StringType):
    """Hashed with argon2 on write; the hash never leaves the server."""

    name = "password"
    options = frozenset({"min_length"})
    filterable = False
    sortable = False
    returned = False
    indexable = False
    DEFAULT_MIN_LENGTH = 8

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return String(255)

    def checks(self, col: ColumnDef) -> bool:
        return True  # a password has a length floor even where the column declares none

    def check(self, col: ColumnDef, value: Any) -> None:
        minimum = self.DEFAULT_MIN_LENGTH if col.min_length is None else col.min_length
        if len(value) < minimum:
            raise FieldProblem("min_length", f"at least {minimum} characters")
        if len(value) > PASSWORD_MAX:
            raise FieldProblem("max_length", f"at most {PASSWORD_MAX} characters")

    def store(self, value: Any, crypto: Crypto) -> Any:
        return crypto.hash_password(value)

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[
            str,
            _meta(
                col,
                min_length=col.min_length or self.DEFAULT_MIN_LENGTH,
                extra_json_schema={"writeOnly": True, "format": "password"},
            ),
        ]


class EncryptedType(StringType):
    """Encrypted at rest; shown in clear only to administrators and the column's ``readers``."""

    name = "encrypted"
    options = frozenset({"max_length", "min_length", "readers"})
    filterable = False
    sortable = False
    indexable = False

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return Text()

    def store(self, value: Any, crypto: Crypto) -> Any:
        return crypto.encrypt(value)


class SecretType(EncryptedType):
    """Encrypted at rest like ``encrypted``, but never returned, to administrators neither: only the
    platform decrypts it for its own use (a two-factor seed, a key the server signs with)."""

    name = "secret"
    options = frozenset({"max_length", "min_length"})
    returned = False


class PermissionType(ColumnType):
    """A permission value: an integer in the database, ``{guest, owner, group}`` lists in the API."""

    name = "permission"
    value_type = int
    sortable = False

    def sql_type(self, col: ColumnDef) -> TypeEngine[Any]:
        return Integer()

    def parse(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            # Out-of-range bits would be dropped on read (or overflow the column on PostgreSQL).
            if not 0 <= value <= MAX_PERMISSION:
                raise FieldProblem("format", f"a numeric permission is between 0 and {MAX_PERMISSION}, got {value}")
            return value
        try:
            return encode(msgspec.convert(value, PermissionSpec))
        except (msgspec.ValidationError, ValueError) as exc:
            raise FieldProblem("format", f"expected {{guest, owner, group}} lists of verbs: {exc}") from None

    def annotation(self, col: ColumnDef) -> Any:
        return Annotated[PermissionSpec, _meta(col)]


def show_permission(value: int | None) -> dict[str, list[str]] | None:
    return None if value is None else msgspec.structs.asdict(decode(value))


COLUMN_TYPES: dict[str, ColumnType] = {
    t.name: t
    for t in (
        StringType(),
        TextType(),
        EmailType(),
        UrlType(),
        IntegerType(),
        FloatType(),
        DecimalType(),
        BooleanType(),
        DateType(),
        DateTimeType(),
        JsonType(),
        EnumType(),
        UuidType(),
        PasswordType(),
        EncryptedType(),
        SecretType(),
        PermissionType(),
    )
}


def column_type(name: str) -> ColumnType:
    return COLUMN_TYPES[name]


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _stdlib_regex_ok(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return len(pattern) <= 500
