"""Extension points that let an area add behaviour to one entity without ``crud`` knowing it.

A :class:`RowObserver` runs inside the write transaction, before and after the generic
write (check an extra rule, write a related row). A :class:`WriteHandler` takes over the
write of an entity whose rows are more than rows: creating an ``entity`` creates a table.
Permission checks on the table always run first, whoever writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.permissions import Subject

if TYPE_CHECKING:
    from stateyard.entities.compiler import Model
    from stateyard.entities.registry import Snapshot


class WriteOptions(msgspec.Struct, frozen=True):
    #: Let a change that loses data (drop, rename, retype) go ahead.
    allow_destructive: bool = False
    #: Report what would change without changing it.
    dry_run: bool = False


class WriteContext(msgspec.Struct, frozen=True):
    conn: AsyncConnection
    snapshot: Snapshot
    model: Model
    subject: Subject


class RowObserver:
    """Default no-op implementations; subclasses override what they need."""

    async def before_create(self, ctx: WriteContext, values: dict[str, Any]) -> None:
        return None

    async def after_create(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        return None

    async def before_update(self, ctx: WriteContext, before: dict[str, Any], changes: dict[str, Any]) -> None:
        return None

    async def after_update(self, ctx: WriteContext, before: dict[str, Any], after: dict[str, Any]) -> None:
        return None

    async def before_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        return None

    async def after_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        return None

    async def after_link(self, ctx: WriteContext, row: dict[str, Any], relation: str, target_id: uuid.UUID) -> None:
        """A many_to_many link from ``row`` was added."""
        return

    async def after_unlink(self, ctx: WriteContext, row: dict[str, Any], relation: str, target_id: uuid.UUID) -> None:
        return None


#: A handler returns the row as stored, or (for a dry run) a Struct describing what would change.
HandlerResult = dict[str, Any] | msgspec.Struct


class WriteHandler(Protocol):
    """Takes over create, update and delete of one entity."""

    async def create(self, subject: Subject, body: dict[str, Any], options: WriteOptions) -> HandlerResult: ...

    async def update(
        self, subject: Subject, row_id: uuid.UUID, body: dict[str, Any], options: WriteOptions
    ) -> HandlerResult: ...

    async def delete(self, subject: Subject, row_id: uuid.UUID, options: WriteOptions) -> HandlerResult | None: ...


class Reply(msgspec.Struct):
    """What a row endpoint answers: JSON by default, or text such as a diagram."""

    body: Any
    status: int = 200
    media_type: str = "application/json"


#: A per-row endpoint ``/api/<entity>/<id>/<name>``: (subject, entity, raw id, query, body) -> reply.
RowEndpoint = Callable[[Subject, str, str, dict[str, str], Any], Awaitable[Reply]]
#: Extra fields the condition language may name on an entity (``state.<machine>``, say).
FieldProvider = Callable[["Model"], dict[str, Any]]

ANY_ENTITY = "*"


class Hooks:
    def __init__(self) -> None:
        self.observers: dict[str, list[RowObserver]] = {}
        self.handlers: dict[str, WriteHandler] = {}
        self.endpoints: dict[tuple[str, str, str], RowEndpoint] = {}
        self.field_providers: list[FieldProvider] = []

    def observe(self, entity: str, observer: RowObserver) -> None:
        """Watch writes to one entity's rows, or to every entity's with ``"*"``."""
        self.observers.setdefault(entity, []).append(observer)

    def handle(self, entity: str, handler: WriteHandler) -> None:
        if entity in self.handlers:
            raise ValueError(f"entity '{entity}' already has a write handler")
        self.handlers[entity] = handler

    def endpoint(self, entity: str, name: str, method: str, handler: RowEndpoint) -> None:
        """Serve ``<method> /api/<entity>/<id>/<name>`` (``entity`` may be ``"*"``); the name must be a
        reserved relation name, so that it can never shadow a relation."""
        key = (entity, name, method.upper())
        if key in self.endpoints:
            raise ValueError(f"endpoint {key} is registered twice")
        self.endpoints[key] = handler

    def endpoint_for(self, entity: str, name: str, method: str) -> RowEndpoint | None:
        method = method.upper()
        return self.endpoints.get((entity, name, method)) or self.endpoints.get((ANY_ENTITY, name, method))

    def for_entity(self, entity: str) -> list[RowObserver]:
        specific = self.observers.get(entity, [])
        general = self.observers.get(ANY_ENTITY, [])
        return [*specific, *general] if general else specific
