"""One place that builds every service from settings and wires them together.

The HTTP app, the CLI and the tests all start from a :class:`Platform`, so they run the
same code with the same collaborators; only the clock and the settings differ.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import insert, select

from stateyard.actions.catalog import ActionCatalog
from stateyard.actions.engine import ActionEngine
from stateyard.actions.observers import ActionObserver
from stateyard.actions.performers import data as data_performers
from stateyard.actions.performers import http as http_performers
from stateyard.actions.performers import mail as mail_performers
from stateyard.actions.performers import state as state_performers
from stateyard.actions.performers import system as system_performers
from stateyard.actions.registry import ActionRegistry
from stateyard.actions.specs import ActionSpecs
from stateyard.actions.validation import dependency_check as action_dependencies
from stateyard.auth import actions as user_actions
from stateyard.auth.observers import RowShareObserver, UserAccountObserver, UsergroupObserver
from stateyard.auth.permissions import SYSTEM, Subject
from stateyard.auth.service import AuthService
from stateyard.auth.tokens import TokenService
from stateyard.config import Settings
from stateyard.core.clock import Clock, clock_from_setting
from stateyard.core.crypto import Crypto
from stateyard.core.db import Database
from stateyard.crud.hooks import ANY_ENTITY, Hooks
from stateyard.crud.service import RecordService
from stateyard.crud.store import RowStore
from stateyard.entities.handlers import ColumnHandler, EntityHandler, RelationHandler
from stateyard.entities.registry import Registry, Snapshot, bootstrap_snapshot
from stateyard.entities.schemas import SchemaDocument
from stateyard.entities.service import SCHEMA_LOCK_KEY, ApplyResult, EntityService
from stateyard.entities.system import (
    META_KEYS,
    META_TABLE,
    internal_metadata,
    system_definitions,
    system_document,
)
from stateyard.integrations.http import HttpClient
from stateyard.integrations.mail import MAIL_JOB, Mailer, send_mail_job
from stateyard.io import actions as io_actions
from stateyard.io.exporter import ExportService
from stateyard.io.importer import ImportService
from stateyard.jobs import specs as task_specs
from stateyard.jobs import tasks as task_actions
from stateyard.jobs.queue import JobQueue
from stateyard.jobs.scheduler import TASK_JOB, Scheduler
from stateyard.jobs.tasks import ScheduledTaskObserver, run_task
from stateyard.jobs.worker import JobHandler, Worker, noop_job
from stateyard.machines import actions as machine_actions
from stateyard.machines import routes as machine_routes
from stateyard.machines.catalog import MachineCatalog
from stateyard.machines.observers import RowLifecycleObserver, StateMachineObserver
from stateyard.machines.service import MachineService
from stateyard.machines.validation import dependency_check as machine_dependencies

log = logging.getLogger(__name__)


class Platform:
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or clock_from_setting(settings.clock)
        self.db = Database(
            settings.database_url, schema=settings.database_schema, pool_size=settings.database_pool_size
        )
        self.crypto = Crypto(
            settings.resolved_secret_key(),
            time_cost=settings.password_hash_time_cost,
            memory_kib=settings.password_hash_memory_kib,
        )
        self.registry = Registry(self.db)
        self.store = RowStore(self.clock)
        self.hooks = Hooks()
        self.entities = EntityService(self.db, self.registry, self.store)
        self.records = RecordService(self.db, self.registry, self.store, self.crypto, self.hooks, settings)
        self.tokens = TokenService(
            self.crypto.token_key,
            issuer=settings.token_issuer,
            ttl_seconds=settings.token_ttl_seconds,
            clock=self.clock,
        )
        self.auth = AuthService(self.db, self.registry, self.store, self.crypto, self.tokens)
        self.actions = ActionRegistry()
        self.catalog = MachineCatalog()
        self.action_catalog = ActionCatalog()
        self.mailer = Mailer(settings)
        self.http = HttpClient(settings)
        self.engine = ActionEngine(self)
        self.action_specs = ActionSpecs(self)
        self.machines = MachineService(self.db, self.registry, self.store, self.catalog, self.records)
        self.queue = JobQueue(self.db, self.registry, self.clock, lease_seconds=settings.job_lease_seconds)
        self.scheduler = Scheduler(self, self.queue, self.clock)
        self.imports = ImportService(self)
        self.exports = ExportService(self)
        #: Job kinds and their handlers; areas add theirs in _wire.
        self.job_handlers: dict[str, JobHandler] = {"noop": noop_job, TASK_JOB: run_task, MAIL_JOB: send_mail_job}
        self._watcher: asyncio.Task[None] | None = None
        self._worker_stop = asyncio.Event()
        self._worker_task: asyncio.Task[None] | None = None
        self._wire()

    def _wire(self) -> None:
        self.hooks.handle("entity", EntityHandler(self.db, self.registry, self.entities))
        self.hooks.handle("entity_column", ColumnHandler(self.db, self.registry, self.entities))
        self.hooks.handle("entity_relation", RelationHandler(self.db, self.registry, self.entities))
        self.hooks.observe("row_share", RowShareObserver(self.store))
        self.hooks.observe("usergroup", UsergroupObserver(self.registry, self.auth))
        self.hooks.observe("user_account", UserAccountObserver(self.auth))
        user_actions.register(self.actions)
        self.hooks.observe("state_machine", StateMachineObserver(self.registry))
        self.entities.dependency_checks.append(machine_dependencies(self.catalog))
        self.entities.dependency_checks.append(action_dependencies(self.action_catalog, self.actions))
        self.hooks.observe(ANY_ENTITY, RowLifecycleObserver(self.catalog, self.machines))
        self.hooks.field_providers.append(machine_routes.state_fields(self))
        machine_routes.register_endpoints(self)
        machine_actions.register(self.actions)
        state_performers.register(self.actions)
        data_performers.register(self.actions)
        system_performers.register(self.actions)
        mail_performers.register(self.actions)
        http_performers.register(self.actions)
        self.hooks.observe("action", ActionObserver(self.registry, self.actions))
        self.hooks.observe("scheduled_task", ScheduledTaskObserver(self))
        task_actions.register(self.actions)
        io_actions.register(self.actions)
        self.registry.on_reload(self._reload_catalogs)

    async def _reload_catalogs(self, snapshot: Snapshot) -> None:
        """Machines and declared actions are derived from definitions: they reload with them."""
        async with self.db.read() as conn:
            await self.catalog.reload(snapshot, conn)
            await self.action_catalog.reload(snapshot, conn)

    def worker(self, *, name: str | None = None, concurrency: int | None = None) -> Worker:
        """A job worker of this platform (it also fires due scheduled tasks each cycle)."""
        return Worker(
            self,
            self.queue,
            self.job_handlers,
            name=name,
            concurrency=concurrency or self.settings.worker_concurrency,
            poll_seconds=self.settings.worker_poll_seconds,
            tick=self.scheduler.tick,
            until_due=self.scheduler.seconds_until_due,
        )

    async def start(self, *, watch: bool = False, work: bool = False) -> None:
        """Create or upgrade the system tables, load definitions, create the admin from settings."""
        await self.bootstrap()
        await self.registry.reload()
        await self.ensure_admin_from_settings()
        await self.auth.poll()
        if watch:
            self._watcher = asyncio.create_task(self._watch(self.settings.schema_poll_seconds))
        if work:
            self._worker_task = asyncio.create_task(self.worker().run(self._worker_stop))

    async def _watch(self, interval: float) -> None:
        """Notice what other processes changed: definitions (reload) and security (forget callers)."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.registry.refresh()
                await self.auth.poll()
            except Exception:
                log.exception("could not poll for changes made by other processes")

    async def bootstrap(self) -> None:
        await self.db.ensure_schema()
        async with self.db.ddl() as conn:
            if self.db.is_postgres:
                from sqlalchemy import text

                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            await conn.run_sync(lambda sync: internal_metadata.create_all(sync, checkfirst=True))
            await conn.run_sync(lambda sync: bootstrap_snapshot().metadata.create_all(sync, checkfirst=True))
            present = set((await conn.execute(select(META_TABLE.c.key))).scalars())
            for key in META_KEYS:
                if key not in present:
                    await conn.execute(insert(META_TABLE).values(key=key, value=1))
        await self.entities.apply(list(system_definitions().values()), groups=system_document().groups, bootstrap=True)
        await self.queue.ensure_indexes()

    async def apply_schema(
        self,
        document: SchemaDocument,
        *,
        allow_destructive: bool = False,
        dry_run: bool = False,
        actor: Subject = SYSTEM,
    ) -> ApplyResult:
        """Make the database match a schema document: groups and entities, then state machines, actions, tasks."""
        accounts = await task_specs.check_specs(self, document, actor)
        if document.state_machines or document.actions:
            # Every machine and action is checked against the entities as the document leaves them before
            # anything is written: an invalid one must not leave the document half applied.
            await self.entities.apply(document.entities, groups=document.groups, dry_run=True)
            self.machines.check_specs(document.state_machines, document.entities, (g.name for g in document.groups))
            await self.action_specs.check_specs(document.actions, document.entities, (g.name for g in document.groups))
        result = await self.entities.apply(
            document.entities, actor=actor, groups=document.groups, allow_destructive=allow_destructive, dry_run=dry_run
        )
        machine_changes = await self.machines.apply_specs(document.state_machines, actor=actor, dry_run=dry_run)
        action_changes = await self.action_specs.apply_specs(document.actions, actor=actor, dry_run=dry_run)
        task_changes = await task_specs.apply_specs(
            self, document.scheduled_tasks, accounts, actor=actor, dry_run=dry_run
        )
        changes = [*result.changes, *machine_changes, *action_changes, *task_changes]
        return ApplyResult(changes, applied=not dry_run and bool(changes))

    async def ensure_admin_from_settings(self) -> None:
        email, password = self.settings.admin_email, self.settings.admin_password
        if not email:
            return
        if not password:
            log.warning("STATEYARD_ADMIN_EMAIL is set without STATEYARD_ADMIN_PASSWORD: no admin created")
            return
        if await self.auth.find_user(email) is None:
            await self.auth.create_user(email, password, name="Administrator", admin=True)
            log.info("created administrator %s", email)

    async def stop(self) -> None:
        if self._worker_task is not None:
            self._worker_stop.set()
            await self._worker_task
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.db.dispose()
