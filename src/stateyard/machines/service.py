"""Start machines on rows, fire events, explain what may happen next, migrate versions.

A transition is one transaction: lock the object state (``FOR UPDATE`` on PostgreSQL; the
single SQLite writer otherwise), check permission, group, version, state and guard, then
write the new state, its history record and its outbox records together. A refusal
changes nothing and records nothing.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.access import missing_row, require_row, require_table, row_allows, table_allows
from stateyard.auth.permissions import Subject, Verb
from stateyard.core.db import Database
from stateyard.core.errors import (
    FieldError,
    ProblemError,
    bad_request,
    forbidden,
    invalid,
    invalid_definition,
    not_found,
)
from stateyard.crud.service import RecordService
from stateyard.crud.store import NewRow, RowStore
from stateyard.entities.compiler import Model
from stateyard.entities.diff import Change
from stateyard.entities.registry import Registry, Snapshot, compile_snapshot
from stateyard.entities.schemas import EntityDef
from stateyard.entities.service import merge_system
from stateyard.expressions import conditions
from stateyard.machines.catalog import CompiledMachine, MachineCatalog, MachineInfo
from stateyard.machines.schemas import (
    MIGRATE_EVENT,
    START_EVENT,
    EventOption,
    FireBody,
    MachineSpec,
    ObjectStateView,
    TransitionResult,
)
from stateyard.machines.validation import machine_errors


def _uuid(raw: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise not_found(f"There is no {what} with id '{raw}'.") from None


def rule_dict(rule: conditions.Rule) -> dict[str, Any]:
    shown: dict[str, Any] = {"field": rule.field, "op": rule.op}
    if rule.op not in conditions.NO_VALUE_OPS:
        shown["value"] = msgspec.to_builtins(rule.value)
    return shown


def guard_record(row: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    return {**row, "payload": payload}


class MachineService:
    def __init__(
        self, db: Database, registry: Registry, store: RowStore, catalog: MachineCatalog, records: RecordService
    ) -> None:
        self.db = db
        self.registry = registry
        self.store = store
        self.catalog = catalog
        self.records = records

    # -- helpers ---------------------------------------------------------------------------

    async def _subject_row(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        row_id: uuid.UUID,
        verb: Verb,
        *,
        for_update: bool = False,
    ) -> dict[str, Any]:
        """The row the machine runs on, if the caller holds ``verb`` on it (404 if they may not see it)."""
        row = await self.store.load(conn, model, row_id, for_update=for_update)
        if row is None:
            raise missing_row(model, row_id)
        await require_row(conn, snapshot, subject, model, row, verb)
        return row

    def _group_ok(self, subject: Subject, snapshot: Snapshot, groups: list[str]) -> bool:
        if not groups or subject.is_admin:
            return True
        wanted = {snapshot.group_id(g) for g in groups} - {None}
        return bool(subject.group_ids & wanted)

    async def _record(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        row: dict[str, Any],
        object_state: dict[str, Any],
        machine: CompiledMachine,
        event: str,
        from_state: str | None,
        to_state: str,
        payload: dict[str, Any],
    ) -> None:
        """The history record and the outbox records of one change of state."""
        await self.store.insert(
            conn,
            snapshot,
            snapshot.models["state_transition"],
            {
                "object_state_id": object_state["id"],
                "entity": model.name,
                "row_id": row["id"],
                "machine": machine.name,
                "machine_version": machine.version,
                "event": event,
                "from_state": from_state,
                "to_state": to_state,
                "actor_id": subject.user_id,
                "payload": payload or None,
            },
            actor=subject,
            owner_id=row["owner_id"],
        )
        common = {
            "machine": machine.name,
            "machine_version": machine.version,
            "object_state_id": str(object_state["id"]),
            "event": event,
            "actor_id": str(subject.user_id) if subject.user_id else None,
        }
        topics: list[tuple[str, dict[str, Any]]] = []
        if from_state is not None:
            topics.append(("state.exited", {**common, "state": from_state, "to_state": to_state}))
        topics.append(("state.entered", {**common, "state": to_state, "from_state": from_state}))
        if not event.startswith("@"):
            topics.append(
                ("event.fired", {**common, "from_state": from_state, "to_state": to_state, "payload": payload})
            )
        # One statement for all of them (see insert_rows): each round trip holds SQLite's single writer.
        await self.store.insert_many(
            conn,
            snapshot,
            snapshot.models["outbox"],
            [NewRow({"topic": t, "entity": model.name, "row_id": row["id"], "payload": data}) for t, data in topics],
            actor=subject,
        )

    def _view(
        self, object_state: dict[str, Any], machine: CompiledMachine, events: list[EventOption] | None = None
    ) -> ObjectStateView:
        state = object_state["state"]
        return ObjectStateView(
            id=object_state["id"],
            entity=object_state["entity"],
            row_id=object_state["row_id"],
            machine=machine.name,
            machine_version=machine.version,
            state=state,
            final=state in machine.final,
            version=object_state["version"],
            available_events=[e.name for e in events if e.allowed]
            if events is not None
            else machine.allowed_events(state),
            events=events,
        )

    # -- start -----------------------------------------------------------------------------

    async def start(self, subject: Subject, entity: str, raw_row_id: str, body: Any) -> ObjectStateView:
        model = await self.registry.model(entity)
        snapshot = self.registry.snapshot
        require_table(subject, model, Verb.EXECUTE)
        if not isinstance(body, dict) or not isinstance(body.get("machine"), str) or set(body) != {"machine"}:
            raise invalid([FieldError("machine", "required", 'send {"machine": "<name of a state machine>"}')])
        row_id = _uuid(raw_row_id, entity)
        info = self.catalog.named(body["machine"], entity)
        async with self.db.write() as conn:
            object_state, machine = await self.start_checked(conn, snapshot, subject, model, row_id, info)
            return self._view(object_state, machine)

    async def start_checked(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        row_id: uuid.UUID,
        info: MachineInfo,
    ) -> tuple[dict[str, Any], CompiledMachine]:
        """Start ``info`` on the row inside the caller's transaction, if ``subject`` may and it is not running."""
        require_table(subject, model, Verb.EXECUTE)
        # Locking the row makes concurrent starts of one machine on it queue, so the check below sees
        # the winner's object state (PostgreSQL; SQLite has one writer) instead of a unique violation.
        row = await self._subject_row(conn, snapshot, subject, model, row_id, Verb.EXECUTE, for_update=True)
        table = snapshot.models["object_state"].table
        existing = await conn.scalar(
            select(table.c.id).where(
                table.c.entity == model.name, table.c.row_id == row_id, table.c.machine_id == info.id
            )
        )
        if existing is not None:
            raise ProblemError(
                409,
                "already-started",
                "Conflict",
                f"'{info.name}' already runs on this {model.name} (object state {existing}).",
                object_state_id=str(existing),
            )
        return await self.start_in(conn, snapshot, subject, model, row, info)

    async def start_in(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        row: dict[str, Any],
        info: MachineInfo,
    ) -> tuple[dict[str, Any], CompiledMachine]:
        """Put ``row`` in the machine's initial state (latest version), inside the caller's transaction."""
        machine = await self.catalog.compiled(conn, snapshot, info, info.definition_version)
        initial = machine.definition.initial_state
        object_state = await self.store.insert(
            conn,
            snapshot,
            snapshot.models["object_state"],
            {
                "entity": model.name,
                "row_id": row["id"],
                "machine_id": info.id,
                "machine_version": machine.version,
                "state": initial,
            },
            actor=subject,
            owner_id=row["owner_id"],
        )
        await self._record(conn, snapshot, subject, model, row, object_state, machine, START_EVENT, None, initial, {})
        return object_state, machine

    # -- fire ------------------------------------------------------------------------------

    async def fire(self, subject: Subject, entity: str, raw_id: str, event: str, body: Any) -> TransitionResult:
        model = await self.registry.model(entity)
        snapshot = self.registry.snapshot
        require_table(subject, model, Verb.EXECUTE)
        if body is None:
            body = {}
        try:
            request = msgspec.convert(body, FireBody)
        except msgspec.ValidationError as exc:
            message, _, path = str(exc).partition(" - at `$.")
            raise invalid([FieldError(path.rstrip("`") or "body", "invalid", message)]) from None
        object_state_id = _uuid(raw_id, "object state")
        async with self.db.write() as conn:
            return await self.fire_in(conn, snapshot, subject, model, object_state_id, event, request)

    async def fire_in(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        object_state_id: uuid.UUID,
        event: str,
        request: FireBody,
    ) -> TransitionResult:
        """Fire ``event`` inside the caller's transaction (an action chain's, say), with every check."""
        require_table(subject, model, Verb.EXECUTE)
        entity, raw_id = model.name, str(object_state_id)
        states = snapshot.models["object_state"]
        object_state = await self.store.load(conn, states, object_state_id, for_update=True)
        gone = not_found(f"There is no {entity} object state with id '{raw_id}'.", entity=entity)
        if object_state is None or object_state["entity"] != entity:
            raise gone
        try:
            row = await self._subject_row(conn, snapshot, subject, model, object_state["row_id"], Verb.EXECUTE)
        except ProblemError as exc:
            # Someone who may not see the row learns nothing about it, not even its id.
            raise (gone if exc.status == 404 else exc) from None
        info = self.catalog.by_id(object_state["machine_id"])
        if info is None:
            raise not_found("The state machine of this object state no longer exists.")
        machine = await self.catalog.compiled(conn, snapshot, info, object_state["machine_version"])
        declared = machine.definition.event(event)
        if declared is None:
            known = ", ".join(e.name for e in machine.definition.events)
            raise not_found(f"'{machine.name}' has no event '{event}' (events: {known}).", event=event)
        if not self._group_ok(subject, snapshot, declared.groups):
            raise forbidden(
                f"Only members of {', '.join(declared.groups)} may fire '{event}'.",
                permission="group",
                groups=declared.groups,
                event=event,
            )
        if request.version is not None and request.version != object_state["version"]:
            raise ProblemError(
                409,
                "stale-version",
                "Conflict",
                f"You sent version {request.version} but this object state is at version "
                f"{object_state['version']}; read it again and retry.",
                current_version=object_state["version"],
                current_state=object_state["state"],
            )
        current = object_state["state"]
        target = machine.next_state(current, event)
        if target is None:
            allowed = machine.allowed_events(current)
            raise ProblemError(
                409,
                "invalid-transition",
                "Invalid transition",
                f"'{event}' cannot happen in state '{current}'; allowed now: {', '.join(allowed) or 'none'}.",
                current_state=current,
                allowed_events=allowed,
                event=event,
            )
        guard = machine.guards.get(event)
        if guard is not None:
            failing = conditions.first_failing_rule(guard, guard_record(row, request.payload))
            if failing is not None or not conditions.evaluate(guard, guard_record(row, request.payload)):
                rule = rule_dict(failing) if failing is not None else None
                said = " ".join(str(rule[k]) for k in ("field", "op", "value") if k in rule) if rule else ""
                shown = f" ({said})" if said else ""
                raise ProblemError(
                    409,
                    "guard-failed",
                    "Guard failed",
                    f"The guard of '{event}' does not hold{shown}.",
                    current_state=current,
                    event=event,
                    rule=rule,
                )
        after = await self.store.update(conn, snapshot, states, object_state, {"state": target}, actor=subject)
        await self._record(
            conn, snapshot, subject, model, row, object_state, machine, event, current, target, request.payload
        )
        return TransitionResult(
            object_state_id=object_state_id,
            previous_state=current,
            state=target,
            event=event,
            version=after["version"],
            available_events=machine.allowed_events(target),
        )

    # -- explain ---------------------------------------------------------------------------

    async def describe(self, subject: Subject, entity: str, raw_row_id: str) -> list[ObjectStateView]:
        """Every machine running on a row, with each event and whether the caller may fire it now."""
        model = await self.registry.model(entity)
        snapshot = self.registry.snapshot
        require_table(subject, model, Verb.READ)
        row_id = _uuid(raw_row_id, entity)
        states = snapshot.models["object_state"].table
        async with self.db.read() as conn:
            row = await self._subject_row(conn, snapshot, subject, model, row_id, Verb.READ)
            may_execute = table_allows(subject, model, Verb.EXECUTE) and await row_allows(
                conn, snapshot, subject, model, row, Verb.EXECUTE
            )
            found = (
                (
                    await conn.execute(
                        select(states)
                        .where(states.c.entity == entity, states.c.row_id == row_id)
                        .order_by(states.c.created_at)
                    )
                )
                .mappings()
                .all()
            )
            views = []
            for object_state in found:
                info = self.catalog.by_id(object_state["machine_id"])
                if info is None:
                    continue
                machine = await self.catalog.compiled(conn, snapshot, info, object_state["machine_version"])
                options = [
                    self._option(subject, snapshot, machine, dict(object_state), row, name, may_execute)
                    for name in (e.name for e in machine.definition.events)
                ]
                views.append(self._view(dict(object_state), machine, options))
        return views

    def _option(
        self,
        subject: Subject,
        snapshot: Snapshot,
        machine: CompiledMachine,
        object_state: dict[str, Any],
        row: dict[str, Any],
        name: str,
        may_execute: bool,
    ) -> EventOption:
        declared = machine.definition.event(name)
        assert declared is not None
        option = functools.partial(EventOption, name=name, label=declared.label, dst=declared.dst)
        state = object_state["state"]
        if name not in machine.allowed_events(state):
            sources = ", ".join(declared.src)
            return option(
                allowed=False,
                reason="wrong_state",
                message=f"'{name}' applies in {sources}; the state is '{state}'.",
            )
        if not may_execute:
            return option(allowed=False, reason="permission", message="You lack the 'execute' permission on this row.")
        if not self._group_ok(subject, snapshot, declared.groups):
            return option(
                allowed=False,
                reason="group",
                message=f"Only members of {', '.join(declared.groups)} may fire it.",
            )
        guard = machine.guards.get(name)
        if guard is not None and not conditions.evaluate(guard, guard_record(row, {})):
            failing = conditions.first_failing_rule(guard, guard_record(row, {}))
            return option(
                allowed=False,
                reason="guard",
                message="The guard does not hold for this row (an event payload may change that).",
                rule=rule_dict(failing) if failing is not None else None,
            )
        return option(allowed=True)

    async def history(self, subject: Subject, entity: str, raw_row_id: str) -> list[dict[str, Any]]:
        model = await self.registry.model(entity)
        snapshot = self.registry.snapshot
        require_table(subject, model, Verb.READ)
        row_id = _uuid(raw_row_id, entity)
        table = snapshot.models["state_transition"].table
        async with self.db.read() as conn:
            await self._subject_row(conn, snapshot, subject, model, row_id, Verb.READ)
            rows = (
                (
                    await conn.execute(
                        select(table)
                        .where(table.c.entity == entity, table.c.row_id == row_id)
                        .order_by(table.c.created_at, table.c.id)
                    )
                )
                .mappings()
                .all()
            )
        keep = (
            "id",
            "object_state_id",
            "machine",
            "machine_version",
            "event",
            "from_state",
            "to_state",
            "actor_id",
            "payload",
            "created_at",
        )
        return [{k: r[k] for k in keep} for r in rows]

    async def forget_row(self, conn: AsyncConnection, snapshot: Snapshot, entity: str, row_id: uuid.UUID) -> None:
        """A deleted row leaves no running machine behind (its history stays)."""
        table = snapshot.models["object_state"].table
        await conn.execute(delete(table).where(table.c.entity == entity, table.c.row_id == row_id))

    # -- schema files ------------------------------------------------------------------------

    def check_specs(self, specs: Sequence[MachineSpec], entities: Sequence[EntityDef], groups: Iterable[str]) -> None:
        """Refuse a schema document unless every machine in it is valid, before any of it is applied.

        Each machine is checked as saving it would, against its entity as the document declares it
        (new or changed) or, when the document leaves the entity out, as it is now. One bad machine
        thus leaves the document's entities, groups and other machines unapplied too, and each
        problem names its machine (``state_machines[1].events[0].dst``).
        """
        if not specs:
            return
        snapshot = self.registry.snapshot
        wanted = {s.entity for s in specs}
        declared = [merge_system(d) for d in entities if d.name in wanted]
        planned = compile_snapshot(0, ((d, None, None) for d in declared), {}) if declared else snapshot
        group_names = set(snapshot.groups) | set(groups)
        errors: list[FieldError] = []
        for index, spec in enumerate(specs):
            model = planned.get(spec.entity) or snapshot.get(spec.entity)
            errors += [
                msgspec.structs.replace(e, field=f"state_machines[{index}].{e.field}")
                for e in machine_errors(spec.definition(), model, group_names)
            ]
        if errors:
            raise invalid_definition(errors)

    async def apply_specs(self, specs: list[MachineSpec], *, actor: Subject, dry_run: bool = False) -> list[Change]:
        """Make the declared machines exist as declared (create or update; others are left alone).

        Check them with :meth:`check_specs` first: this saves them one by one.
        """
        snapshot = self.registry.snapshot
        table = snapshot.models["state_machine"].table
        changes: list[Change] = []
        for spec in specs:
            definition = spec.definition()
            body = {**msgspec.to_builtins(definition), "name": spec.name, "label": spec.label}
            body.update(description=spec.description, auto_start=spec.auto_start)
            async with self.db.read() as conn:
                current = (await conn.execute(select(table).where(table.c.name == spec.name))).mappings().first()
            if current is None:
                changes.append(Change("create_machine", spec.entity, f"create state machine '{spec.name}'", spec.name))
                if not dry_run:
                    await self.records.create(actor, "state_machine", body)
                continue
            differing = sorted(k for k, v in body.items() if current[k] != v)
            if differing:
                detail = f"change {', '.join(differing)} of state machine '{spec.name}'"
                changes.append(Change("update_machine", spec.entity, detail, spec.name))
                if not dry_run:
                    await self.records.update(actor, "state_machine", str(current["id"]), body)
        return changes

    # -- counts and migration --------------------------------------------------------------

    async def counts(
        self, conn: AsyncConnection, snapshot: Snapshot, subject: Subject, info: MachineInfo
    ) -> dict[str, int]:
        """Rows per state, counting only rows the caller may read."""
        from stateyard.auth.permissions import row_filter

        model = snapshot.model(info.entity)
        states = snapshot.models["object_state"].table
        visible = row_filter(subject, model.table, model.name, Verb.READ, snapshot.share_table)
        stmt = (
            select(states.c.state, func.count())
            .select_from(
                states.join(model.table, and_(model.table.c.id == states.c.row_id, states.c.entity == model.name))
            )
            .where(states.c.machine_id == info.id, visible)
            .group_by(states.c.state)
        )
        return {state: int(count) for state, count in (await conn.execute(stmt)).all()}

    async def migrate(
        self, subject: Subject, name: str, mapping: dict[str, str], to_version: int | None, from_version: int | None
    ) -> dict[str, Any]:
        """Move object states of older versions to ``to_version`` (default: the latest), mapping states."""
        async with self.db.write() as conn:
            return await self.migrate_in(conn, subject, name, mapping, to_version, from_version)

    async def migrate_in(
        self,
        conn: AsyncConnection,
        subject: Subject,
        name: str,
        mapping: dict[str, str],
        to_version: int | None,
        from_version: int | None,
    ) -> dict[str, Any]:
        """:meth:`migrate` inside the caller's transaction (an action chain's)."""
        info = self.catalog.named(name)
        snapshot = self.registry.snapshot
        target_version = info.definition_version if to_version is None else to_version
        table = snapshot.models["object_state"].table
        model = snapshot.model(info.entity)
        target = await self.catalog.compiled(conn, snapshot, info, target_version)
        stmt = select(table).where(table.c.machine_id == info.id, table.c.machine_version != target_version)
        if from_version is not None:
            stmt = stmt.where(table.c.machine_version == from_version)
        moving = [
            dict(r)
            for r in (
                await conn.execute(stmt.with_for_update() if conn.dialect.name == "postgresql" else stmt)
            ).mappings()
        ]
        unknown_targets = sorted({v for v in mapping.values() if target.definition.state(v) is None})
        unmapped = sorted(
            {r["state"] for r in moving if target.definition.state(mapping.get(r["state"], r["state"])) is None}
        )
        if unknown_targets or unmapped:
            errors = [
                FieldError("mapping", "unknown_state", f"'{s}' is not a state of version {target_version}")
                for s in unknown_targets
            ]
            errors += [
                FieldError(
                    "mapping",
                    "unmapped_state",
                    f"rows in '{s}' need a mapping: version {target_version} has no such state",
                )
                for s in unmapped
            ]
            raise bad_request(
                f"{len(errors)} state(s) cannot be migrated to version {target_version}; nothing was changed.",
                code="invalid-migration",
                errors=errors,
            )
        moved = 0
        for object_state in moving:
            new_state = mapping.get(object_state["state"], object_state["state"])
            await self.store.update(
                conn,
                snapshot,
                snapshot.models["object_state"],
                object_state,
                {"state": new_state, "machine_version": target_version},
                actor=subject,
            )
            row = await self.store.load(conn, model, object_state["row_id"])
            if row is not None:
                await self._record(
                    conn,
                    snapshot,
                    subject,
                    model,
                    row,
                    object_state,
                    target,
                    MIGRATE_EVENT,
                    object_state["state"],
                    new_state,
                    {"from_version": object_state["machine_version"]},
                )
            moved += 1
        return {"machine": name, "to_version": target_version, "migrated": moved}
