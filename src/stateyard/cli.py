"""The ``stateyard`` command: serve, init, schema diff/apply, user create."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from stateyard.auth.permissions import SYSTEM, Subject
from stateyard.config import Settings, load_settings
from stateyard.core.errors import ProblemError
from stateyard.core.heap import tune_garbage_collector
from stateyard.entities.diff import Change
from stateyard.entities.loader import SchemaFileError, load_folder
from stateyard.platform import Platform

T = TypeVar("T")
MARKS = {True: "!", False: "+"}


def _run(
    settings: Settings, work: Callable[[Platform], Awaitable[T]], *, watch: bool = False, tune_gc: bool = False
) -> T:
    """Run ``work`` on a started platform. ``tune_gc`` is for commands that work long or on many
    rows (see :mod:`stateyard.core.heap`); quick ones gain nothing from it."""

    async def main() -> T:
        platform = Platform(settings)
        try:
            # A long-running command watches for definitions and security changes made by other processes.
            await platform.start(watch=watch)
            if tune_gc:
                tune_garbage_collector()
            return await work(platform)
        finally:
            await platform.stop()

    try:
        return asyncio.run(main())
    except ProblemError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        for error in exc.errors or []:
            click.echo(f"  {error.field}: {error.message}", err=True)
        for change in exc.extensions.get("changes", []):
            click.echo(f"  ! {change['entity']}: {change['detail']}", err=True)
        for row_error in exc.extensions.get("errors", []):  # an import's bad rows
            click.echo(f"  row {row_error['row']}, {row_error['column'] or 'row'}: {row_error['message']}", err=True)
        sys.exit(1 if exc.status in (409, 422) else 2)
    except SchemaFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _print_changes(changes: list[Change], *, applied: bool) -> None:
    if not changes:
        click.echo("No changes: the database matches the schema files.")
        return
    for change in changes:
        mark = "!" if change.destructive else "~"
        click.echo(f"  {mark} {change.entity}: {change.detail}")
    destructive = sum(c.destructive for c in changes)
    verb = "Applied" if applied else "Would apply"
    click.echo(f"{verb} {len(changes)} change(s), {destructive} destructive (marked !).")


@click.group()
@click.version_option(package_name="stateyard")
def main() -> None:
    """Stateyard: metadata-defined entities served as a permissioned, audited HTTP API."""
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1, or STATEYARD_HOST).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8080, or STATEYARD_PORT).")
@click.option("--no-worker", is_flag=True, help="Do not run the embedded job worker (run `stateyard worker`).")
def serve(host: str | None, port: int | None, no_worker: bool) -> None:
    """Run the HTTP server (one process; run more behind a proxy to scale out)."""
    import uvicorn

    from stateyard.app import create_app

    # An override of None is no override: run_worker then comes from the environment.
    settings = load_settings(host=host, port=port, run_worker=False if no_worker else None)
    uvicorn.run(
        create_app(settings, tune_gc=True),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )


@main.command()
@click.option("--demo", is_flag=True, help="Also load the demo rows from the fixtures folder.")
@click.option("--schema-dir", type=click.Path(path_type=Path), default=None)
@click.option("--fixtures-dir", type=click.Path(path_type=Path), default=None)
def init(demo: bool, schema_dir: Path | None, fixtures_dir: Path | None) -> None:
    """Create the database, apply the schema folder and (with --demo) load the fixtures."""
    settings = load_settings()
    schema_path = schema_dir or Path(settings.schema_dir)
    fixtures_path = fixtures_dir or Path(settings.fixtures_dir)

    async def work(platform: Platform) -> None:
        document = load_folder(schema_path)
        result = await platform.apply_schema(document)
        _print_changes(result.changes, applied=result.applied)
        if demo:
            from stateyard.io.fixtures import FixtureError, load_fixtures

            owner = SYSTEM
            if settings.admin_email and (user := await platform.auth.find_user(settings.admin_email)):
                owner = await platform.auth.subject_for_user(user["id"])
            try:
                created = await load_fixtures(platform, fixtures_path, owner)
            except FixtureError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(2)
            for entity, count in created.items():
                click.echo(f"  loaded {count} {entity} row(s)")
        click.echo(f"Database ready: {settings.database_url}")

    _run(settings, work)


@main.command()
@click.option("--concurrency", default=None, type=int, help="Jobs run at once (default STATEYARD_WORKER_CONCURRENCY).")
def worker(concurrency: int | None) -> None:
    """Run a job worker (it also fires scheduled tasks); any number may run against one database."""
    import signal

    settings = load_settings()

    async def work(platform: Platform) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        runner = platform.worker(concurrency=concurrency)
        click.echo(f"worker {runner.name} started", err=True)
        await runner.run(stop)
        click.echo(f"worker {runner.name} stopped", err=True)

    _run(settings, work, watch=True, tune_gc=True)


@main.group()
def schema() -> None:
    """Compare the database with the schema folder, or make it match."""


@schema.command()
@click.option(
    "--dir", "folder", type=click.Path(path_type=Path), default=None, help="Schema folder (default ./schema)."
)
def diff(folder: Path | None) -> None:
    """Show what `schema apply` would change (destructive steps marked !)."""
    settings = load_settings()

    async def work(platform: Platform) -> None:
        document = load_folder(folder or Path(settings.schema_dir))
        result = await platform.apply_schema(document, dry_run=True)
        _print_changes(result.changes, applied=False)

    _run(settings, work)


@schema.command()
@click.option(
    "--dir", "folder", type=click.Path(path_type=Path), default=None, help="Schema folder (default ./schema)."
)
@click.option("--allow-destructive", is_flag=True, help="Also drop or retype columns (data may be lost).")
def apply(folder: Path | None, allow_destructive: bool) -> None:
    """Make the database match the schema folder; running it twice changes nothing."""
    settings = load_settings()

    async def work(platform: Platform) -> None:
        document = load_folder(folder or Path(settings.schema_dir))
        result = await platform.apply_schema(document, allow_destructive=allow_destructive)
        _print_changes(result.changes, applied=result.applied)

    _run(settings, work)


async def _acting_as(platform: Platform, email: str | None) -> Subject:
    """The account a command acts as (its permissions apply), or the system with every permission."""
    if email is None:
        return SYSTEM
    user = await platform.auth.find_user(email)
    if user is None:
        raise ProblemError(404, "not-found", "Not found", f"There is no user account {email!r}.")
    return await platform.auth.subject_for_user(user["id"])


def _progress_bar() -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]:>9,} rows  {task.fields[rate]:>8,.0f} rows/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        transient=False,
    )


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--entity", required=True, help="The entity to fill.")
@click.option("--format", "format_", type=click.Choice(["csv", "xlsx", "json", "jsonl"]), default=None)
@click.option("--mode", type=click.Choice(["insert", "upsert"]), default="insert")
@click.option("--key", multiple=True, help="Upsert key field (repeat for a key of several fields).")
@click.option("--on-error", type=click.Choice(["abort", "skip"]), default="abort")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--strict", is_flag=True, help="Refuse headers that match no field.")
@click.option("--mapping", default=None, help='JSON object of header to field, e.g. \'{"Cust.": "customer"}\'.')
@click.option("--delimiter", default=None)
@click.option("--encoding", default=None)
@click.option("--sheet", default=None, help="XLSX sheet name, or its number counting from 1.")
@click.option("--as", "as_user", default=None, help="Act as this user's email (default: the system).")
def import_file(
    file: Path,
    entity: str,
    format_: str | None,
    mode: str,
    key: tuple[str, ...],
    on_error: str,
    dry_run: bool,
    strict: bool,
    mapping: str | None,
    delimiter: str | None,
    encoding: str | None,
    sheet: str | None,
    as_user: str | None,
) -> None:
    """Import a CSV, XLSX, JSON or JSON Lines file into an entity, with a progress bar."""
    import time

    import msgspec

    from stateyard.io.actions import xlsx_limits
    from stateyard.io.errors import SourceError
    from stateyard.io.importer import ImportOptions, ImportReport, source_problem
    from stateyard.io.readers import ReadOptions, detect_format, open_source

    settings = load_settings()
    try:
        mapped = msgspec.json.decode(mapping) if mapping else {}
        kind = detect_format(file.name, None, format_)
    except (msgspec.DecodeError, SourceError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sheet_choice: str | int | None = int(sheet) if sheet is not None and sheet.isdigit() else sheet
    read = ReadOptions(delimiter=delimiter, encoding=encoding, sheet=sheet_choice)
    size = file.stat().st_size
    opened: list[Any] = []

    async def work(platform: Platform) -> ImportReport:
        if size > settings.import_max_bytes:
            raise ProblemError(413, "too-large", "File too large", f"{file} is larger than STATEYARD_IMPORT_MAX_BYTES.")
        subject = await _acting_as(platform, as_user)
        limits = xlsx_limits(platform)

        def opener() -> Any:
            for handle in opened:
                handle.close()
            handle = file.open("rb")
            opened.append(handle)
            return open_source(kind, handle, size, read, limits)

        options = msgspec.convert(
            {
                "mode": mode,
                "key": list(key),
                "on_error": on_error,
                "dry_run": dry_run,
                "strict": strict,
                "mapping": mapped,
            },
            ImportOptions,
        )
        started = time.monotonic()
        with _progress_bar() as bar:
            task = bar.add_task("checking", total=None, rows=0, rate=0.0)

            def progress(phase: str, report: ImportReport, position: tuple[int, int]) -> None:
                done, total = position
                elapsed = max(time.monotonic() - started, 1e-6)
                bar.update(
                    task,
                    description=phase,
                    completed=done,
                    total=total or None,
                    rows=report.rows,
                    rate=report.rows / elapsed,
                )

            try:
                return await platform.imports.run(subject, entity, opener, options, format_name=kind, progress=progress)
            except SourceError as exc:  # pragma: no cover - the service turns these into problems
                raise source_problem(exc) from None
            finally:
                for handle in opened:
                    handle.close()

    report = _run(settings, work, tune_gc=True)
    verb = "Would import" if report.dry_run else "Imported"
    click.echo(
        f"{verb} {report.imported} row(s), updated {report.updated}, unchanged {report.unchanged}, "
        f"failed {report.failed}, skipped {report.skipped} ({report.rows} read, {report.batches} batch(es))."
    )
    for error in report.errors:
        click.echo(f"  row {error.row}, {error.column or 'row'}: {error.message} [{error.code}]", err=True)
    if report.errors_truncated:
        click.echo(f"  ... and more: {report.failed} row(s) failed in all", err=True)
    for header in report.unknown_headers:
        click.echo(f"  unknown header {header!r} (not imported)", err=True)
    if report.failed:
        sys.exit(1)


@main.command("export")
@click.option("--entity", required=True, help="The entity to export.")
@click.option("--format", "format_", type=click.Choice(["csv", "xlsx", "json", "jsonl"]), default="csv")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--columns", default=None, help="Comma-separated fields, in file order.")
@click.option("--filter", "filter_", default=None, help="A JSON condition, as for lists.")
@click.option("--sort", default=None, help="As for lists, e.g. -total,customer.")
@click.option("--as", "as_user", default=None, help="Act as this user's email (default: the system).")
def export_file(
    entity: str,
    format_: str,
    output: Path,
    columns: str | None,
    filter_: str | None,
    sort: str | None,
    as_user: str | None,
) -> None:
    """Export the rows of an entity to a file, with a progress bar."""
    import time

    import msgspec
    from sqlalchemy import func, select
    from sqlalchemy.exc import DBAPIError

    from stateyard.io.exporter import ExportSpec

    settings = load_settings()
    try:
        condition = msgspec.json.decode(filter_) if filter_ else None
    except msgspec.DecodeError as exc:
        click.echo(f"error: --filter is not valid JSON: {exc}", err=True)
        sys.exit(2)
    spec = ExportSpec(
        format=format_,  # type: ignore[arg-type]
        columns=[c.strip() for c in columns.split(",") if c.strip()] if columns else None,
        filter=condition,
        sort=sort,
    )

    async def work(platform: Platform) -> int:
        subject = await _acting_as(platform, as_user)
        plan = await platform.exports.plan(subject, entity, spec)
        snapshot = platform.registry.snapshot
        where = platform.records.visible_where(snapshot, subject, plan.model, plan.query)
        try:
            async with platform.db.read() as conn:
                total = int(await conn.scalar(select(func.count()).select_from(plan.model.table).where(where)) or 0)
        except DBAPIError as exc:  # as for lists: a filter PostgreSQL cannot run (its regex dialect differs)
            raise ProblemError(
                400, "invalid-filter", "Bad request", f"The database could not run this filter: {exc.orig}"
            ) from None
        started = time.monotonic()
        partial = output.with_name(output.name + ".partial")
        try:
            with _progress_bar() as bar, partial.open("wb") as sink:
                task = bar.add_task("exporting", total=total, rows=0, rate=0.0)

                def progress(count: int) -> None:
                    rate = count / max(time.monotonic() - started, 1e-6)
                    bar.update(task, completed=count, rows=count, rate=rate)

                count = await platform.exports.write(subject, plan, sink, progress)
        except BaseException:
            partial.unlink(missing_ok=True)  # no half-written file is left behind
            raise
        partial.replace(output)
        return count

    count = _run(settings, work, tune_gc=True)
    click.echo(f"Exported {count} row(s) to {output}")


@main.group()
def user() -> None:
    """Manage user accounts."""


@user.command("create")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default=None)
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def create_user(email: str, password: str, name: str | None, admin: bool) -> None:
    """Create a user (optionally an administrator)."""
    settings = load_settings()

    async def work(platform: Platform) -> Any:
        row = await platform.auth.create_user(email, password, name=name, admin=admin)
        click.echo(f"Created {'administrator' if admin else 'user'} {row['email']} ({row['id']})")

    _run(settings, work)


if __name__ == "__main__":
    main()
