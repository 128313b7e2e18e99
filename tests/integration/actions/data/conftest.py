"""Entities for the data and system performers, and a probe of what a request left behind.

``item`` has one column of each type random data can fill, with the options that bound it;
``shelf`` is what items belong to. :class:`Probe` (from the records suite) reads the database
past the API, so every refusal can be checked to have written nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import inspect

from stateyard.platform import Platform
from tests.conftest import Api
from tests.integration.crud.conftest import Probe

SHELF = {"name": "shelf", "columns": [{"name": "label", "type": "string", "required": True}]}

ITEM = {
    "name": "item",
    "columns": [
        {"name": "title", "type": "string", "required": True, "min_length": 2, "max_length": 12},
        {"name": "code", "type": "string", "unique": True, "max_length": 16},
        {"name": "notes", "type": "text", "max_length": 50},
        {"name": "qty", "type": "integer", "min": 5, "max": 9},
        {"name": "price", "type": "decimal", "precision": 6, "scale": 2, "min": 1, "max": 20},
        {"name": "weight", "type": "float", "min": -1.5, "max": 1.5},
        {"name": "active", "type": "boolean"},
        {"name": "kind", "type": "enum", "options": ["tool", "toy", "part"], "required": True},
        {"name": "contact", "type": "email", "unique": True},
        {"name": "site", "type": "url"},
        {"name": "ref", "type": "uuid"},
        {"name": "due", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "meta", "type": "json"},
        {"name": "secret", "type": "encrypted"},
        {"name": "pin", "type": "password"},
    ],
    "relations": [{"name": "shelf", "type": "belongs_to", "target": "shelf"}],
}


async def define(api: Api, definition: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/api/entity", definition)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def declare(api: Api, action: dict[str, Any]) -> dict[str, Any]:
    response = await api.post("/api/action", action)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def call(api: Api, entity: str, name: str, /, **attributes: Any) -> Any:
    return await api.post(f"/action/{entity}/{name}", {"attributes": attributes})


def result_of(response: Any, kind: str) -> dict[str, Any]:
    """The attributes of the one directive of this type in a 200 answer."""
    assert response.status_code == 200, response.text
    found = [d["attributes"] for d in response.json() if d["type"] == kind]
    assert len(found) == 1, response.json()
    return found[0]  # type: ignore[no-any-return]


@pytest.fixture
async def shelf(admin: Api) -> dict[str, Any]:
    return await define(admin, SHELF)


@pytest.fixture
async def item(admin: Api, shelf: dict[str, Any]) -> dict[str, Any]:
    return await define(admin, ITEM)


@pytest.fixture
def probe(client: AsyncTestClient[Any], platform: Platform) -> Probe:
    return Probe(client, platform)


async def table_columns(probe: Probe, table: str) -> list[str]:
    """The columns the database itself has for ``table`` (not what the registry believes)."""

    async def run() -> list[str]:
        async with probe.platform.db.read() as conn:
            return await conn.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns(table)])

    return await probe.call(run)
