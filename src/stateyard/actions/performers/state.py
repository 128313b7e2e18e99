"""``state.start`` and ``state.event``: the state machine service, with the same checks, inside the chain."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import select

from stateyard.actions.directives import Directive
from stateyard.actions.registry import ActionCall, ActionRegistry, Performer, PerformerResult
from stateyard.auth.access import missing_row, require_row, require_table
from stateyard.auth.permissions import Verb
from stateyard.core.errors import FieldError, invalid, not_found
from stateyard.machines.schemas import FireBody


class StartInput(msgspec.Struct, forbid_unknown_fields=True):
    machine: str
    #: The row to start it on (default: the action's instance).
    row_id: uuid.UUID | None = None
    entity: str | None = None


class EventInput(msgspec.Struct, forbid_unknown_fields=True):
    machine: str
    event: str
    row_id: uuid.UUID | None = None
    entity: str | None = None
    version: int | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


def _target(call: ActionCall, entity: str | None, row_id: uuid.UUID | None) -> tuple[str, uuid.UUID]:
    entity = entity or call.entity
    if row_id is None:
        if call.instance is None:
            raise invalid([FieldError("row_id", "required", "name the row, or run the action on an instance")])
        row_id = call.instance["id"]
    return entity, row_id


async def start(call: ActionCall, data: StartInput) -> PerformerResult:
    platform = call.platform
    entity, row_id = _target(call, data.entity, data.row_id)
    snapshot = call.snapshot
    model = snapshot.model(entity)
    info = platform.catalog.named(data.machine, entity)
    conn = await call.connection()
    object_state, machine = await platform.machines.start_checked(conn, snapshot, call.subject, model, row_id, info)
    value = {"id": object_state["id"], "state": object_state["state"], "machine": machine.name}
    return PerformerResult(value=value)


async def event(call: ActionCall, data: EventInput) -> PerformerResult:
    platform = call.platform
    entity, row_id = _target(call, data.entity, data.row_id)
    snapshot = call.snapshot
    model = snapshot.model(entity)
    info = platform.catalog.named(data.machine, entity)
    require_table(call.subject, model, Verb.EXECUTE)
    conn = await call.connection()
    # Whether a machine runs on a row is only told to those who may act on the row.
    row = await platform.store.load(conn, model, row_id)
    if row is None:
        raise missing_row(model, row_id)
    await require_row(conn, snapshot, call.subject, model, row, Verb.EXECUTE)
    states = snapshot.models["object_state"].table
    object_state_id = await conn.scalar(
        select(states.c.id).where(states.c.entity == entity, states.c.row_id == row_id, states.c.machine_id == info.id)
    )
    if object_state_id is None:
        raise not_found(f"'{info.name}' does not run on {entity} {row_id}; start it first.", machine=info.name)
    request = FireBody(version=data.version, payload=data.payload)
    result = await platform.machines.fire_in(conn, snapshot, call.subject, model, object_state_id, data.event, request)
    return PerformerResult(value=msgspec.to_builtins(result))


def register(registry: ActionRegistry) -> None:
    registry.performer(Performer("state.start", StartInput, start, "Start a state machine on a row."))
    registry.performer(Performer("state.event", EventInput, event, "Fire an event of a row's state machine."))


__all__ = ["Directive", "register"]
