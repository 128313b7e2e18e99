"""The ``stateyard`` command: serve, init, schema diff/apply, user create."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from stateyard.auth.permissions import SYSTEM
from stateyard.config import Settings, load_settings
from stateyard.core.errors import ProblemError
from stateyard.entities.diff import Change
from stateyard.entities.loader import SchemaFileError, load_folder
from stateyard.platform import Platform

T = TypeVar("T")
MARKS = {True: "!", False: "+"}


def _run(settings: Settings, work: Callable[[Platform], Awaitable[T]]) -> T:
    async def main() -> T:
        platform = Platform(settings)
        try:
            await platform.start()
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
        sys.exit(1 if exc.status == 409 else 2)
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

    settings = load_settings(host=host, port=port, **({"run_worker": False} if no_worker else {}))
    uvicorn.run(
        create_app(settings),
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

    _run(settings, work)


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
