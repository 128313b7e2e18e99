"""Import a data file into an entity: every row checked like a create, written in batches.

An import works in two passes. The first reads the file once and checks every record (as a
create or, for an upsert that finds its row, a patch would be checked), keeping the rows that
pass in a spool on disk; so a file that cannot be read to its end, holds more rows than
allowed or (with ``on_error: abort``, the default) has any bad row changes nothing, and a dry
run stops there. The second pass writes the spooled batches, each in its own write
transaction after checking again what the database may have changed meanwhile: rows, shares,
audit records (one per row, as for any create) and auto-started state machines, then commits.
Committing batch by batch keeps memory flat and never holds SQLite's one writer for long; a
process killed while writing leaves whole committed batches, which a run with ``mode: upsert``
on a key completes. Batches commit in file order, so what is committed is always a prefix of
the file (on PostgreSQL the next batch is written while the one before commits, see
:meth:`ImportService._write_spool`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import msgspec
from sqlalchemy.exc import DBAPIError, IntegrityError

from stateyard.auth.access import require_table
from stateyard.auth.permissions import Subject, Verb
from stateyard.core.db_errors import integrity_problem
from stateyard.core.errors import FieldError, ProblemError, bad_request, invalid
from stateyard.core.ids import new_ids
from stateyard.crud.hooks import RowObserver, WriteContext
from stateyard.crud.service import require_writable
from stateyard.crud.store import NewRow
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot
from stateyard.entities.service import hold_definitions
from stateyard.io.batches import BatchChecker, BatchResult, Checked, Converter, RowError
from stateyard.io.errors import RecordError, SourceError
from stateyard.io.mapping import HeaderMap, IgnoredHeader, importable_fields
from stateyard.io.readers import Source
from stateyard.io.spool import Spool

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from stateyard.platform import Platform

Phase = Literal["checking", "writing"]
#: Called after each batch with the phase, the report so far and (done, total) of the file.
Progress = Callable[[Phase, "ImportReport", tuple[int, int]], None]
#: Column types whose stored form cannot be looked up by value.
UNKEYABLE = frozenset({"password", "encrypted", "secret", "json"})


class ImportOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    mode: Literal["insert", "upsert"] = "insert"
    #: The fields that find an upsert's stored row.
    key: list[str] = msgspec.field(default_factory=list)
    on_error: Literal["abort", "skip"] = "abort"
    dry_run: bool = False
    #: Refuse the file if a header matches no field (otherwise it is reported).
    strict: bool = False
    mapping: dict[str, str | None] = msgspec.field(default_factory=dict)


class ImportReport(msgspec.Struct):
    entity: str
    format: str
    mode: str
    on_error: str
    dry_run: bool
    #: Records read from the file (blank lines not counted).
    rows: int = 0
    #: Rows inserted (or, in a dry run, that would be).
    imported: int = 0
    #: Stored rows an upsert changed, and stored rows it found already equal.
    updated: int = 0
    unchanged: int = 0
    #: Rows with at least one error: never written.
    failed: int = 0
    #: Good rows not written: with ``on_error: abort`` when another row failed, or after an interruption.
    skipped: int = 0
    errors: list[RowError] = msgspec.field(default_factory=list)
    #: True when more errors were found than the answer lists (``failed`` counts them all).
    errors_truncated: bool = False
    unknown_headers: list[str] = msgspec.field(default_factory=list)
    ignored_headers: list[IgnoredHeader] = msgspec.field(default_factory=list)
    #: Write transactions committed.
    batches: int = 0

    def add_errors(self, errors: Sequence[RowError], limit: int) -> None:
        errors = sorted(errors, key=lambda e: e.row)
        self.failed += len({e.row for e in errors})
        room = max(limit - len(self.errors), 0)
        self.errors.extend(errors[:room])
        self.errors_truncated = self.errors_truncated or len(errors) > room

    def as_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


class _Run(msgspec.Struct):
    """One import: what every batch of it needs."""

    snapshot: Snapshot
    model: Model
    subject: Subject
    options: ImportOptions
    report: ImportReport
    headers: HeaderMap
    checker: BatchChecker
    #: The definitions' revision last found to define the entity as when the file was checked.
    revision: int


class _Interrupted(Exception):
    """A batch could not be written; with ``on_error: abort`` the import stops there."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ImportService:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.settings = platform.settings

    async def run(
        self,
        subject: Subject,
        entity: str,
        open_source: Callable[[], Source],
        options: ImportOptions,
        *,
        format_name: str,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import the file ``open_source`` opens into ``entity``."""
        snapshot, model = await self.platform.records.resolve(entity)
        self._check_access(subject, model, options)
        _check_options(model, options)
        report = ImportReport(model.name, format_name, options.mode, options.on_error, options.dry_run)
        try:
            source = open_source()
        except SourceError as exc:
            raise source_problem(exc) from None
        headers = HeaderMap(model, options.mapping, strict=options.strict)
        if source.headers is not None:
            headers.plan(source.headers)
        converter = Converter(model, headers, typed=source.typed)
        checker = BatchChecker(snapshot, model, subject, converter, key=options.key, compare=self._same_value(model))
        run = _Run(snapshot, model, subject, options, report, headers, checker, snapshot.revision)
        spool = Spool(model)
        try:
            await self._check_file(run, source, spool, progress)
            if options.dry_run:
                return _finish(run)
            if report.failed and options.on_error == "abort":
                raise _refused(_finish(run))
            report.imported = report.updated = report.unchanged = 0
            await self._write_spool(run, spool, progress)
        finally:
            spool.close()
        return _finish(run)

    def _check_access(self, subject: Subject, model: Model, options: ImportOptions) -> None:
        require_writable(subject, model, Verb.CREATE)
        if options.mode == "upsert":
            require_table(subject, model, Verb.UPDATE)
        if model.name in self.platform.hooks.handlers:
            raise bad_request(
                f"'{model.name}' rows are definitions the platform applies one by one; they cannot be imported.",
                code="system-entity",
                entity=model.name,
            )

    def _same_value(self, model: Model) -> Callable[[str, Any, Any], bool]:
        """Whether a stored value equals a checked one (hashed and encrypted values compared in clear)."""
        crypto = self.platform.crypto

        def same(name: str, stored: Any, value: Any) -> bool:
            kind = model.types[name].name if name in model.types else None
            if stored is None or value is None:
                return stored is value
            if kind == "password":
                return crypto.verify_password(stored, value)
            if kind in ("encrypted", "secret"):
                return bool(crypto.decrypt(stored) == value)
            return bool(stored == value)

        return same

    # -- pass 1: read and check every record -------------------------------------------------------------

    async def _check_file(self, run: _Run, source: Source, spool: Spool, progress: Progress | None) -> None:
        size = self.settings.import_batch_size
        most = self.settings.import_max_rows
        batch: list[tuple[int, dict[str, Any] | RecordError]] = []
        try:
            for row, record in source.records():
                run.report.rows += 1
                if run.report.rows > most:
                    raise ProblemError(
                        413,
                        "too-many-rows",
                        "Too many rows",
                        f"The file has more than {most} rows, the most one import takes; split it.",
                        max_rows=most,
                    )
                batch.append((row, record))
                if len(batch) >= size:
                    await self._check_batch(run, batch, spool)
                    batch = []
                    if progress is not None:
                        progress("checking", run.report, source.progress())
            if batch:
                await self._check_batch(run, batch, spool)
        except SourceError as exc:
            raise source_problem(exc) from None
        if progress is not None:
            progress("checking", run.report, source.progress())

    async def _check_batch(
        self, run: _Run, batch: list[tuple[int, dict[str, Any] | RecordError]], spool: Spool
    ) -> None:
        async with self.platform.db.read() as conn:
            await _custom_plans(conn)
            result = await run.checker.check(conn, batch)
            await self._screen(conn, run, result)
        self._count(run, result)
        if result.checked:
            spool.add(result.checked)

    async def _screen(self, conn: AsyncConnection, run: _Run, result: BatchResult) -> None:
        """Let the entity's observers refuse rows now, as they would refuse a create or patch of each
        (a share of a row one may not update), so that a file they refuse is refused whole and not
        halfway through writing. They see copies: what they add to a row is added when it is written."""
        observers = [o for o in self.platform.hooks.for_entity(run.model.name) if _vets_writes(o)]
        if not observers or not result.checked:
            return
        ctx = WriteContext(conn, run.snapshot, run.model, run.subject)
        kept: list[Checked] = []
        for item in result.checked:
            try:
                for observer in observers:
                    if item.before is None:
                        await observer.before_create(ctx, dict(item.values))
                    elif item.changes:
                        changes = self.platform.records.stored(run.model, item.changes)
                        await observer.before_update(ctx, dict(item.before), changes)
            except ProblemError as exc:
                result.errors.extend(_problem_errors(item.row, exc))
                continue
            kept.append(item)
        result.checked = kept

    # -- pass 2: write batch by batch ---------------------------------------------------------------------

    async def _write_spool(self, run: _Run, spool: Spool, progress: Progress | None) -> None:
        """Write the spooled batches in file order, each committed only once the one before has.

        On a server database the next batch is already written (in a transaction of its own)
        while the one before waits on the server, so that its rows are converted and sent
        while the server stores the others (measured: writing 100,000 rows takes a third less time); its
        commit still waits for that batch, so what is committed is always a prefix of the file.
        The two cannot wait for each other's row locks: the file check has made sure no two rows
        share a unique value or a key, and all else a batch writes is rows of its own (audit
        records, shares, machine states). SQLite has one writer: there, one batch at a time.
        """
        depth = 1 if self.platform.db.is_sqlite else 2
        pending: deque[tuple[asyncio.Task[None], int]] = deque()
        done = 0

        async def settle_oldest() -> None:
            nonlocal done
            task, size = pending.popleft()
            await task
            done += size
            if progress is not None:
                progress("writing", run.report, (done, run.report.rows - run.report.failed))

        try:
            for items in spool:
                _draw_ids(items)
                before = pending[-1][0] if pending else None
                pending.append((asyncio.create_task(self._write_batch(run, items, before)), len(items)))
                if len(pending) >= depth:
                    await settle_oldest()
            while pending:
                await settle_oldest()
        except _Interrupted as exc:
            raise _interrupted(_finish(run), exc) from None
        finally:
            for task, _ in pending:
                task.cancel()
            await asyncio.gather(*(task for task, _ in pending), return_exceptions=True)

    async def _write_batch(self, run: _Run, items: list[Checked], before: asyncio.Task[None] | None) -> None:
        """Write one batch; its commit waits for ``before`` (the batch before it) and is rolled back if that failed."""
        try:
            async with self.platform.db.write() as conn:
                await _custom_plans(conn)
                await self._same_definition(conn, run)
                result = await run.checker.recheck(conn, items)
                if result.errors and run.options.on_error == "abort":
                    first = result.errors[0]
                    raise _Interrupted(f"row {first.row}: {first.message}")
                await self._write(conn, run, result.checked)
                if before is not None:
                    await _after(before)
        except (IntegrityError, DBAPIError, ProblemError) as exc:
            if before is not None:
                await _after(before)
            if run.options.on_error == "abort":
                raise _Interrupted(await self._culprit(run, items) or _reason(run.model, exc)) from None
            result = await self._write_one_by_one(run, items)
        self._count(run, result)
        run.report.batches += 1

    async def _same_definition(self, conn: AsyncConnection, run: _Run) -> None:
        """Refuse to write if the entity's definition changed since the file was checked (its rows were
        checked, and are encoded, for columns it may no longer have); hold it unchanged until commit."""
        revision = await hold_definitions(conn)
        if revision == run.revision:
            return
        current = (await self.platform.registry.refresh()).get(run.model.name)
        if current is None or current.definition != run.model.definition:
            raise _Interrupted(f"the definition of '{run.model.name}' changed while the file was imported")
        run.revision = revision

    async def _culprit(self, run: _Run, items: list[Checked]) -> str | None:
        """After the database refused a batch: the first row a thorough check now refuses, as a reason."""
        async with self.platform.db.read() as conn:
            await _custom_plans(conn)
            result = await run.checker.recheck(conn, items, thorough=True)
        if not result.errors:
            return None
        first = min(result.errors, key=lambda e: e.row)
        return f"row {first.row}: {first.message}"

    async def _write_one_by_one(self, run: _Run, items: list[Checked]) -> BatchResult:
        """After a batch failed as a whole: each row in a savepoint of its own, to keep all but the bad ones."""
        async with self.platform.db.write() as conn:
            await _custom_plans(conn)
            await self._same_definition(conn, run)
            result = await run.checker.recheck(conn, items, thorough=True)
            kept: list[Checked] = []
            for item in result.checked:
                try:
                    async with conn.begin_nested():
                        await self._write(conn, run, [item])
                except (IntegrityError, DBAPIError, ProblemError) as exc:
                    result.errors.append(RowError(item.row, None, "not_written", _reason(run.model, exc)))
                    continue
                kept.append(item)
            result.checked = kept
        return result

    async def _write(self, conn: AsyncConnection, run: _Run, items: Sequence[Checked]) -> None:
        """Write checked rows as a create or a patch of each would: observers, store, audit."""
        platform = self.platform
        snapshot, model, subject = run.snapshot, run.model, run.subject
        ctx = WriteContext(conn, snapshot, model, subject)
        observers = platform.hooks.for_entity(model.name)
        inserts = [item for item in items if item.before is None]
        for item in inserts:
            for observer in observers:
                await observer.before_create(ctx, item.values)
        rows = await platform.store.insert_many(
            conn,
            snapshot,
            model,
            [
                NewRow(
                    platform.records.stored(model, item.values),
                    owner_id=subject.user_id if item.validated.owner_id is msgspec.UNSET else item.validated.owner_id,
                    permission=item.validated.permission,
                    row_id=item.validated.row_id,
                )
                for item in inserts
            ],
            actor=subject,
        )
        for row in rows:
            for observer in observers:
                await observer.after_create(ctx, row)
        for item in items:
            if item.before is None or not item.changes:
                continue
            changes = platform.records.stored(model, item.changes)
            for observer in observers:
                await observer.before_update(ctx, item.before, changes)
            after = await platform.store.update(conn, snapshot, model, item.before, changes, actor=subject)
            for observer in observers:
                await observer.after_update(ctx, item.before, after)

    def _count(self, run: _Run, result: BatchResult) -> None:
        report = run.report
        report.add_errors(result.errors, self.settings.import_max_errors)
        for item in result.checked:
            if item.before is None:
                report.imported += 1
            elif item.changes:
                report.updated += 1
            else:
                report.unchanged += 1


def _draw_ids(items: list[Checked]) -> None:
    """Ids for the rows to insert, drawn batch after batch: rows get ids in file order (so lists sorted
    by id show them as the file did) even where batches are written side by side."""
    new = [item for item in items if item.before is None and item.validated.row_id is None]
    for item, row_id in zip(new, new_ids(len(new)), strict=True):
        item.validated.row_id = row_id


async def _after(before: asyncio.Task[None]) -> None:
    """Wait for the batch before to have committed; if it did not, neither may this one."""
    try:
        await asyncio.shield(before)
    except _Interrupted:
        raise _Interrupted("the batch before was not written") from None


async def _custom_plans(conn: AsyncConnection) -> None:
    """Plan each lookup for the values it is given (PostgreSQL).

    An import runs the same lookups (unique values, keys) batch after batch on a table that grows
    as it goes. PostgreSQL would soon reuse a generic plan made while the table was still empty (a
    sequential scan) for every later batch, making the import quadratic.
    """
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


def _check_options(model: Model, options: ImportOptions) -> None:
    errors = []
    fields = importable_fields(model)
    if options.mode == "upsert" and not options.key:
        errors.append(FieldError("key", "required", "an upsert needs the key fields that find a stored row"))
    if options.mode == "insert" and options.key:
        errors.append(FieldError("key", "unsupported_option", "a key is only used by mode 'upsert'"))
    for name in options.key:
        if name not in fields or name in ("owner_id", "permission"):
            errors.append(FieldError("key", "unknown", f"'{model.name}' has no field '{name}' to find rows by"))
        elif name in model.types and model.types[name].name in UNKEYABLE:
            errors.append(FieldError("key", "unsupported", f"a {model.types[name].name} column cannot find rows"))
    if len(set(options.key)) != len(options.key):
        errors.append(FieldError("key", "duplicate", "name each key field once"))
    if errors:
        raise invalid(errors)


def _vets_writes(observer: RowObserver) -> bool:
    """Whether an observer may refuse a create or an update (not every observer looks before writing)."""
    kind = type(observer)
    return kind.before_create is not RowObserver.before_create or kind.before_update is not RowObserver.before_update


def _problem_errors(row: int, exc: ProblemError) -> list[RowError]:
    """An observer's refusal of one row, as that row's errors."""
    if exc.errors:
        return [RowError(row, e.field, e.code, e.message, e.field) for e in exc.errors]
    field = exc.extensions.get("field")
    column = field if isinstance(field, str) else None
    return [RowError(row, column, exc.code.replace("-", "_"), exc.detail, column or "row")]


def _finish(run: _Run) -> ImportReport:
    report = run.report
    report.unknown_headers = list(run.headers.unknown)
    report.ignored_headers = list(run.headers.ignored)
    return report


def _refused(report: ImportReport) -> ProblemError:
    """The answer to a file with bad rows under ``on_error: abort``: every error, nothing written."""
    report.skipped = report.rows - report.failed
    report.imported = report.updated = report.unchanged = 0
    return _report_problem(
        422,
        "import-invalid",
        "Invalid rows",
        f"{report.failed} of {report.rows} row(s) have errors; nothing was imported. Fix them, or import "
        "with on_error 'skip' to write only the good rows.",
        report,
    )


def _interrupted(report: ImportReport, exc: _Interrupted) -> ProblemError:
    """A batch that passed the first pass could not be written (the data changed meanwhile)."""
    done = report.imported + report.updated
    report.skipped = max(report.rows - report.failed - done - report.unchanged, 0)
    return _report_problem(
        409,
        "import-interrupted",
        "Import interrupted",
        f"The import stopped: {exc.reason.rstrip('.')}. The {done} row(s) of the {report.batches} batch(es) "
        "written before stay imported; fix the row and import the file again with mode 'upsert' and a key to "
        "complete it.",
        report,
    )


def _report_problem(status: int, code: str, title: str, detail: str, report: ImportReport) -> ProblemError:
    """A problem carrying the whole report; its row errors are the problem's ``errors``."""
    problem = ProblemError(status, code, title, detail)
    problem.extensions = report.as_dict()
    return problem


def _reason(model: Model, exc: Exception) -> str:
    if isinstance(exc, IntegrityError):
        exc = integrity_problem(exc, model.name)
    if isinstance(exc, ProblemError):
        details = "; ".join(f"{e.field}: {e.message}" for e in exc.errors or [])
        return details or exc.detail
    return str(getattr(exc, "orig", exc)).splitlines()[0]


def source_problem(exc: SourceError) -> ProblemError:
    extensions: dict[str, Any] = {} if exc.row is None else {"row": exc.row}
    if exc.status == 413:
        return ProblemError(413, "too-large", "File too large", exc.message, **extensions)
    return bad_request(f"The file cannot be imported: {exc.message}", code="invalid-file", **extensions)
