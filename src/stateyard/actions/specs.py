"""Declared actions in schema files: checked whole before anything is applied, then saved one by one."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select

from stateyard.actions.schemas import ActionDef
from stateyard.actions.validation import ACTION_OUTCOME, action_errors
from stateyard.auth.permissions import Subject
from stateyard.core.errors import FieldError, invalid_definition
from stateyard.entities.diff import Change
from stateyard.entities.registry import Snapshot, compile_snapshot
from stateyard.entities.schemas import EntityDef
from stateyard.entities.service import merge_system

if TYPE_CHECKING:
    from stateyard.platform import Platform

#: The columns of an ``action`` row a schema file decides.
SPEC_FIELDS = ("label", "description", "instance_required", "in_fields", "condition", "groups", "outcomes", "run_as")


def stored_form(spec: ActionDef) -> dict[str, Any]:
    """The row values of an action, as the action observer stores them (defaults left out of nested parts)."""
    compact = msgspec.to_builtins(spec)
    return {
        "name": spec.name,
        "entity": spec.entity,
        "label": spec.label,
        "description": spec.description,
        "instance_required": spec.instance_required,
        "run_as": spec.run_as,
        **{k: compact.get(k) for k in ("in_fields", "condition", "groups", "outcomes")},
    }


def _calls(spec: ActionDef) -> set[tuple[str, str]]:
    """The actions ``spec`` names in its ``action`` outcomes, where written out (no templates)."""
    found = set()
    for outcome in spec.outcomes:
        if outcome.type == ACTION_OUTCOME:
            entity, name = outcome.attributes.get("entity", spec.entity), outcome.attributes.get("name")
            if isinstance(entity, str) and isinstance(name, str):
                found.add((entity, name))
    return found


def creation_order(specs: Sequence[ActionDef], existing: Iterable[tuple[str, str]]) -> list[int] | None:
    """Indexes of ``specs`` in an order where each action is saved after the ones it calls (None: a cycle)."""
    present = set(existing)
    waiting = list(range(len(specs)))
    order: list[int] = []
    while waiting:
        pending = {(specs[i].entity, specs[i].name) for i in waiting}
        # Ready: everything it calls exists already, is itself, or is no action of the document at all.
        ready = [
            i
            for i in waiting
            if all(
                key in present or key == (specs[i].entity, specs[i].name) or key not in pending
                for key in _calls(specs[i])
            )
        ]
        if not ready:
            return None
        for i in ready:
            order.append(i)
            present.add((specs[i].entity, specs[i].name))
        waiting = [i for i in waiting if i not in ready]
    return order


class ActionSpecs:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def _existing(self) -> dict[tuple[str, str], dict[str, Any]]:
        snapshot = self.platform.registry.snapshot
        table = snapshot.models["action"].table
        async with self.platform.db.read() as conn:
            rows = (await conn.execute(select(table))).mappings().all()
        return {(r["entity"], r["name"]): dict(r) for r in rows}

    async def check_specs(
        self, specs: Sequence[ActionDef], entities: Sequence[EntityDef], groups: Iterable[str]
    ) -> None:
        """Refuse a schema document unless every action in it is valid, before any of it is applied.

        Each action is checked as saving it would, against the entities and groups as the document
        leaves them, and may call the document's other actions; problems name their action
        (``actions[1].outcomes[0].type``).
        """
        if not specs:
            return
        snapshot = self.platform.registry.snapshot
        declared = [merge_system(d) for d in entities]
        planned = compile_snapshot(0, ((d, None, None) for d in declared), {}) if declared else snapshot
        # Only the names of groups matter to the check: groups not created yet stand in with a nil id.
        names = {**{g: uuid.UUID(int=0) for g in groups}, **snapshot.groups}
        view = Snapshot(snapshot.revision, {**snapshot.models, **planned.models}, snapshot.metadata, names)
        existing = await self._existing()
        callable_actions = [*existing, *((s.entity, s.name) for s in specs)]
        errors: list[FieldError] = []
        for index, spec in enumerate(specs):
            errors += [
                msgspec.structs.replace(e, field=f"actions[{index}].{e.field}")
                for e in action_errors(spec, view, self.platform.actions, callable_actions)
            ]
        if not errors and creation_order(specs, existing) is None:
            errors.append(
                FieldError("actions", "cycle", "these actions call each other in a cycle; no order can save them")
            )
        if errors:
            raise invalid_definition(errors)

    async def apply_specs(self, specs: list[ActionDef], *, actor: Subject, dry_run: bool = False) -> list[Change]:
        """Make the declared actions exist as declared (create or update; others are left alone).

        Check them with :meth:`check_specs` first: this saves them one by one, each after the actions it calls.
        """
        existing = await self._existing()
        order = creation_order(specs, existing) or list(range(len(specs)))
        records = self.platform.records
        changes: list[Change] = []
        for index in order:
            spec = specs[index]
            body = stored_form(spec)
            current = existing.get((spec.entity, spec.name))
            label = f"{spec.entity}.{spec.name}"
            if current is None:
                changes.append(Change("create_action", spec.entity, f"create action '{label}'", spec.name))
                if not dry_run:
                    await records.create(actor, "action", body)
                continue
            differing = sorted(k for k in SPEC_FIELDS if current.get(k) != body[k])
            if differing:
                changes.append(
                    Change(
                        "update_action", spec.entity, f"change {', '.join(differing)} of action '{label}'", spec.name
                    )
                )
                if not dry_run:
                    await records.update(actor, "action", str(current["id"]), {k: body[k] for k in differing})
        return changes
