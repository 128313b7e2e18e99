"""Column types: which JSON values each accepts, what it makes of them, and the codes of refusals."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from stateyard.core.crypto import Crypto
from stateyard.entities.schemas import ColumnDef
from stateyard.entities.types import COLUMN_TYPES, FieldProblem, column_type

UTC = dt.UTC


def validate(type_: str, value: Any, **options: Any) -> Any:
    col = ColumnDef(name="c", type=type_, **options)
    return column_type(type_).validate(col, value)


def validate_with_validator(type_: str, value: Any, **options: Any) -> Any:
    """The same through the column's one-callable validator (what validation of many rows uses)."""
    col = ColumnDef(name="c", type=type_, **options)
    return column_type(type_).validator(col)(value)


GOOD: list[tuple[str, dict[str, Any], Any, Any]] = [
    ("string", {}, "hello", "hello"),
    ("string", {"max_length": 5, "min_length": 5}, "héllo", "héllo"),
    ("string", {"pattern": "^[a-z]+$"}, "abc", "abc"),
    ("string", {}, "", ""),
    ("text", {}, "line\nline", "line\nline"),
    ("integer", {}, 42, 42),
    ("integer", {}, 3.0, 3),
    ("integer", {"min": -5, "max": 5}, -5, -5),
    ("integer", {}, 2**63 - 1, 2**63 - 1),
    ("float", {}, 1, 1.0),
    ("float", {"min": 0, "max": 1}, 0.5, 0.5),
    ("decimal", {}, "12.30", Decimal("12.30")),
    ("decimal", {}, 7, Decimal(7)),
    ("decimal", {}, " -0.5 ", Decimal("-0.5")),
    ("decimal", {"precision": 4, "scale": 2}, "99.99", Decimal("99.99")),
    ("boolean", {}, False, False),
    ("date", {}, "2024-02-29", dt.date(2024, 2, 29)),
    ("datetime", {}, "2024-05-01T12:30:00+02:00", dt.datetime(2024, 5, 1, 10, 30, tzinfo=UTC)),
    ("datetime", {}, "2024-05-01T12:30:00Z", dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ("datetime", {}, "2024-05-01T12:30:00", dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
    ("datetime", {}, "2024-05-01", dt.datetime(2024, 5, 1, tzinfo=UTC)),
    ("json", {}, {"a": [1, None]}, {"a": [1, None]}),
    ("json", {}, [1, "two"], [1, "two"]),
    ("enum", {"options": ["new", "paid"]}, "paid", "paid"),
    ("email", {}, " Ann@Example.COM ", "ann@example.com"),
    ("url", {}, "https://example.com/a?b=c#d", "https://example.com/a?b=c#d"),
    ("url", {}, "http://localhost:8080", "http://localhost:8080"),
    (
        "uuid",
        {},
        "6F1C7A2E-8D6B-4A8E-9A57-3F5D2B9C1E00",
        uuid.UUID("6f1c7a2e-8d6b-4a8e-9a57-3f5d2b9c1e00"),
    ),
    ("password", {}, "eight ch", "eight ch"),
    ("password", {"min_length": 3}, "abc", "abc"),
    ("encrypted", {}, "secret", "secret"),
    ("secret", {}, "seed", "seed"),
    ("permission", {}, {"owner": ["read"]}, 2 << 7),
    ("permission", {}, 5, 5),
]


@pytest.mark.parametrize("check", [validate, validate_with_validator])
@pytest.mark.parametrize(("type_", "options", "value", "expected"), GOOD)
def test_good_values(check: Any, type_: str, options: dict[str, Any], value: Any, expected: Any) -> None:
    parsed = check(type_, value, **options)
    assert parsed == expected
    assert type(parsed) is type(expected)


BAD: list[tuple[str, dict[str, Any], Any, str]] = [
    ("string", {}, 5, "type"),
    ("string", {}, None, "type"),
    ("string", {}, ["a"], "type"),
    ("string", {}, "nul\x00byte", "format"),
    ("string", {"max_length": 3}, "abcd", "max_length"),
    ("string", {"min_length": 2}, "a", "min_length"),
    ("string", {"pattern": "^[a-z]+$"}, "ABC", "pattern"),
    ("text", {}, {"a": 1}, "type"),
    ("integer", {}, "1", "type"),
    ("integer", {}, True, "type"),
    ("integer", {}, 1.5, "type"),
    ("integer", {}, 2**63, "max"),
    ("integer", {}, -(2**63) - 1, "min"),
    ("integer", {"min": 0}, -1, "min"),
    ("integer", {"max": 10}, 11, "max"),
    ("float", {}, "1.5", "type"),
    ("float", {}, False, "type"),
    ("float", {}, float("inf"), "type"),
    ("float", {}, float("nan"), "type"),
    ("float", {"max": 1}, 1.01, "max"),
    ("decimal", {}, "abc", "type"),
    ("decimal", {}, True, "type"),
    ("decimal", {}, [1], "type"),
    ("decimal", {}, "Infinity", "type"),
    ("decimal", {}, "NaN", "type"),
    ("decimal", {}, "1.234", "scale"),
    ("decimal", {"precision": 4, "scale": 2}, "100", "precision"),
    ("decimal", {"min": 0}, "-0.01", "min"),
    ("boolean", {}, "true", "type"),
    ("boolean", {}, 1, "type"),
    ("date", {}, "2023-02-29", "format"),
    ("date", {}, "01/02/2024", "format"),
    ("date", {}, 20240101, "type"),
    ("datetime", {}, "noon", "format"),
    ("datetime", {}, 1714560000, "type"),
    ("enum", {"options": ["new", "paid"]}, "shipped", "enum"),
    ("enum", {"options": ["new", "paid"]}, "NEW", "enum"),
    ("enum", {"options": ["1"]}, 1, "type"),
    ("email", {}, "no-at-sign", "format"),
    ("email", {}, "two@@example.com", "format"),
    ("email", {}, "a@b", "format"),
    ("email", {}, "a b@example.com", "format"),
    ("email", {}, "x" * 310 + "@example.com", "format"),
    ("email", {}, 3, "type"),
    ("url", {}, "example.com", "format"),
    ("url", {}, "ftp://example.com", "format"),
    ("url", {}, "javascript:alert(1)", "format"),
    ("url", {}, "https://exa mple.com", "format"),
    ("url", {}, "https://", "format"),
    ("url", {}, "https://example.com/" + "a" * 2048, "format"),
    ("uuid", {}, "not-a-uuid", "format"),
    ("uuid", {}, 123, "type"),
    ("password", {}, "short", "min_length"),
    ("password", {}, "x" * 1025, "max_length"),
    ("password", {}, 12345678, "type"),
    ("encrypted", {"max_length": 3}, "long", "max_length"),
    ("encrypted", {}, 5, "type"),
    ("secret", {"min_length": 8}, "short", "min_length"),
    ("permission", {}, {"owner": ["fly"]}, "format"),
    ("permission", {}, {"others": ["read"]}, "format"),
]


@pytest.mark.parametrize("check", [validate, validate_with_validator])
@pytest.mark.parametrize(("type_", "options", "value", "code"), BAD)
def test_bad_values(check: Any, type_: str, options: dict[str, Any], value: Any, code: str) -> None:
    with pytest.raises(FieldProblem) as refused:
        check(type_, value, **options)
    assert refused.value.code == code
    assert refused.value.message


def test_a_column_with_nothing_to_check_is_validated_by_parse_alone() -> None:
    plain, bounded = ColumnDef(name="c", type="string"), ColumnDef(name="c", type="string", max_length=3)
    string = column_type("string")
    assert string.validator(plain) == string.parse
    assert string.validator(bounded) != string.parse
    # Decimals are always fitted to their scale; passwords always have a length floor.
    for kind in ("decimal", "password"):
        assert column_type(kind).validator(ColumnDef(name="c", type=kind)) != column_type(kind).parse


def test_every_type_is_covered() -> None:
    assert {t for t, *_ in GOOD} == set(COLUMN_TYPES)
    assert {t for t, *_ in BAD} == set(COLUMN_TYPES) - {"json"}


def test_password_is_stored_as_a_hash() -> None:
    crypto = Crypto("k" * 40, time_cost=1, memory_kib=1024)
    stored = column_type("password").store("correct horse", crypto)
    assert stored.startswith("$argon2") and "correct horse" not in stored
    assert crypto.verify_password(stored, "correct horse")


def test_encrypted_is_stored_as_a_ciphertext() -> None:
    crypto = Crypto("k" * 40, time_cost=1, memory_kib=1024)
    stored = column_type("encrypted").store("launch code", crypto)
    assert "launch" not in stored
    assert crypto.decrypt(stored) == "launch code"
    assert Crypto("other" * 10).decrypt(stored) is None


def test_other_types_are_stored_as_parsed() -> None:
    crypto = Crypto("k" * 40, time_cost=1, memory_kib=1024)
    for name in ("string", "integer", "decimal", "json", "uuid"):
        assert column_type(name).store("x", crypto) == "x"


def test_type_capabilities() -> None:
    hidden = {name for name, t in COLUMN_TYPES.items() if not t.returned}
    assert hidden == {"password", "secret"}
    not_filterable = {name for name, t in COLUMN_TYPES.items() if not t.filterable}
    assert not_filterable == {"json", "password", "encrypted", "secret"}
    not_indexable = {name for name, t in COLUMN_TYPES.items() if not t.indexable}
    assert not_indexable == {"json", "password", "encrypted", "secret"}


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (ColumnDef(name="c", type="string", max_length=0), "max_length must be at least 1"),
        (ColumnDef(name="c", type="string", pattern="(x"), "is not a valid regular expression"),
        (ColumnDef(name="c", type="string", pattern="a" * 501), "is not a valid regular expression"),
        (ColumnDef(name="c", type="integer", min=2, max=1), "min (2) is greater than max (1)"),
        (ColumnDef(name="c", type="decimal", precision=0), "precision must be between 1 and 38"),
        (ColumnDef(name="c", type="decimal", precision=5, scale=6), "scale must be between 0 and precision"),
        (ColumnDef(name="c", type="enum"), "needs a non-empty 'options' list"),
        (ColumnDef(name="c", type="enum", options=["a", "a"]), "enum options must be unique"),
    ],
)
def test_definition_errors_of_a_type(column: ColumnDef, message: str) -> None:
    found = column_type(column.type).definition_errors(column)
    assert any(message in m for m in found), found


def test_a_pattern_is_bounded_in_time() -> None:
    # Catastrophic backtracking is cut off and counts as not matching, never hangs.
    with pytest.raises(FieldProblem) as refused:
        validate("string", "a" * 40 + "!", pattern="^(a+)+$")
    assert refused.value.code == "pattern"


@pytest.mark.parametrize(
    ("value", "options", "shown"),
    [
        ("12.3", {}, "12.30"),
        (7, {}, "7.00"),
        ("12.300", {}, "12.30"),
        ("-0", {}, "0.00"),
        ("1.5", {"scale": 0, "precision": 4}, None),
        ("15", {"scale": 0, "precision": 4}, "15"),
        ("1" * 30 + ".25", {"precision": 38, "scale": 2}, "1" * 30 + ".25"),
    ],
)
def test_decimals_come_out_at_the_column_scale(value: Any, options: dict[str, Any], shown: str | None) -> None:
    if shown is None:
        with pytest.raises(FieldProblem, match="after the decimal point"):
            validate("decimal", value, **options)
        return
    assert str(validate("decimal", value, **options)) == shown


@pytest.mark.parametrize(
    ("value", "code"),
    [("1E+100", "precision"), ("-1E+40", "precision"), ("1E-100", "scale"), ("99999999999", "precision")],
)
def test_decimals_of_extreme_exponents_are_refused_as_problems(value: str, code: str) -> None:
    # A value quantized to the scale first would overflow the decimal context (an exception, not a problem).
    with pytest.raises(FieldProblem) as refused:
        validate("decimal", value, precision=12, scale=2)
    assert refused.value.code == code


def test_a_zero_of_any_exponent_is_zero() -> None:
    assert str(validate("decimal", "0E+100", precision=12, scale=2)) == "0.00"
