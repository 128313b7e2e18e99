"""Headers to fields: loose matching by name or label, explicit mappings, and what cannot be placed."""

from __future__ import annotations

import pytest

from stateyard.core.errors import ProblemError
from stateyard.entities.compiler import Model
from stateyard.io.mapping import HeaderMap, IgnoredHeader, header_key, importable_fields


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Customer Name", "customer_name"),
        (" customer-name ", "customer_name"),
        ("CUSTOMER__NAME", "customer_name"),
        ("a\tb", "a_b"),
        ("_x_", "x"),
        ("", ""),
    ],
)
def test_header_keys(header: str, key: str) -> None:
    assert header_key(header) == key


def test_importable_fields(item_model: Model) -> None:
    assert importable_fields(item_model) == [
        "id",
        "owner_id",
        "permission",
        "code",
        "customer_name",
        "quantity",
        "meta",
        "customer_id",
    ]


def test_names_and_labels_match_loosely(item_model: Model) -> None:
    headers = HeaderMap(item_model, {}, strict=False)
    assert headers.plan(["CODE", "Client", "QTY.", "customer id", "Colour", "version"]) == [
        "code",
        "customer_name",
        "quantity",
        "customer_id",
        None,
        None,
    ]
    assert headers.unknown == ["Colour"]
    assert headers.ignored == [IgnoredHeader("version", "managed by the platform")]


def test_a_label_that_matches_no_name_still_fills_its_column(item_model: Model) -> None:
    assert HeaderMap(item_model, {}, strict=False).plan(["Qty."]) == ["quantity"]


def test_an_explicit_mapping_wins_and_null_ignores(item_model: Model) -> None:
    headers = HeaderMap(item_model, {"Ref": "code", "code": None}, strict=True)
    assert headers.plan(["Ref", "code"]) == ["code", None]
    assert headers.ignored == [IgnoredHeader("code", "mapped to null")] and headers.unknown == []


def test_a_mapping_to_an_unknown_field_is_422(item_model: Model) -> None:
    with pytest.raises(ProblemError) as caught:
        HeaderMap(item_model, {"Ref": "reference", "X": "created_at", "Y": "code"}, strict=False)
    assert caught.value.status == 422
    assert [(e.field, e.code) for e in caught.value.errors or []] == [
        ("mapping.Ref", "unknown"),
        ("mapping.X", "unknown"),
    ]


@pytest.mark.parametrize(
    ("mapping", "headers", "words"),
    [
        ({}, ["code", "code"], "more than once"),
        ({}, ["code", "Code"], "both fill 'code'"),
        ({}, ["customer_name", "client"], "both fill 'customer_name'"),
        ({"Ref": "code"}, ["Ref", "code"], "both fill 'code'"),
        ({"ref": "code"}, ["Ref"], "does not have"),
    ],
)
def test_headers_that_cannot_all_be_placed_are_400(
    item_model: Model, mapping: dict[str, str | None], headers: list[str], words: str
) -> None:
    with pytest.raises(ProblemError) as caught:
        HeaderMap(item_model, mapping, strict=False).plan(headers)
    assert caught.value.status == 400 and caught.value.code == "import-headers"
    assert words in caught.value.detail


def test_empty_headers_repeat_without_complaint(item_model: Model) -> None:
    assert HeaderMap(item_model, {}, strict=False).plan(["code", "", ""]) == ["code", None, None]


def test_strict_refuses_unknown_headers_naming_them_and_the_fields(item_model: Model) -> None:
    with pytest.raises(ProblemError) as caught:
        HeaderMap(item_model, {}, strict=True).plan(["code", "colour", "size"])
    assert caught.value.status == 400
    assert caught.value.extensions["unknown_headers"] == ["colour", "size"]
    assert "customer_name" in caught.value.detail


def test_field_lookups_are_remembered_and_unnamed_values_noted_once(item_model: Model) -> None:
    headers = HeaderMap(item_model, {}, strict=False)
    assert headers.field("Colour") is None and headers.field("Colour") is None
    headers.note_unnamed()
    headers.note_unnamed()
    assert headers.unknown == ["Colour", ""]
    with pytest.raises(ProblemError):
        headers.field("code") and headers.field("CODE")
