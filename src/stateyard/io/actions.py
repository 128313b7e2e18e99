"""Import and export as actions: ``/action/<entity>/import``, ``/action/<entity>/export`` and
``/action/entity/import_new`` (an entity made from a spreadsheet).

Imports commit batch by batch in transactions of their own, so like schema changes they must
come before any step of a declared action that reads or writes rows (409 ``chain-open``).
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from stateyard.actions.directives import build, notify, record
from stateyard.actions.inputs import FileValue, parse_file
from stateyard.actions.registry import ActionCall, ActionRegistry, Performer, PerformerResult
from stateyard.core.errors import FieldError, ProblemError, invalid
from stateyard.crud.hooks import WriteOptions
from stateyard.entities.types import FieldProblem
from stateyard.io.errors import SourceError
from stateyard.io.exporter import ExportSpec
from stateyard.io.importer import ImportOptions, ImportReport, source_problem
from stateyard.io.infer import Inference
from stateyard.io.readers import Format, ReadOptions, Source, detect_format, open_source
from stateyard.io.xlsx_guard import XlsxLimits

if TYPE_CHECKING:
    from collections.abc import Callable

    from stateyard.platform import Platform


class ImportInput(msgspec.Struct, forbid_unknown_fields=True):
    #: The file: an upload (multipart ``file`` part), a data URL, or ``{name, content_type, content}`` (base64).
    file: Any
    #: csv, xlsx, json or jsonl (default: from the file name, else its media type).
    format: str | None = None
    #: The entity to fill (default: the action's).
    entity: str | None = None
    mapping: dict[str, str | None] = msgspec.field(default_factory=dict)
    strict: bool = False
    on_error: Literal["abort", "skip"] = "abort"
    mode: Literal["insert", "upsert"] = "insert"
    #: Upsert key field(s): a name or a list of names.
    key: str | list[str] = msgspec.field(default_factory=list)
    dry_run: bool = False
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | int | None = None

    def options(self) -> ImportOptions:
        key = [self.key] if isinstance(self.key, str) else self.key
        return ImportOptions(
            mode=self.mode,
            key=key,
            on_error=self.on_error,
            dry_run=self.dry_run,
            strict=self.strict,
            mapping=self.mapping,
        )

    def read_options(self) -> ReadOptions:
        return ReadOptions(delimiter=self.delimiter, encoding=self.encoding, sheet=self.sheet)


class ExportInput(msgspec.Struct, forbid_unknown_fields=True):
    format: Format = "csv"
    columns: list[str] | None = None
    filter: Any = None
    sort: str | list[str] | None = None
    #: The entity to export (default: the action's).
    entity: str | None = None

    def spec(self) -> ExportSpec:
        return ExportSpec(format=self.format, columns=self.columns, filter=self.filter, sort=self.sort)


def uploaded(platform: Platform, raw: Any) -> FileValue:
    """The ``file`` input, checked against the import size limit (413 beyond it)."""
    try:
        upload = parse_file(raw)
    except FieldProblem as exc:
        raise invalid([FieldError("file", exc.code, exc.message)]) from None
    limit = platform.settings.import_max_bytes
    if upload.size > limit:
        raise ProblemError(
            413, "too-large", "File too large", f"The file is {upload.size} bytes; imports take at most {limit}."
        )
    if upload.size == 0:
        raise invalid([FieldError("file", "empty", "the file is empty")])
    return upload


def source_opener(
    platform: Platform, upload: FileValue, data: ImportInput | ImportNewInput
) -> tuple[Format, Callable[[], Source]]:
    """The file's format and a function that opens it from the start (an import reads it twice)."""
    try:
        kind = detect_format(upload.name, upload.content_type, data.format)
    except SourceError as exc:
        raise source_problem(exc) from None
    read = data.read_options()
    limits = xlsx_limits(platform)
    return kind, lambda: open_source(kind, io.BytesIO(upload.data), upload.size, read, limits)


def xlsx_limits(platform: Platform) -> XlsxLimits:
    settings = platform.settings
    return XlsxLimits(max_uncompressed_bytes=settings.xlsx_max_uncompressed_bytes, max_ratio=settings.xlsx_max_ratio)


def import_answer(report: ImportReport) -> PerformerResult:
    value = report.as_dict()
    written = report.imported + report.updated
    if report.dry_run:
        message = (
            f"Dry run: {report.imported} row(s) would be imported, {report.updated} updated, {report.failed} failed."
        )
    else:
        message = f"Imported {report.imported} row(s), updated {report.updated}, {report.failed} failed."
    kind: Literal["success", "info", "warning"] = (
        "warning" if report.failed else "success" if written or report.dry_run else "info"
    )
    return PerformerResult(value=value, directives=[record("import_result", value), notify(message, kind=kind)])


async def import_rows(call: ActionCall, data: ImportInput) -> PerformerResult:
    call.require_own_transaction("data.import")
    platform = call.platform
    upload = uploaded(platform, data.file)
    kind, opener = source_opener(platform, upload, data)
    report = await platform.imports.run(
        call.subject, data.entity or call.entity, opener, data.options(), format_name=kind
    )
    return import_answer(report)


async def export_rows(call: ActionCall, data: ExportInput) -> PerformerResult:
    platform = call.platform
    entity = data.entity or call.entity
    spec = data.spec()
    plan = await platform.exports.plan(call.subject, entity, spec)
    url = platform.exports.link(call.subject, plan.model.name, spec)
    stamp = platform.clock.now().astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    name = f"{plan.model.name}-{stamp}.{plan.writer.extension}"
    value = {"name": name, "content_type": plan.writer.media_type, "url": url}
    return PerformerResult(value=value, directives=[build("client.file.download", value)])


class ImportNewInput(msgspec.Struct, forbid_unknown_fields=True):
    #: The file, as for ``import``.
    file: Any
    #: The new entity's name.
    name: str
    label: str | None = None
    format: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | int | None = None
    #: Show the inferred definition without creating anything.
    dry_run: bool = False

    def read_options(self) -> ReadOptions:
        return ReadOptions(delimiter=self.delimiter, encoding=self.encoding, sheet=self.sheet)


#: Records inferred between two chances for other requests to run.
INFER_STEP = 1000


async def infer_columns(platform: Platform, opener: Callable[[], Source]) -> tuple[Inference, int]:
    """Look at every record once; the guesses and the number of records."""
    most = platform.settings.import_max_rows
    try:
        source = opener()
        inference = Inference(source.headers, typed=source.typed)
        for count, (_, record) in enumerate(source.records(), start=1):
            if count > most:
                raise ProblemError(
                    413,
                    "too-many-rows",
                    "Too many rows",
                    f"The file has more than {most} rows, the most one import takes.",
                )
            inference.see(record)
            if count % INFER_STEP == 0:
                await asyncio.sleep(0)  # a large file must not stall the other requests of this process
    except SourceError as exc:
        raise source_problem(exc) from None
    return inference, inference.rows


async def import_new(call: ActionCall, data: ImportNewInput) -> PerformerResult:
    """Create an entity whose columns fit the file, then import the file into it."""
    call.require_own_transaction("entity.import_new")
    platform = call.platform
    upload = uploaded(platform, data.file)
    kind, opener = source_opener(platform, upload, data)
    inference, rows = await infer_columns(platform, opener)
    columns, mapping = inference.columns()
    if not columns:
        raise invalid([FieldError("file", "no_columns", "the file names no columns to create")])
    definition: dict[str, Any] = {"name": data.name, "columns": msgspec.to_builtins(columns)}
    if data.label is not None:
        definition["label"] = data.label
    preview = {"definition": definition, "mapping": mapping, "rows": rows}
    if data.dry_run:
        plan = await platform.records.create(call.subject, "entity", definition, WriteOptions(dry_run=True))
        value = {**preview, "changes": msgspec.to_builtins(plan)}
        return PerformerResult(value=value, directives=[record("entity_import_plan", value)])
    created = await platform.records.create(call.subject, "entity", definition)
    assert isinstance(created, dict)
    try:
        report = await platform.imports.run(
            call.subject, data.name, opener, ImportOptions(mapping=mapping), format_name=kind
        )
    except ProblemError:
        # One go: a file whose rows cannot all be imported leaves no empty entity behind.
        await platform.records.delete(call.subject, "entity", str(created["id"]), WriteOptions(allow_destructive=True))
        raise
    shown = await platform.records.present(call.subject, "entity", created)
    answer = import_answer(report)
    value = {"entity": shown, "mapping": mapping, "import": answer.value}
    return PerformerResult(value=value, directives=[record("entity", shown), *answer.directives])


def register(registry: ActionRegistry) -> None:
    registry.performer(
        Performer("data.import", ImportInput, import_rows, "Import rows from a CSV, XLSX, JSON or JSON Lines file.")
    )
    registry.performer(
        Performer("data.export", ExportInput, export_rows, "Export readable rows as CSV, XLSX, JSON or JSON Lines.")
    )
    registry.performer(
        Performer("entity.import_new", ImportNewInput, import_new, "Create an entity from a file and import its rows.")
    )
    registry.expose("*", "import", "data.import", access="user", label="Import rows from a file")
    registry.expose("entity", "import_new", "entity.import_new", access="user", label="New entity from a file")
    registry.expose("*", "export", "data.export", access="user", label="Export rows to a file")
