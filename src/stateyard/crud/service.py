"""The generic records service: list, get, create, update and delete rows of any entity.

Routes stay thin and call this; so do actions and imports, through the ``*_in`` methods
that work inside a transaction the caller already holds. Nothing here knows any particular
entity: behaviour specific to one (creating a table when an ``entity`` row is created)
arrives through :mod:`stateyard.crud.hooks`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Select, and_, asc, desc, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.access import missing_row, require_row, require_table, row_allows
from stateyard.auth.permissions import Subject, Verb, refusal, row_filter
from stateyard.config import Settings
from stateyard.core.crypto import Crypto
from stateyard.core.db import Database, as_dicts
from stateyard.core.db_errors import integrity_problem
from stateyard.core.errors import FieldError, ProblemError, bad_request, forbidden, invalid, not_found
from stateyard.crud.hooks import HandlerResult, Hooks, WriteContext, WriteOptions
from stateyard.crud.present import Presenter
from stateyard.crud.query import ListQuery, parse_list_query
from stateyard.crud.references import reference_problems
from stateyard.crud.relations import Includer, related_where
from stateyard.crud.store import RowStore
from stateyard.crud.validation import validate_body, validate_create
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Registry, Snapshot
from stateyard.entities.schemas import RelationDef
from stateyard.expressions import conditions

NO_OPTIONS = WriteOptions()


class Page(msgspec.Struct):
    data: list[dict[str, Any]]
    total: int
    page: int
    per_page: int


def parse_row_id(model: Model, raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise missing_row(model, raw) from None


def read_only_problem(model: Model) -> ProblemError:
    return ProblemError(
        405,
        "read-only",
        "Read-only entity",
        f"'{model.name}' rows are written by the platform only; they cannot be changed through the API.",
        entity=model.name,
    )


class RecordService:
    def __init__(
        self,
        db: Database,
        registry: Registry,
        store: RowStore,
        crypto: Crypto,
        hooks: Hooks,
        settings: Settings,
    ) -> None:
        self.db = db
        self.registry = registry
        self.store = store
        self.crypto = crypto
        self.hooks = hooks
        self.settings = settings
        self.presenter = Presenter(crypto)
        self.includer = Includer(self.presenter, settings.include_limit)

    async def resolve(self, entity: str) -> tuple[Snapshot, Model]:
        model = await self.registry.model(entity)
        return self.registry.snapshot, model

    # -- reading -------------------------------------------------------------------------

    def fields_for(self, model: Model) -> dict[str, Any]:
        """The fields conditions may name on ``model``: its columns, plus what other areas provide."""
        if not self.hooks.field_providers:
            return model.condition_fields
        fields = dict(model.condition_fields)
        for provide in self.hooks.field_providers:
            fields.update(provide(model))
        return fields

    def parse_query(self, model: Model, params: Mapping[str, str], extra: frozenset[str] = frozenset()) -> ListQuery:
        return parse_list_query(
            model,
            params,
            fields=self.fields_for(model),
            default_per_page=self.settings.default_page_size,
            max_per_page=self.settings.max_page_size,
            extra_params=extra,
        )

    async def list(self, subject: Subject, entity: str, params: Mapping[str, str]) -> Page:
        snapshot, model = await self.resolve(entity)
        require_table(subject, model, Verb.READ)
        query = self.parse_query(model, params)
        async with self.db.read() as conn:
            return await self.list_in(conn, snapshot, subject, model, query)

    async def list_in(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        query: ListQuery,
        extra_where: ColumnElement[bool] | None = None,
    ) -> Page:
        table = model.table
        where = self.visible_where(snapshot, subject, model, query, extra_where)
        stmt = self.ordered(select(table).where(where), model, query)
        stmt = stmt.limit(query.per_page).offset((query.page - 1) * query.per_page)
        try:
            rows = as_dicts(await conn.execute(stmt))
            if query.page == 1 and len(rows) < query.per_page:
                total = len(rows)
            else:
                total = int(await conn.scalar(select(func.count()).select_from(table).where(where)) or 0)
        except DBAPIError as exc:
            # PostgreSQL's regex dialect differs a little from Python's: report, do not crash.
            raise bad_request(
                f"The database could not run this filter: {exc.orig}",
                code="invalid-filter",
                parameter="filter",
            ) from None
        data = self.presenter.rows(snapshot, model, rows, subject, query.fields)
        if query.include:
            await self.includer.attach(conn, snapshot, subject, model, rows, data, query.include)
        return Page(data=data, total=total, page=query.page, per_page=query.per_page)

    def visible_where(
        self,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        query: ListQuery,
        extra_where: ColumnElement[bool] | None = None,
    ) -> ColumnElement[bool]:
        """The rows a list (or an export) shows: readable by ``subject`` and matching the filter."""
        where = row_filter(subject, model.table, model.name, Verb.READ, snapshot.share_table)
        if query.condition is not None:
            where = and_(where, conditions.to_sql(query.condition, self.fields_for(model)))
        if extra_where is not None:
            where = and_(where, extra_where)
        return where

    @staticmethod
    def ordered(stmt: Select[Any], model: Model, query: ListQuery) -> Select[Any]:
        """The query's sort, then the id, so that equal sort values still come in a stable order."""
        table = model.table
        order = [desc(table.c[f]) if d else asc(table.c[f]) for f, d in query.sort]
        order.append(asc(table.c.id))
        return stmt.order_by(*order)

    async def get(self, subject: Subject, entity: str, raw_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        snapshot, model = await self.resolve(entity)
        require_table(subject, model, Verb.READ)
        row_id = parse_row_id(model, raw_id)
        query = self.parse_query(model, {k: v for k, v in params.items() if k in ("fields", "include")})
        unknown = set(params) - {"fields", "include"}
        if unknown:
            raise bad_request(
                f"Unknown query parameter(s) for a single row: {', '.join(sorted(unknown))}",
                code="unknown-parameter",
            )
        async with self.db.read() as conn:
            row = await self.load_visible(conn, snapshot, subject, model, row_id)
            shown = self.presenter.row(snapshot, model, row, subject, query.fields)
            if query.include:
                await self.includer.attach(conn, snapshot, subject, model, [row], [shown], query.include)
        return shown

    async def load_visible(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        row_id: uuid.UUID,
        verb: Verb = Verb.READ,
        *,
        for_update: bool = False,
    ) -> dict[str, Any]:
        """The row, if ``subject`` holds ``verb`` on it; otherwise the right 404/403."""
        row = await self.store.load(conn, model, row_id, for_update=for_update)
        if row is None:
            raise missing_row(model, row_id)
        await require_row(conn, snapshot, subject, model, row, verb)
        return row

    async def present(
        self, subject: Subject, entity: str, row: Mapping[str, Any], include: Sequence[str] | None = None
    ) -> dict[str, Any]:
        snapshot, model = await self.resolve(entity)
        shown = self.presenter.row(snapshot, model, row, subject)
        if include:
            async with self.db.read() as conn:
                await self.includer.attach(conn, snapshot, subject, model, [row], [shown], include)
        return shown

    # -- writing -------------------------------------------------------------------------

    async def create(
        self, subject: Subject, entity: str, body: Any, options: WriteOptions = NO_OPTIONS
    ) -> HandlerResult:
        snapshot, model = await self.resolve(entity)
        body = _object_body(body)
        require_writable(subject, model, Verb.CREATE)
        handler = self.hooks.handlers.get(model.name)
        if handler is not None:
            return await handler.create(subject, body, options)
        try:
            async with self.db.write() as conn:
                return await self.create_in(conn, snapshot, subject, model, body)
        except IntegrityError as exc:
            raise integrity_problem(exc, model.name) from None

    async def create_in(
        self, conn: AsyncConnection, snapshot: Snapshot, subject: Subject, model: Model, body: dict[str, Any]
    ) -> dict[str, Any]:
        require_writable(subject, model, Verb.CREATE)
        checked = validate_create(model, subject, body)
        if checked.errors:
            raise invalid(checked.errors)
        await self._check_references(conn, snapshot, subject, model, checked.values)
        ctx = WriteContext(conn, snapshot, model, subject)
        for observer in self.hooks.for_entity(model.name):
            await observer.before_create(ctx, checked.values)
        owner_id = subject.user_id if checked.owner_id is msgspec.UNSET else checked.owner_id
        row = await self.store.insert(
            conn,
            snapshot,
            model,
            self.stored(model, checked.values),
            actor=subject,
            owner_id=owner_id,
            permission=checked.permission,
            row_id=checked.row_id,
        )
        for observer in self.hooks.for_entity(model.name):
            await observer.after_create(ctx, row)
        return row

    async def update(
        self, subject: Subject, entity: str, raw_id: str, body: Any, options: WriteOptions = NO_OPTIONS
    ) -> HandlerResult:
        snapshot, model = await self.resolve(entity)
        body = _object_body(body)
        require_writable(subject, model, Verb.UPDATE)
        row_id = parse_row_id(model, raw_id)
        handler = self.hooks.handlers.get(model.name)
        if handler is not None:
            return await handler.update(subject, row_id, body, options)
        try:
            async with self.db.write() as conn:
                return await self.update_in(conn, snapshot, subject, model, row_id, body)
        except IntegrityError as exc:
            raise integrity_problem(exc, model.name) from None

    async def update_in(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        row_id: uuid.UUID,
        body: dict[str, Any],
    ) -> dict[str, Any]:
        require_writable(subject, model, Verb.UPDATE)
        checked = validate_body(model, body, creating=False)
        if checked.errors:
            raise invalid(checked.errors)
        before = await self.load_visible(conn, snapshot, subject, model, row_id, Verb.UPDATE, for_update=True)
        if checked.version is not None and checked.version != before["version"]:
            raise ProblemError(
                409,
                "stale-version",
                "Conflict",
                f"You sent version {checked.version} but this {model.name} is at version {before['version']}; "
                "read it again and retry.",
                entity=model.name,
                id=str(row_id),
                current_version=before["version"],
            )
        changes = self.stored(model, checked.values)
        if checked.permission is not None:
            if not (subject.is_admin or before["owner_id"] == subject.user_id):
                raise forbidden("Only the owner or an administrator may change a row's permission.", field="permission")
            changes["permission"] = checked.permission
        if checked.owner_id is not msgspec.UNSET:
            if not subject.is_admin:
                raise forbidden("Only administrators may change a row's owner.", field="owner_id")
            changes["owner_id"] = checked.owner_id
        await self._check_references(
            conn, snapshot, subject, model, {k: v for k, v in checked.values.items() if before.get(k) != v}
        )
        ctx = WriteContext(conn, snapshot, model, subject)
        for observer in self.hooks.for_entity(model.name):
            await observer.before_update(ctx, before, changes)
        after = await self.store.update(conn, snapshot, model, before, changes, actor=subject)
        for observer in self.hooks.for_entity(model.name):
            await observer.after_update(ctx, before, after)
        return after

    async def delete(
        self, subject: Subject, entity: str, raw_id: str, options: WriteOptions = NO_OPTIONS
    ) -> HandlerResult | None:
        snapshot, model = await self.resolve(entity)
        require_writable(subject, model, Verb.DELETE)
        row_id = parse_row_id(model, raw_id)
        handler = self.hooks.handlers.get(model.name)
        if handler is not None:
            return await handler.delete(subject, row_id, options)
        try:
            async with self.db.write() as conn:
                await self.delete_in(conn, snapshot, subject, model, row_id)
        except IntegrityError as exc:
            raise integrity_problem(exc, model.name, deleting=True) from None
        return None

    async def delete_in(
        self, conn: AsyncConnection, snapshot: Snapshot, subject: Subject, model: Model, row_id: uuid.UUID
    ) -> dict[str, Any]:
        require_writable(subject, model, Verb.DELETE)
        before = await self.load_visible(conn, snapshot, subject, model, row_id, Verb.DELETE, for_update=True)
        ctx = WriteContext(conn, snapshot, model, subject)
        for observer in self.hooks.for_entity(model.name):
            await observer.before_delete(ctx, before)
        await self.store.delete(conn, snapshot, model, before, actor=subject)
        for observer in self.hooks.for_entity(model.name):
            await observer.after_delete(ctx, before)
        return before

    # -- relations -------------------------------------------------------------------------

    async def related(
        self, subject: Subject, entity: str, raw_id: str, relation: str, params: Mapping[str, str]
    ) -> Page | dict[str, Any] | None:
        """Rows linked to one row: the target of a belongs_to, or a page of a has_many/many_to_many."""
        snapshot, model = await self.resolve(entity)
        rel = _relation(model, relation)
        require_table(subject, model, Verb.READ)
        row_id = parse_row_id(model, raw_id)
        target = snapshot.model(rel.target)
        require_table(subject, target, Verb.READ)
        async with self.db.read() as conn:
            row = await self.load_visible(conn, snapshot, subject, model, row_id)
            if rel.type == "belongs_to":
                if row[rel.column] is None:
                    return None
                linked = await self.load_visible(conn, snapshot, subject, target, row[rel.column])
                return self.presenter.row(snapshot, target, linked, subject)
            query = self.parse_query(target, params)
            return await self.list_in(conn, snapshot, subject, target, query, related_where(model, rel, target, row_id))

    async def link(self, subject: Subject, entity: str, raw_id: str, relation: str, body: Any) -> None:
        """Add a many_to_many link: needs update on this row and refer on the linked one."""
        snapshot, model, rel, join = await self._many_to_many(entity, relation)
        body = _object_body(body)
        if set(body) != {"id"}:
            raise invalid([FieldError("id", "required", 'send {"id": "<id of the row to link>"}')])
        target = snapshot.model(rel.target)
        target_id = _uuid_field(body["id"], "id")
        row_id = parse_row_id(model, raw_id)
        require_table(subject, model, Verb.UPDATE)
        async with self.db.write() as conn:
            row = await self.load_visible(conn, snapshot, subject, model, row_id, Verb.UPDATE, for_update=True)
            linked = await self.store.load(conn, target, target_id)
            if linked is None or not await row_allows(conn, snapshot, subject, target, linked, Verb.PEEK):
                raise invalid([FieldError("id", "not_found", f"there is no {rel.target} with id '{target_id}'")])
            if not await row_allows(conn, snapshot, subject, target, linked, Verb.REFER):
                raise refusal(subject, Verb.REFER, "row", target.name, f"{rel.target} {target_id}")
            if await self.store.link(conn, snapshot, model, rel.name, join, row, target_id, actor=subject):
                ctx = WriteContext(conn, snapshot, model, subject)
                for observer in self.hooks.for_entity(model.name):
                    await observer.after_link(ctx, row, rel.name, target_id)

    async def unlink(self, subject: Subject, entity: str, raw_id: str, relation: str, raw_target: str) -> None:
        snapshot, model, rel, join = await self._many_to_many(entity, relation)
        target = snapshot.model(rel.target)
        row_id = parse_row_id(model, raw_id)
        target_id = parse_row_id(target, raw_target)
        require_table(subject, model, Verb.UPDATE)
        async with self.db.write() as conn:
            row = await self.load_visible(conn, snapshot, subject, model, row_id, Verb.UPDATE, for_update=True)
            if not await self.store.unlink(conn, snapshot, model, rel.name, join, row, target_id, actor=subject):
                raise missing_row(target, target_id)
            ctx = WriteContext(conn, snapshot, model, subject)
            for observer in self.hooks.for_entity(model.name):
                await observer.after_unlink(ctx, row, rel.name, target_id)

    async def _many_to_many(self, entity: str, relation: str) -> tuple[Snapshot, Model, RelationDef, Any]:
        snapshot, model = await self.resolve(entity)
        rel = _relation(model, relation)
        if rel.type != "many_to_many":
            raise ProblemError(
                405,
                "method-not-allowed",
                "Method not allowed",
                f"'{relation}' is a {rel.type} relation: set it through the row's "
                + (f"'{rel.column}' field" if rel.type == "belongs_to" else f"'{rel.target}' rows"),
            )
        return snapshot, model, rel, model.join_tables[rel.name]

    def stored(self, model: Model, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validated values in the form they are written: passwords hashed, secrets encrypted."""
        stored = dict(values)
        for key, ctype in model.stored_forms.items():
            value = stored.get(key)
            if value is not None:
                stored[key] = ctype.store(value, self.crypto)
        return stored

    async def _check_references(
        self,
        conn: AsyncConnection,
        snapshot: Snapshot,
        subject: Subject,
        model: Model,
        values: Mapping[str, Any],
    ) -> None:
        """Each belongs_to value must name a row that exists and that the subject may refer to."""
        problems = await reference_problems(conn, snapshot, subject, model, [values])
        for problem in problems:
            if problem.kind == "refer":
                raise refusal(subject, Verb.REFER, "row", problem.target, f"{problem.target} {problem.value}")
        if problems:
            raise invalid([FieldError(p.field, p.kind, p.message) for p in problems])


def _relation(model: Model, name: str) -> RelationDef:
    rel = model.relations.get(name)
    if rel is None:
        known = ", ".join(sorted(model.relations)) or "none"
        raise not_found(f"'{model.name}' has no relation '{name}' (relations: {known}).", entity=model.name)
    return rel


def _uuid_field(raw: Any, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw) if isinstance(raw, str) else uuid.UUID(str(uuid.UUID(raw)))
    except (ValueError, TypeError, AttributeError):
        raise invalid([FieldError(field, "format", f"{raw!r} is not a UUID")]) from None


def require_writable(subject: Subject, model: Model, verb: Verb) -> None:
    if model.read_only:
        raise read_only_problem(model)
    require_table(subject, model, verb)


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid-body")
    return body
