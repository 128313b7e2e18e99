"""definition_errors: every problem of a definition, each with its path and a stable code."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from stateyard.entities.schemas import EntityDef
from stateyard.entities.validation import definition_errors, entity_name_problem, name_problem

GROUPS = {"users", "administrators", "sales"}
CUSTOMER = msgspec.convert(
    {"name": "customer", "relations": [{"name": "account", "type": "belongs_to", "target": "account"}]}, EntityDef
)
ORDER = msgspec.convert(
    {"name": "order", "relations": [{"name": "customer", "type": "belongs_to", "target": "customer"}]}, EntityDef
)
OTHERS = {"customer": CUSTOMER, "order": ORDER}


def errors(body: dict[str, Any], *, allow_system: bool = False) -> list[tuple[str, str]]:
    definition = msgspec.convert({"name": "thing", **body}, EntityDef)
    return [(e.field, e.code) for e in definition_errors(definition, OTHERS, GROUPS, allow_system=allow_system)]


def test_a_full_valid_definition_has_no_errors() -> None:
    body = {
        "columns": [
            {"name": "title", "type": "string", "required": True, "max_length": 80, "pattern": "^[A-Z]"},
            {"name": "amount", "type": "decimal", "precision": 10, "scale": 2, "min": 0, "default": "1.00"},
            {"name": "kind", "type": "enum", "options": ["a", "b"], "default": "a", "indexed": True},
            {"name": "secret", "type": "encrypted", "readers": ["owner", "sales"]},
            {"name": "pin", "type": "password", "min_length": 4},
            {"name": "seen", "type": "datetime", "default": "2024-01-01T00:00:00Z"},
        ],
        "relations": [
            {"name": "customer", "type": "belongs_to", "target": "customer", "required": True, "on_delete": "cascade"},
            {"name": "parent", "type": "belongs_to", "target": "thing", "on_delete": "set_null"},
            {"name": "children", "type": "has_many", "target": "thing", "inverse": "parent"},
            {"name": "orders", "type": "many_to_many", "target": "order"},
        ],
        "indexes": [{"columns": ["title", "customer_id"], "unique": True}, {"columns": ["created_at"]}],
        "groups": ["users", "sales"],
        "row_groups": ["sales"],
    }
    assert errors(body) == []


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("api", "reserved"),
        ("health", "reserved"),
        ("sqlite_master", "reserved"),
        ("pg_class", "reserved"),
        ("stateyard", "reserved"),
        ("Order", "not a valid"),
        ("a__b", "double underscore"),
        ("_x", "not a valid"),
        ("x" * 64, "not a valid"),
        ("with-dash", "not a valid"),
        ("ünicode", "not a valid"),
    ],
)
def test_entity_name_problems(name: str, problem: str) -> None:
    found = entity_name_problem(name)
    assert found is not None and problem in found


@pytest.mark.parametrize("name", ["order", "a", "x" * 63, "line_item2", "apis", "schemas"])
def test_good_entity_names(name: str) -> None:
    assert entity_name_problem(name) is None
    assert name_problem(name, "column") is None


def test_system_entities_are_only_for_the_platform() -> None:
    assert errors({"system": True}) == [("system", "reserved")]
    assert errors({"system": True}, allow_system=True) == []


def test_column_problems_name_their_path() -> None:
    body = {
        "columns": [
            {"name": "ok", "type": "string"},
            {"name": "Bad", "type": "string"},
            {"name": "ok", "type": "text"},
            {"name": "version", "type": "integer"},
            {"name": "c", "type": "colour"},
            {"name": "p", "type": "permission"},
        ]
    }
    assert errors(body) == [
        ("columns[1].name", "invalid_name"),
        ("columns[2].name", "duplicate"),
        ("columns[3].name", "duplicate"),
        ("columns[4].type", "unknown_type"),
        ("columns[5].type", "unknown_type"),
    ]
    assert ("columns[5].type", "unknown_type") not in errors(body, allow_system=True)


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ({"type": "integer", "max_length": 3}, [("columns[0].max_length", "unsupported_option")]),
        (
            {"type": "integer", "pattern": "x", "options": ["a"]},
            [
                ("columns[0].options", "unsupported_option"),
                ("columns[0].pattern", "unsupported_option"),
            ],
        ),
        ({"type": "boolean", "min": 0}, [("columns[0].min", "unsupported_option")]),
        ({"type": "email", "max_length": 10}, [("columns[0].max_length", "unsupported_option")]),
        ({"type": "password", "max_length": 10}, [("columns[0].max_length", "unsupported_option")]),
        ({"type": "string", "readers": ["owner"]}, [("columns[0].readers", "unsupported_option")]),
        ({"type": "enum"}, [("columns[0]", "invalid_column")]),
        ({"type": "enum", "options": ["a", ""]}, [("columns[0]", "invalid_column")]),
        ({"type": "string", "min_length": -1}, [("columns[0]", "invalid_column")]),
        ({"type": "string", "pattern": "[z-a]"}, [("columns[0]", "invalid_column")]),
        ({"type": "integer", "min": 3, "max": 2}, [("columns[0]", "invalid_column")]),
        ({"type": "decimal", "precision": 40}, [("columns[0]", "invalid_column")]),
        ({"type": "decimal", "precision": 4, "scale": 5}, [("columns[0]", "invalid_column")]),
        ({"type": "json", "indexed": True}, [("columns[0]", "unsupported_option")]),
        ({"type": "encrypted", "unique": True}, [("columns[0]", "unsupported_option")]),
        ({"type": "integer", "default": 1.5}, [("columns[0].default", "invalid_default")]),
        ({"type": "string", "max_length": 2, "default": "abc"}, [("columns[0].default", "invalid_default")]),
        ({"type": "date", "default": "tomorrow"}, [("columns[0].default", "invalid_default")]),
        ({"type": "encrypted", "default": "s3cret"}, [("columns[0].default", "invalid_default")]),
        ({"type": "encrypted", "readers": ["owner", "ghosts"]}, [("columns[0].readers", "unknown_group")]),
    ],
)
def test_column_declaration_problems(column: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors({"columns": [{"name": "c", **column}]}) == expected


@pytest.mark.parametrize(
    ("column"),
    [
        {"type": "integer", "min": 0, "max": 0, "default": 0},
        {"type": "float", "min": -1.5, "max": 1.5, "default": 1},
        {"type": "boolean", "default": False},
        {"type": "json", "default": {"a": [1]}},
        {"type": "uuid", "unique": True},
        {"type": "url", "default": "https://example.com"},
        {"type": "email", "indexed": True, "default": "a@b.co"},
        {"type": "enum", "options": ["x"], "unique": True},
    ],
)
def test_column_declarations_that_fit(column: dict[str, Any]) -> None:
    assert errors({"columns": [{"name": "c", **column}]}) == []


@pytest.mark.parametrize(
    ("relation", "expected"),
    [
        ({"name": "boss", "type": "belongs_to", "target": "nowhere"}, [("relations[0].target", "unknown_entity")]),
        ({"name": "Boss", "type": "belongs_to", "target": "customer"}, [("relations[0].name", "invalid_name")]),
        ({"name": "states", "type": "many_to_many", "target": "customer"}, [("relations[0].name", "invalid_name")]),
        ({"name": "owner", "type": "belongs_to", "target": "customer"}, [("relations[0].name", "duplicate")]),
        (
            {"name": "customer", "type": "belongs_to", "target": "customer", "required": True, "on_delete": "set_null"},
            [("relations[0].on_delete", "invalid_relation")],
        ),
        (
            {"name": "orders", "type": "has_many", "target": "order", "inverse": "buyer"},
            [("relations[0].inverse", "missing_inverse")],
        ),
        (
            {"name": "customers", "type": "has_many", "target": "customer"},
            [("relations[0].inverse", "missing_inverse")],
        ),
        (
            {"name": "orders", "type": "many_to_many", "target": "order", "on_delete": "cascade"},
            [("relations[0].on_delete", "unsupported_option")],
        ),
        (
            {"name": "orders", "type": "has_many", "target": "order", "required": True, "inverse": "customer"},
            [("relations[0].required", "unsupported_option"), ("relations[0].inverse", "missing_inverse")],
        ),
        (
            {"name": "customer", "type": "belongs_to", "target": "customer", "inverse": "orders"},
            [("relations[0].inverse", "unsupported_option")],
        ),
    ],
)
def test_relation_problems(relation: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert errors({"relations": [relation]}) == expected


def test_has_many_finds_its_inverse_on_the_target() -> None:
    definition = msgspec.convert(
        {"name": "customer", "relations": [{"name": "orders", "type": "has_many", "target": "order"}]}, EntityDef
    )
    assert definition_errors(definition, {"order": ORDER}, GROUPS) == []


def test_a_relation_and_a_column_cannot_share_a_name() -> None:
    body = {
        "columns": [{"name": "customer_id", "type": "uuid"}],
        "relations": [{"name": "customer", "type": "belongs_to", "target": "customer"}],
    }
    assert errors(body) == [("relations[0].name", "duplicate")]


def test_group_and_index_problems() -> None:
    body = {
        "columns": [{"name": "a", "type": "string"}],
        "groups": ["users", "ghosts"],
        "row_groups": ["spooks"],
        "indexes": [{"columns": []}, {"columns": ["a", "b"]}],
    }
    assert errors(body) == [
        ("indexes[0].columns", "invalid_index"),
        ("indexes[1].columns", "unknown_column"),
        ("groups", "unknown_group"),
        ("row_groups", "unknown_group"),
    ]


def test_messages_say_what_is_wrong() -> None:
    definition = msgspec.convert(
        {
            "name": "thing",
            "columns": [{"name": "c", "type": "colour"}, {"name": "n", "type": "integer", "min": 5, "max": 1}],
        },
        EntityDef,
    )
    messages = [e.message for e in definition_errors(definition, {}, GROUPS)]
    assert "unknown column type 'colour'" in messages[0] and "string" in messages[0]
    assert messages[1] == "min (5) is greater than max (1)"
