"""Writes to ``entity``, ``entity_column`` and ``entity_relation`` rows change tables.

These handlers plug the entity service into the generic records API, so the metadata
entities are created, changed and deleted through the same endpoints as any other rows,
and each write becomes a definition change: validated, planned, applied with its DDL.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from sqlalchemy import select

from stateyard.auth.permissions import Subject
from stateyard.core.db import Database
from stateyard.core.errors import FieldError, ProblemError, invalid, invalid_definition, not_found
from stateyard.crud.hooks import HandlerResult, WriteOptions
from stateyard.entities.registry import Registry
from stateyard.entities.schemas import ColumnDef, EntityDef, RelationDef
from stateyard.entities.service import ApplyResult, EntityService


def decode_definition(body: dict[str, Any], kind: type[Any], where: str = "") -> Any:
    try:
        return msgspec.convert(body, kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = where or "body"
        if " - at `$." in message:
            message, _, path = message.partition(" - at `$.")
            field = (where + "." if where else "") + path.rstrip("`")
        raise invalid_definition([FieldError(field, "invalid", message)]) from None


class _Base:
    def __init__(self, db: Database, registry: Registry, service: EntityService) -> None:
        self.db = db
        self.registry = registry
        self.service = service

    async def _row(self, entity: str, where: Any) -> dict[str, Any]:
        table = self.registry.snapshot.models[entity].table
        async with self.db.read() as conn:
            row = (await conn.execute(select(table).where(where(table)))).mappings().first()
        if row is None:
            raise not_found(f"The {entity} row is gone.")
        return dict(row)

    def _definition_by_row(self, entity_row_id: uuid.UUID) -> EntityDef:
        for model in self.registry.snapshot.models.values():
            if model.row_id == entity_row_id:
                return model.definition
        raise not_found(f"There is no entity with id '{entity_row_id}'.", entity="entity", id=str(entity_row_id))

    async def _check_version(self, entity: str, row: dict[str, Any], body: dict[str, Any]) -> None:
        """A patch's optional ``version`` must be the row's current one, as for any other row."""
        if "version" not in body:
            return
        sent = body["version"]
        if isinstance(sent, bool) or not isinstance(sent, int) or sent < 1:
            raise invalid([FieldError("version", "type", "expected the positive integer version you last read")])
        if sent != row["version"]:
            raise ProblemError(
                409,
                "stale-version",
                "Conflict",
                f"You sent version {sent} but this {entity} is at version {row['version']}; read it again and retry.",
                entity=entity,
                id=str(row["id"]),
                current_version=row["version"],
            )

    async def _apply(self, definition: EntityDef, subject: Subject, options: WriteOptions, **kw: Any) -> ApplyResult:
        return await self.service.apply(
            [definition],
            actor=subject,
            allow_destructive=options.allow_destructive,
            dry_run=options.dry_run,
            **kw,
        )


class EntityHandler(_Base):
    async def create(self, subject: Subject, body: dict[str, Any], options: WriteOptions) -> HandlerResult:
        definition = decode_definition(body, EntityDef)
        result = await self._apply(definition, subject, options, expect_new=True)
        if options.dry_run:
            return result
        return await self._row("entity", lambda t: t.c.name == definition.name)

    async def update(
        self, subject: Subject, row_id: uuid.UUID, body: dict[str, Any], options: WriteOptions
    ) -> HandlerResult:
        current = self._definition_by_row(row_id)
        await self._check_version("entity", await self._row("entity", lambda t: t.c.id == row_id), body)
        body = {k: v for k, v in body.items() if k != "version"}
        if "name" in body and body["name"] != current.name:
            raise invalid_definition(
                [
                    FieldError(
                        "name",
                        "read_only",
                        "an entity cannot be renamed; create a new one and import its rows",
                    )
                ]
            )
        merged = {**msgspec.to_builtins(current), **body}
        definition = decode_definition(merged, EntityDef)
        result = await self._apply(definition, subject, options)
        if options.dry_run:
            return result
        return await self._row("entity", lambda t: t.c.id == row_id)

    async def delete(self, subject: Subject, row_id: uuid.UUID, options: WriteOptions) -> HandlerResult | None:
        current = self._definition_by_row(row_id)
        result = await self.service.drop_entity(
            current.name, actor=subject, allow_destructive=options.allow_destructive, dry_run=options.dry_run
        )
        return result if options.dry_run else None


class _ChildHandler(_Base):
    """Columns and relations: one item of an entity's definition, kept as its own row."""

    entity: str
    field: str
    kind: type[ColumnDef] | type[RelationDef]

    def _items(self, definition: EntityDef) -> list[Any]:
        return list(getattr(definition, self.field))

    def _with(self, definition: EntityDef, items: list[Any]) -> EntityDef:
        return msgspec.structs.replace(definition, **{self.field: items})

    def _parent(self, body: dict[str, Any]) -> EntityDef:
        raw = body.get("entity_id")
        try:
            parent_id = uuid.UUID(str(raw))
        except ValueError:
            raise invalid([FieldError("entity_id", "required", "the id of the entity this belongs to")]) from None
        try:
            return self._definition_by_row(parent_id)
        except ProblemError:
            # A body field naming a missing row is invalid input (422), as for any belongs_to value.
            raise invalid([FieldError("entity_id", "not_found", f"there is no entity with id '{parent_id}'")]) from None

    async def create(self, subject: Subject, body: dict[str, Any], options: WriteOptions) -> HandlerResult:
        definition = self._parent(body)
        item = decode_definition({k: v for k, v in body.items() if k != "entity_id"}, self.kind)
        if any(existing.name == item.name for existing in self._items(definition)):
            raise ProblemError(
                409,
                "duplicate",
                "Conflict",
                f"'{definition.name}' already has a {self.entity} '{item.name}'.",
            )
        result = await self._apply(self._with(definition, [*self._items(definition), item]), subject, options)
        if options.dry_run:
            return result
        entity_id = self.registry.snapshot.models[definition.name].row_id
        return await self._row(self.entity, lambda t: (t.c.entity_id == entity_id) & (t.c.name == item.name))

    async def _locate(self, row_id: uuid.UUID) -> tuple[dict[str, Any], EntityDef, Any]:
        row = await self._row(self.entity, lambda t: t.c.id == row_id)
        definition = self._definition_by_row(row["entity_id"])
        if row["system"]:
            # Shipped columns and relations are what the platform's code relies on.
            raise ProblemError(
                409,
                "system-entity",
                "Conflict",
                f"'{definition.name}.{row['name']}' belongs to the platform and cannot be changed or removed.",
            )
        item = next(i for i in self._items(definition) if i.name == row["name"])
        return row, definition, item

    async def update(
        self, subject: Subject, row_id: uuid.UUID, body: dict[str, Any], options: WriteOptions
    ) -> HandlerResult:
        row, definition, item = await self._locate(row_id)
        await self._check_version(self.entity, row, body)
        body = {k: v for k, v in body.items() if k not in ("version", "entity_id")}
        new_name = body.pop("name", item.name)
        if new_name != item.name:
            if self.kind is not ColumnDef:
                raise invalid_definition(
                    [FieldError("name", "read_only", "a relation cannot be renamed; drop and add it")]
                )
            if body:
                raise invalid_definition([FieldError("name", "invalid", "rename a column on its own, then change it")])
            result = await self.service.rename_column(
                definition.name,
                item.name,
                new_name,
                actor=subject,
                allow_destructive=options.allow_destructive,
                dry_run=options.dry_run,
            )
            return result if options.dry_run else await self._row(self.entity, lambda t: t.c.id == row_id)
        changed = decode_definition({**msgspec.to_builtins(item), **body}, self.kind)
        items = [changed if i.name == item.name else i for i in self._items(definition)]
        result = await self._apply(self._with(definition, items), subject, options)
        return result if options.dry_run else await self._row(self.entity, lambda t: t.c.id == row_id)

    async def delete(self, subject: Subject, row_id: uuid.UUID, options: WriteOptions) -> HandlerResult | None:
        _, definition, item = await self._locate(row_id)
        items = [i for i in self._items(definition) if i.name != item.name]
        result = await self._apply(self._with(definition, items), subject, options)
        return result if options.dry_run else None


class ColumnHandler(_ChildHandler):
    entity = "entity_column"
    field = "columns"
    kind = ColumnDef


class RelationHandler(_ChildHandler):
    entity = "entity_relation"
    field = "relations"
    kind = RelationDef
