"""``create_app(settings)``: assemble the Litestar application around a :class:`Platform`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from sqlalchemy import text

from stateyard.actions.routes import ROUTES as ACTION_ROUTES
from stateyard.config import Settings, load_settings
from stateyard.core.clock import Clock
from stateyard.core.heap import tune_garbage_collector
from stateyard.core.http import EXCEPTION_HANDLERS, json_response, platform_of
from stateyard.crud.routes import ROUTES as RECORD_ROUTES
from stateyard.io.routes import ROUTES as EXPORT_ROUTES
from stateyard.machines.routes import ROUTES as MACHINE_ROUTES
from stateyard.openapi import openapi_config
from stateyard.platform import Platform


@get("/health", name="health", include_in_schema=True)
async def health(request: Request[Any, Any, Any]) -> Response[bytes]:
    """200 once the database answers and definitions are loaded; 503 otherwise."""
    platform = platform_of(request)
    try:
        async with platform.db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # the point of a health check is to report, not to raise
        return json_response({"status": "unavailable", "database": str(exc)}, status=503)
    return json_response(
        {
            "status": "ok",
            "database": platform.db.backend,
            "schema_revision": platform.registry.snapshot.revision,
            "entities": len(platform.registry.snapshot.models),
            "jobs": await platform.queue.stats(),
            "scheduler_lag_seconds": await platform.scheduler.lag(),
        }
    )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    platform: Platform | None = None,
    watch_schema: bool = True,
    run_worker: bool | None = None,
    tune_gc: bool = False,
) -> Litestar:
    """The HTTP app on ``platform``. ``tune_gc`` is for a process that serves this one app until
    it exits (see :mod:`stateyard.core.heap`)."""
    settings = settings or load_settings()
    platform = platform or Platform(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await platform.start(watch=watch_schema, work=settings.run_worker if run_worker is None else run_worker)
        if tune_gc:
            tune_garbage_collector()
        try:
            yield
        finally:
            await platform.stop()

    return Litestar(
        route_handlers=[health, *RECORD_ROUTES, *ACTION_ROUTES, *MACHINE_ROUTES, *EXPORT_ROUTES],
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=openapi_config(),
        state=State({"platform": platform}),
        lifespan=[lifespan],
        logging_config=None,
    )
