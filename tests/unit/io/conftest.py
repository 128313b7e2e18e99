"""An ``item`` entity compiled without a database, for the pure import functions."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from sqlalchemy import MetaData

from stateyard.entities.compiler import Model, compile_table
from stateyard.entities.schemas import EntityDef

ITEM: dict[str, Any] = {
    "name": "item",
    "columns": [
        {"name": "code", "type": "string", "required": True, "unique": True},
        {"name": "customer_name", "type": "string", "label": "Client"},
        {"name": "quantity", "type": "integer", "label": "Qty."},
        {"name": "meta", "type": "json"},
    ],
    "relations": [{"name": "customer", "type": "belongs_to", "target": "customer"}],
}


def compiled(definition: dict[str, Any]) -> Model:
    entity = msgspec.convert(definition, EntityDef)
    return Model(
        entity,
        compile_table(entity, MetaData()),
        row_id=None,
        owner_id=None,
        group_ids=frozenset(),
        row_group_ids=frozenset(),
        join_tables={},
    )


@pytest.fixture(scope="session")
def item_model() -> Model:
    return compiled(ITEM)
