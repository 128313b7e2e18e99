"""How a state machine is declared, and what the API answers about one."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

#: The history's name for starting a machine on a row and for migrating it to a new version.
START_EVENT = "@start"
MIGRATE_EVENT = "@migrate"


class StateDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    label: str | None = None
    description: str | None = None
    final: bool = False


class EventDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    src: list[str]
    dst: str
    label: str | None = None
    description: str | None = None
    #: A condition over the row's fields (and ``payload.<key>`` of the event's payload).
    guard: Any = None
    #: When set, only members of these groups (and administrators) may fire the event.
    groups: list[str] = msgspec.field(default_factory=list)


class MachineDef(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The part of a machine that decides behaviour; changing it makes a new definition version."""

    entity: str
    initial_state: str
    states: list[StateDef]
    events: list[EventDef]

    def state(self, name: str) -> StateDef | None:
        return next((s for s in self.states if s.name == name), None)

    def event(self, name: str) -> EventDef | None:
        return next((e for e in self.events if e.name == name), None)


class MachineSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A machine as declared in a schema file (the same fields as a ``state_machine`` row)."""

    name: str
    entity: str
    initial_state: str
    states: list[StateDef]
    events: list[EventDef]
    label: str | None = None
    description: str | None = None
    auto_start: bool = False

    def definition(self) -> MachineDef:
        return MachineDef(entity=self.entity, initial_state=self.initial_state, states=self.states, events=self.events)


class FireBody(msgspec.Struct, forbid_unknown_fields=True):
    """The optional body of ``POST /api/event/<entity>/<object_state_id>/<event>``."""

    version: int | None = None
    payload: dict[str, Any] = msgspec.field(default_factory=dict)


class EventOption(msgspec.Struct):
    """One event as seen by one caller, now: may they fire it, and if not, why."""

    name: str
    label: str | None
    dst: str
    allowed: bool
    reason: str | None = None
    message: str | None = None
    rule: dict[str, Any] | None = None


class ObjectStateView(msgspec.Struct):
    id: uuid.UUID
    entity: str
    row_id: uuid.UUID
    machine: str
    machine_version: int
    state: str
    final: bool
    version: int
    available_events: list[str]
    events: list[EventOption] | None = None


class TransitionResult(msgspec.Struct):
    object_state_id: uuid.UUID
    previous_state: str
    state: str
    event: str
    version: int
    available_events: list[str]
