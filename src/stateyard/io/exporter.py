"""Export the rows of an entity a person may read, as CSV, XLSX, JSON or JSON Lines.

An export is planned when it is asked for (the columns, filter and sort are checked as a
list's are, so a typo is a 400 at once) and written when its link is fetched: rows stream
from one read transaction in batches, through the presenter every list uses (the same row
filter, hidden passwords and secrets, encrypted values only for their readers), into a
writer. Memory stays flat whatever the number of rows.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from stateyard.auth.access import require_table
from stateyard.auth.permissions import Subject, Verb
from stateyard.core.errors import FieldError, bad_request, invalid
from stateyard.crud.query import ListQuery
from stateyard.entities.compiler import Model
from stateyard.io.links import LinkClaims, LinkSigner, anonymous_or_system, link_subject_id
from stateyard.io.readers import Format
from stateyard.io.writers import WRITERS, TableWriter

if TYPE_CHECKING:
    from stateyard.platform import Platform

#: Rows fetched and written per step.
BATCH = 1000
#: Kinds of the row fields every entity has (declared columns take their type's name).
ROW_FIELD_KINDS = {
    "id": "uuid",
    "owner_id": "uuid",
    "version": "version",
    "created_at": "datetime",
    "updated_at": "datetime",
    "permission": "json",
}
#: Called after each batch with the rows written so far.
Progress = Callable[[int], None]


#: Row fields the presenter looks at to decide who may read an encrypted value.
_READER_FIELDS = ("id", "owner_id")


def _has_encrypted(model: Model, columns: list[str]) -> bool:
    return any(name in model.types and model.types[name].name == "encrypted" for name in columns)


class ExportSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: Format = "csv"
    #: Fields in file order (default: id, the declared columns one may read, belongs_to keys).
    columns: list[str] | None = None
    #: A condition of the platform's condition language, as for lists.
    filter: Any = None
    #: ``-total,customer`` as for lists, or a list of such names.
    sort: str | list[str] | None = None


class ExportPlan(msgspec.Struct, frozen=True):
    model: Model
    query: ListQuery
    columns: list[str]
    kinds: list[str]
    writer: type[TableWriter]


def default_columns(model: Model) -> list[str]:
    """What an import of the file into an empty copy of the entity needs to make the same rows."""
    return ["id", *model.returned_columns, *model.foreign_keys]


class ExportService:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.links = LinkSigner(platform.crypto.link_key, platform.clock, platform.settings.export_link_ttl_seconds)

    async def plan(self, subject: Subject, entity: str, spec: ExportSpec) -> ExportPlan:
        """Check the request against the entity and the caller: 403/404/400 now, not when the link is used."""
        records = self.platform.records
        _, model = await records.resolve(entity)
        require_table(subject, model, Verb.READ)
        params: dict[str, str] = {}
        if spec.filter is not None:
            params["filter"] = msgspec.json.encode(spec.filter).decode()
        if spec.sort:
            params["sort"] = spec.sort if isinstance(spec.sort, str) else ",".join(spec.sort)
        if spec.columns is not None:
            if not spec.columns:
                raise invalid([FieldError("columns", "required", "name at least one column, or leave 'columns' out")])
            duplicates = sorted({c for c in spec.columns if spec.columns.count(c) > 1})
            if duplicates:
                raise invalid([FieldError("columns", "duplicate", f"named twice: {', '.join(duplicates)}")])
            params["fields"] = ",".join(spec.columns)
        query = records.parse_query(model, params)
        columns = list(spec.columns) if spec.columns is not None else default_columns(model)
        kinds = [ROW_FIELD_KINDS.get(c) or (model.types[c].name if c in model.types else "uuid") for c in columns]
        return ExportPlan(model, query, columns, kinds, WRITERS[spec.format])

    def link(self, subject: Subject, entity: str, spec: ExportSpec) -> str:
        return f"/download/{self.links.sign(subject, entity, msgspec.to_builtins(spec))}"

    async def resolve_link(self, token: str) -> tuple[Subject, str, ExportSpec]:
        """Who asked for a link and what, with that person's permissions as they are now."""
        claims: LinkClaims = self.links.verify(token)
        user_id = link_subject_id(claims)
        if user_id is None:
            subject = anonymous_or_system(claims)
        else:
            subject = await self.platform.auth.subject_for_user(user_id)
        try:
            spec = msgspec.convert(claims.spec, ExportSpec)
        except msgspec.ValidationError:  # pragma: no cover - we signed it
            raise bad_request("This download link is damaged.") from None
        return subject, claims.entity, spec

    async def batches(self, subject: Subject, plan: ExportPlan) -> AsyncIterator[list[list[Any]]]:
        """The rows ``subject`` may read, as lists of values in the plan's column order."""
        platform = self.platform
        snapshot = platform.registry.snapshot
        model = plan.model
        table = model.table
        where = platform.records.visible_where(snapshot, subject, model, plan.query)
        # Only what the file shows, and what deciding who reads an encrypted value needs.
        readers = _READER_FIELDS if _has_encrypted(model, plan.columns) else ()
        needed = dict.fromkeys([*plan.columns, *readers])
        stmt = platform.records.ordered(select(*(table.c[name] for name in needed)).where(where), model, plan.query)
        presenter = platform.records.presenter
        keys = list(needed)
        async with platform.db.read() as conn:
            try:
                result = await conn.stream(stmt.execution_options(yield_per=BATCH))
            except DBAPIError as exc:
                # As for lists: PostgreSQL's regex dialect differs a little from Python's. Report, do not crash.
                raise bad_request(
                    f"The database could not run this filter: {exc.orig}", code="invalid-filter", parameter="filter"
                ) from None
            async for part in result.partitions(BATCH):
                yield presenter.table(snapshot, model, keys, part, subject, plan.columns)

    async def write(self, subject: Subject, plan: ExportPlan, sink: IO[bytes], progress: Progress | None = None) -> int:
        """Write the whole export into ``sink``; the number of rows written."""
        writer = plan.writer(sink, plan.columns, plan.kinds)
        count = 0
        async for rows in self.batches(subject, plan):
            writer.write(rows)
            count += len(rows)
            if progress is not None:
                progress(count)
        await asyncio.to_thread(writer.finish)  # assembling a workbook takes a while: not on the event loop
        return count

    async def stream(self, subject: Subject, plan: ExportPlan) -> AsyncIterator[bytes]:
        """The file as chunks: text formats as rows are read; XLSX once its workbook is assembled."""
        if plan.writer.extension == "xlsx":
            async for chunk in self._workbook_chunks(subject, plan):
                yield chunk
            return
        # The header goes out with the first rows: a query that fails then is still an error answer.
        buffer = _Drain()
        writer = plan.writer(buffer, plan.columns, plan.kinds)
        async for rows in self.batches(subject, plan):
            writer.write(rows)
            yield buffer.take()
        writer.finish()
        yield buffer.take()

    async def _workbook_chunks(self, subject: Subject, plan: ExportPlan) -> AsyncIterator[bytes]:
        handle, name = tempfile.mkstemp(prefix="stateyard-export-", suffix=".xlsx")
        path = Path(name)
        try:
            with os.fdopen(handle, "w+b") as file:
                await self.write(subject, plan, file)
                file.seek(0)
                while chunk := file.read(256 * 1024):
                    yield chunk
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)


class _Drain:
    """A byte sink that hands over what was written since the last call."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(data)
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data
