"""Helpers shared by the auth and audit suites: test entities, users, and raw database reads."""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from stateyard.platform import Platform
from tests.conftest import Api

T = TypeVar("T")

FOLDER = {
    "name": "folder",
    "columns": [{"name": "name", "type": "string", "required": True}],
}

NOTE = {
    "name": "note",
    "columns": [
        {"name": "title", "type": "string", "required": True},
        {"name": "secret", "type": "encrypted"},
        {"name": "pin", "type": "password"},
    ],
    "relations": [
        {"name": "folder", "type": "belongs_to", "target": "folder", "on_delete": "set_null"},
        {"name": "tags", "type": "many_to_many", "target": "folder"},
    ],
}

FOLDER_NOTES = {"name": "notes", "type": "has_many", "target": "note", "inverse": "folder"}


@pytest.fixture
async def notes(admin: Api) -> None:
    """``folder`` and ``note`` entities with the default permissions (folder has_many notes)."""
    for definition in (FOLDER, NOTE):
        response = await admin.post("/api/entity", definition)
        assert response.status_code == 201, response.text
    folder = (await admin.get("/api/entity", params={"filter": filter_eq("name", "folder")})).json()["data"][0]
    response = await admin.post("/api/entity_relation", {**FOLDER_NOTES, "entity_id": folder["id"]})
    assert response.status_code == 201, response.text


@pytest.fixture
async def alice(guest: Api) -> Api:
    return await guest.signup("alice@example.com", name="Alice")


@pytest.fixture
async def bob(guest: Api) -> Api:
    return await guest.signup("bob@example.com", name="Bob")


def filter_eq(field: str, value: Any) -> str:
    return json.dumps({"field": field, "op": "equals", "value": value})


async def user_id(api: Api) -> str:
    return (await api.me())["id"]


async def created(api: Api, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"/api/{entity}", body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


class Db:
    """Reads the database past the API, and runs platform code, on the app's own event loop.

    The test client serves the app (and its connection pools) from an event loop in another
    thread; asyncpg connections must not be touched from the test's loop, so every call goes
    through the client's blocking portal.
    """

    def __init__(self, client: AsyncTestClient[Any], platform: Platform) -> None:
        self.client = client
        self.platform = platform

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        portal = self.client.blocking_portal
        return await asyncio.to_thread(portal.call, functools.partial(fn, *args))

    async def rows(self, entity: str, /, **equals: Any) -> list[dict[str, Any]]:
        """Rows as stored (ciphertexts, hashes and all), ignoring permissions."""
        table = self.platform.registry.snapshot.models[entity].table
        conditions = [table.c[key] == _as_uuid(value) for key, value in equals.items()]

        async def read() -> list[dict[str, Any]]:
            async with self.platform.db.read() as conn:
                result = await conn.execute(select(table).where(*conditions).order_by(table.c.id))
                return [dict(row) for row in result.mappings()]

        return await self.run(read)

    async def audit_of(self, entity: str, row_id: Any = None) -> list[dict[str, Any]]:
        if row_id is None:
            return await self.rows("audit_log", entity=entity)
        return await self.rows("audit_log", entity=entity, row_id=row_id)

    async def audit_count(self) -> int:
        return len(await self.rows("audit_log"))


@pytest.fixture
def db(client: AsyncTestClient[Any], platform: Platform) -> Db:
    return Db(client, platform)


def _as_uuid(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return value
    return value
