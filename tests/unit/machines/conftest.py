"""A compiled ``order`` entity and the issue's order machine, as plain values (no database)."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from sqlalchemy import MetaData

from stateyard.entities.compiler import Model, compile_table
from stateyard.entities.schemas import EntityDef
from stateyard.machines.catalog import CompiledMachine, MachineInfo
from stateyard.machines.schemas import MachineDef

ORDER = {
    "name": "order",
    "columns": [
        {"name": "customer", "type": "string", "required": True},
        {"name": "total", "type": "float"},
        {"name": "notes", "type": "json"},
    ],
}

ORDER_FLOW: dict[str, Any] = {
    "entity": "order",
    "initial_state": "pending",
    "states": [
        {"name": "pending"},
        {"name": "confirmed", "label": "Confirmed: ready"},
        {"name": "shipped", "final": True},
        {"name": "cancelled", "final": True},
    ],
    "events": [
        {
            "name": "confirm",
            "src": ["pending"],
            "dst": "confirmed",
            "guard": {"field": "total", "op": "gt", "value": 0},
            "groups": ["sales"],
        },
        {"name": "ship", "src": ["confirmed"], "dst": "shipped"},
        {"name": "cancel", "src": ["pending", "confirmed"], "dst": "cancelled"},
    ],
}


def definition(**changes: Any) -> MachineDef:
    return msgspec.convert({**copy.deepcopy(ORDER_FLOW), **changes}, MachineDef)


@pytest.fixture(scope="session")
def order_model() -> Model:
    entity = msgspec.convert(ORDER, EntityDef)
    return Model(
        entity,
        compile_table(entity, MetaData()),
        row_id=None,
        owner_id=None,
        group_ids=frozenset(),
        row_group_ids=frozenset(),
        join_tables={},
    )


def compiled(model: Model, machine: MachineDef, version: int = 1) -> CompiledMachine:
    import uuid

    info = MachineInfo(uuid.uuid4(), "order_flow", "order", None, version, auto_start=False)
    return CompiledMachine(info, version, machine, model)
