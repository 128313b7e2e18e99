"""The registry of performers and the actions that expose them.

A performer is one module's worth of behaviour: a name, a msgspec Struct describing its
input, and one async function. An action binds a performer to ``<entity>/<name>`` with the
access it needs. Built-in actions register here at start-up; declared actions (metadata)
will register through the same interface.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec

from stateyard.actions.directives import Directive
from stateyard.auth.permissions import Subject
from stateyard.core.errors import FieldError, invalid, not_found

#: Who may call an action before any entity-level check: anyone, signed-in users, administrators.
Access = Literal["guest", "user", "admin"]


class ActionCall(msgspec.Struct, frozen=True):
    """Everything a performer receives besides its typed input."""

    subject: Subject
    entity: str
    action: str
    platform: Any


PerformerFn = Callable[[ActionCall, Any], Awaitable[list[Directive]]]


class Performer(msgspec.Struct, frozen=True):
    name: str
    input: type[msgspec.Struct]
    run: PerformerFn
    description: str = ""


class Action(msgspec.Struct, frozen=True):
    entity: str
    name: str
    performer: Performer
    access: Access = "user"
    label: str | None = None
    description: str | None = None

    def input_schema(self) -> dict[str, Any]:
        (schema,), components = msgspec.json.schema_components([self.performer.input], ref_template="#/$defs/{name}")
        return {**schema, "$defs": components} if components else schema


class ActionRegistry:
    def __init__(self) -> None:
        self.performers: dict[str, Performer] = {}
        self.actions: dict[tuple[str, str], Action] = {}

    def performer(self, performer: Performer) -> Performer:
        if performer.name in self.performers:
            raise ValueError(f"performer '{performer.name}' is registered twice")
        self.performers[performer.name] = performer
        return performer

    def expose(self, entity: str, name: str, performer: str, **options: Any) -> Action:
        action = Action(entity=entity, name=name, performer=self.performers[performer], **options)
        self.actions[(entity, name)] = action
        return action

    def get(self, entity: str, name: str) -> Action:
        action = self.actions.get((entity, name))
        if action is None:
            raise not_found(f"There is no action '{name}' on '{entity}'.", entity=entity, action=name)
        return action

    def all(self) -> list[Action]:
        return sorted(self.actions.values(), key=lambda a: (a.entity, a.name))


def decode_input(kind: type[msgspec.Struct], attributes: Any) -> Any:
    """Convert action attributes to the performer's input Struct, naming every bad field at once."""
    if not isinstance(attributes, dict):
        raise invalid([FieldError("attributes", "type", "expected an object of named inputs")])
    errors: list[FieldError] = []
    fields = {f.name: f for f in msgspec.structs.fields(kind)}
    for key in attributes:
        if key not in fields:
            errors.append(FieldError(key, "unknown", f"this action takes no input '{key}'"))
    for name, field in fields.items():
        if name not in attributes:
            if field.required:
                errors.append(FieldError(name, "required", f"'{name}' is required"))
            continue
        try:
            msgspec.convert(attributes[name], field.type)
        except msgspec.ValidationError as exc:
            errors.append(FieldError(name, "invalid", str(exc).split(" - at ")[0]))
    if errors:
        raise invalid(errors)
    return msgspec.convert(attributes, kind)
