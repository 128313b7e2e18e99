"""Entities and database probes shared by the records API tests.

``gadget`` has one column of every type a builder can declare, with constraints, so each
validation rule has a column to break. ``author``/``book``/``tag`` cover the three relation kinds.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from stateyard.platform import Platform
from tests.conftest import Api

T = TypeVar("T")

GADGET = {
    "name": "gadget",
    "columns": [
        {"name": "title", "type": "string", "required": True, "max_length": 20},
        {"name": "code", "type": "string", "unique": True, "pattern": "^[A-Z]{3}-[0-9]+$"},
        {"name": "notes", "type": "text"},
        {"name": "qty", "type": "integer", "min": 0, "max": 100, "default": 1},
        {"name": "price", "type": "decimal", "precision": 8, "scale": 2, "min": 0},
        {"name": "weight", "type": "float", "min": 0},
        {"name": "active", "type": "boolean", "default": True},
        {"name": "kind", "type": "enum", "options": ["tool", "toy", "part"], "default": "tool"},
        {"name": "contact", "type": "email"},
        {"name": "site", "type": "url"},
        {"name": "ref", "type": "uuid"},
        {"name": "due", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "meta", "type": "json"},
        {"name": "secret", "type": "encrypted"},
        {"name": "pin", "type": "password"},
    ],
}


@pytest.fixture
async def gadget(admin: Api) -> dict[str, Any]:
    response = await admin.post("/api/entity", GADGET)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def library(admin: Api) -> dict[str, dict[str, Any]]:
    """author 1-n book (belongs_to / has_many), book n-m tag (many_to_many)."""
    created = {}
    for definition in (
        {"name": "author", "columns": [{"name": "name", "type": "string", "required": True}]},
        {"name": "tag", "columns": [{"name": "label", "type": "string", "required": True}]},
        {
            "name": "book",
            "columns": [
                {"name": "title", "type": "string", "required": True},
                {"name": "pages", "type": "integer"},
            ],
            "relations": [
                {"name": "author", "type": "belongs_to", "target": "author"},
                {"name": "tags", "type": "many_to_many", "target": "tag"},
            ],
        },
    ):
        response = await admin.post("/api/entity", definition)
        assert response.status_code == 201, response.text
        created[definition["name"]] = response.json()
    books = {"entity_id": created["author"]["id"], "name": "books", "type": "has_many", "target": "book"}
    response = await admin.post("/api/entity_relation", {**books, "inverse": "author"})
    assert response.status_code == 201, response.text
    return created


class Probe:
    """Reads the database past the API, on the app's own event loop.

    The test client runs the app (and its connection pools) on an event loop in another
    thread; asyncpg connections must not be used from this one, so queries go through the
    client's blocking portal.
    """

    def __init__(self, client: AsyncTestClient[Any], platform: Platform) -> None:
        self.client = client
        self.platform = platform

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        portal = self.client.blocking_portal
        return await asyncio.to_thread(portal.call, functools.partial(fn, *args))

    async def rows(self, entity: str) -> list[dict[str, Any]]:
        """Every stored row of ``entity`` (hashes, ciphertexts and all), in id order."""
        table = self.platform.registry.snapshot.models[entity].table

        async def run() -> list[dict[str, Any]]:
            async with self.platform.db.read() as conn:
                return [dict(r) for r in (await conn.execute(select(table).order_by(table.c.id))).mappings()]

        return await self.call(run)

    async def links(self, entity: str, relation: str) -> list[tuple[str, str]]:
        """(source id, target id) pairs of a many_to_many relation, from its join table."""
        join = self.platform.registry.snapshot.models[entity].join_tables[relation]

        async def run() -> list[tuple[str, str]]:
            async with self.platform.db.read() as conn:
                found = await conn.execute(select(join.c.source_id, join.c.target_id))
                return sorted((str(s), str(t)) for s, t in found)

        return await self.call(run)

    async def count(self, entity: str) -> int:
        table = self.platform.registry.snapshot.models[entity].table

        async def run() -> int:
            async with self.platform.db.read() as conn:
                return int(await conn.scalar(select(func.count()).select_from(table)) or 0)

        return await self.call(run)

    async def concurrently(self, api: Api, method: str, url: str, bodies: list[Any]) -> list[httpx.Response]:
        """Send the requests at the same time, on the app's loop (the test client sends one by one)."""

        async def run() -> list[httpx.Response]:
            async with self._direct(api) as raw:
                return list(await asyncio.gather(*(raw.request(method, url, json=body) for body in bodies)))

        return await self.call(run)

    async def get_many(self, api: Api, url: str, params: list[dict[str, str]]) -> list[httpx.Response]:
        """GET ``url`` once per params, one after the other, without a thread hop per request."""

        async def run() -> list[httpx.Response]:
            async with self._direct(api) as raw:
                return [await raw.get(url, params=p) for p in params]

        return await self.call(run)

    def _direct(self, api: Api) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {api.token}"} if api.token else {}
        transport = httpx.ASGITransport(app=self.client.app)
        return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)

    async def unchanged(self, *entities: str) -> Unchanged:
        """Remember these tables and the audit log, to check later that a refusal wrote nothing."""
        state = Unchanged(self, (*entities, "audit_log"))
        state.before = {e: await self.rows(e) for e in state.entities}
        return state


class Unchanged:
    def __init__(self, probe: Probe, entities: tuple[str, ...]) -> None:
        self.probe = probe
        self.entities = entities
        self.before: dict[str, list[dict[str, Any]]] = {}

    async def check(self) -> None:
        for entity in self.entities:
            assert await self.probe.rows(entity) == self.before[entity], f"{entity} changed"


@pytest.fixture
def probe(client: AsyncTestClient[Any], platform: Platform) -> Probe:
    return Probe(client, platform)


def filter_param(condition: Any) -> dict[str, str]:
    return {"filter": json.dumps(condition)}
