"""Helpers for entity definition tests: look at the database itself, not only at the API.

The app (and its database engines) runs on the test client's own event loop in another
thread; :class:`Probe` runs its queries there through the client's blocking portal.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, inspect, select

from stateyard.entities.system import META_TABLE, SCHEMA_REVISION
from stateyard.platform import Platform
from tests.conftest import Api

T = TypeVar("T")


class Probe:
    """Reads the database (and calls platform services) on the app's event loop."""

    def __init__(self, client: AsyncTestClient[Any], platform: Platform) -> None:
        self.client = client
        self.platform = platform

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kw: Any) -> T:
        portal = self.client.blocking_portal
        return await asyncio.to_thread(portal.call, functools.partial(fn, *args, **kw))

    async def _inspect(self, read: Callable[[Any], T]) -> T:
        async def run() -> T:
            async with self.platform.db.read() as conn:
                return await conn.run_sync(read)

        return await self.call(run)

    async def tables(self) -> dict[str, list[str]]:
        """Every table in the database with its column names, as the database reports them."""
        return await self._inspect(
            lambda sync: {
                name: sorted(c["name"] for c in inspect(sync).get_columns(name))
                for name in inspect(sync).get_table_names()
            }
        )

    async def indexes(self, table: str) -> dict[str, bool]:
        """Index name -> unique, for one table."""
        return await self._inspect(
            lambda sync: {str(i["name"]): bool(i["unique"]) for i in inspect(sync).get_indexes(table)}
        )

    async def rows(self, entity: str, /, **where: Any) -> list[dict[str, Any]]:
        """Stored rows of an entity as the database holds them (hashes, ciphertexts)."""
        table = self.platform.registry.snapshot.models[entity].table

        async def run() -> list[dict[str, Any]]:
            stmt = select(table).where(*(table.c[k] == v for k, v in where.items()))
            async with self.platform.db.read() as conn:
                return [dict(r) for r in (await conn.execute(stmt)).mappings()]

        return await self.call(run)

    async def row(self, entity: str, row_id: str) -> dict[str, Any]:
        (found,) = await self.rows(entity, id=uuid.UUID(row_id))
        return found

    async def state(self) -> dict[str, Any]:
        """Everything a refused definition change must leave as it was."""
        snapshot = self.platform.registry.snapshot

        async def run() -> dict[str, Any]:
            counts = {}
            async with self.platform.db.read() as conn:
                for name in ("entity", "entity_column", "entity_relation", "audit_log", "usergroup"):
                    table = snapshot.models[name].table
                    counts[name] = await conn.scalar(select(func.count()).select_from(table))
                revision = await conn.scalar(select(META_TABLE.c.value).where(META_TABLE.c.key == SCHEMA_REVISION))
            return {"counts": counts, "revision": revision}

        found = await self.call(run)
        return {**found, "tables": await self.tables(), "entities": sorted(self.platform.registry.snapshot.models)}


@pytest.fixture
def probe(client: AsyncTestClient[Any], platform: Platform) -> Probe:
    return Probe(client, platform)


async def create_entity(admin: Api, definition: dict[str, Any]) -> dict[str, Any]:
    response = await admin.post("/api/entity", definition)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def entity_columns(admin: Api, entity_id: str) -> dict[str, dict[str, Any]]:
    """The entity_column rows of one entity, by column name, in their declared order."""
    response = await admin.get(f"/api/entity/{entity_id}", params={"include": "columns"})
    assert response.status_code == 200, response.text
    return {c["name"]: c for c in sorted(response.json()["columns"], key=lambda c: c["position"])}
