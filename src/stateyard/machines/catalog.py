"""Machines known to this process: the current definitions, and one compiled machine per version.

A compiled version never changes, so it is built once (a ``transitions`` Machine with its
guards bound) and shared by every request; a request attaches a throw-away model carrying
the row's current state, asks the machine, and detaches it. The list of machines reloads
with the entity registry, whose revision every machine change bumps.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from transitions import Machine, MachineError

from stateyard.core.errors import not_found
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot
from stateyard.expressions.conditions import Condition
from stateyard.machines.schemas import MachineDef
from stateyard.machines.validation import bound_guard

logging.getLogger("transitions").setLevel(logging.WARNING)


class MachineInfo(msgspec.Struct, frozen=True):
    """A machine's current row, without its definition."""

    id: uuid.UUID
    name: str
    entity: str
    label: str | None
    definition_version: int
    auto_start: bool


class _Holder:
    """The model a request attaches to a shared machine for the length of one question."""

    state: str


class CompiledMachine:
    def __init__(self, info: MachineInfo, version: int, definition: MachineDef, model: Model) -> None:
        self.id = info.id
        self.name = info.name
        self.version = version
        self.definition = definition
        self.machine = Machine(
            model=[],
            states=[s.name for s in definition.states],
            transitions=[{"trigger": e.name, "source": list(e.src), "dest": e.dst} for e in definition.events],
            initial=definition.initial_state,
            auto_transitions=False,
            send_event=False,
        )
        self.guards: dict[str, Condition | None] = {
            e.name: bound_guard(e.guard, model, f"events[{i}].guard") for i, e in enumerate(definition.events)
        }
        self.final = {s.name for s in definition.states if s.final}
        self._order = [e.name for e in definition.events]

    def allowed_events(self, state: str) -> list[str]:
        """Events whose source includes ``state``, in declaration order (guards not considered)."""
        triggers = set(self.machine.get_triggers(state))
        return [name for name in self._order if name in triggers]

    def next_state(self, state: str, event: str) -> str | None:
        """Where ``event`` leads from ``state``, per the machine; None if it is not allowed there."""
        if event not in self.guards or state not in self.machine.states:
            return None  # transitions raises AttributeError / ValueError for names it does not know
        holder = _Holder()
        self.machine.add_model(holder, initial=state)
        try:
            holder.trigger(event)  # type: ignore[attr-defined]
        except MachineError:
            return None
        finally:
            self.machine.remove_model(holder)
        return holder.state


class MachineCatalog:
    def __init__(self) -> None:
        self._definitions: dict[str, MachineDef] = {}
        self._by_name: dict[str, MachineInfo] = {}
        self._by_entity: dict[str, list[MachineInfo]] = {}
        self._compiled: dict[tuple[uuid.UUID, int], CompiledMachine] = {}

    async def reload(self, snapshot: Snapshot, conn: AsyncConnection) -> None:
        table = snapshot.models["state_machine"].table
        rows = (await conn.execute(select(table).order_by(table.c.name))).mappings().all()
        infos = [
            MachineInfo(
                id=r["id"],
                name=r["name"],
                entity=r["entity"],
                label=r["label"],
                definition_version=r["definition_version"] or 1,
                auto_start=bool(r["auto_start"]),
            )
            for r in rows
        ]
        by_entity: dict[str, list[MachineInfo]] = {}
        for info in infos:
            by_entity.setdefault(info.entity, []).append(info)
        self._definitions = {
            r["name"]: msgspec.convert(
                {
                    "entity": r["entity"],
                    "initial_state": r["initial_state"],
                    "states": r["states"],
                    "events": r["events"],
                },
                MachineDef,
            )
            for r in rows
        }
        self._by_name = {i.name: i for i in infos}
        self._by_entity = by_entity
        # Compiled versions stay valid, but guards are bound to the entity's fields: rebuild lazily.
        self._compiled = {}

    def current_definition(self, name: str) -> MachineDef:
        """The latest definition of a machine (what new object states start with)."""
        return self._definitions[name]

    def for_entity(self, entity: str) -> list[MachineInfo]:
        return self._by_entity.get(entity, [])

    def get(self, name: str) -> MachineInfo | None:
        return self._by_name.get(name)

    def by_id(self, machine_id: uuid.UUID) -> MachineInfo | None:
        return next((i for i in self._by_name.values() if i.id == machine_id), None)

    def named(self, name: str, entity: str | None = None) -> MachineInfo:
        info = self._by_name.get(name)
        if info is None or (entity is not None and info.entity != entity):
            scope = f" for '{entity}'" if entity else ""
            known = ", ".join(i.name for i in (self.for_entity(entity) if entity else self._by_name.values()))
            raise not_found(
                f"There is no state machine named '{name}'{scope} (known: {known or 'none'}).", machine=name
            )
        return info

    async def compiled(
        self, conn: AsyncConnection, snapshot: Snapshot, info: MachineInfo, version: int
    ) -> CompiledMachine:
        key = (info.id, version)
        found = self._compiled.get(key)
        if found is not None:
            return found
        table = snapshot.models["state_machine_version"].table
        stored: Any = await conn.scalar(
            select(table.c.definition).where(table.c.machine_id == info.id, table.c.number == version)
        )
        if stored is None:
            raise not_found(f"Version {version} of state machine '{info.name}' does not exist.", machine=info.name)
        definition = msgspec.convert(stored, MachineDef)
        compiled = CompiledMachine(info, version, definition, snapshot.model(definition.entity))
        self._compiled[key] = compiled
        return compiled
