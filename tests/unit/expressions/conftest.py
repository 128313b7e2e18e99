from __future__ import annotations

from typing import Any

import msgspec
import pytest
from sqlalchemy import MetaData

from stateyard.entities.compiler import Model, compile_table
from stateyard.entities.schemas import EntityDef
from stateyard.expressions.conditions import FieldSpec

ITEM = {
    "name": "item",
    "columns": [
        {"name": "title", "type": "string"},
        {"name": "kind", "type": "enum", "options": ["a", "b"]},
        {"name": "qty", "type": "integer"},
        {"name": "weight", "type": "float"},
        {"name": "price", "type": "decimal"},
        {"name": "active", "type": "boolean"},
        {"name": "due", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "ref", "type": "uuid"},
        {"name": "meta", "type": "json"},
        {"name": "pin", "type": "password"},
        {"name": "secret", "type": "encrypted"},
    ],
    "relations": [{"name": "parent", "type": "belongs_to", "target": "item"}],
}


@pytest.fixture(scope="session")
def fields() -> dict[str, FieldSpec]:
    """The condition fields of a real compiled entity with one column of each filterable type."""
    definition = msgspec.convert(ITEM, EntityDef)
    table = compile_table(definition, MetaData())
    model = Model(
        definition,
        table,
        row_id=None,
        owner_id=None,
        group_ids=frozenset(),
        row_group_ids=frozenset(),
        join_tables={},
    )
    return model.condition_fields  # type: ignore[no-any-return]


def rule(field: str, op: str, *value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, **({"value": value[0]} if value else {})}
