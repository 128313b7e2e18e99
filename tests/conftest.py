"""Shared fixtures: a fresh database per test, on SQLite and (when configured) PostgreSQL.

``STATEYARD_TEST_DATABASE_URL=postgresql://...`` adds a PostgreSQL run of every storage test.
Bootstrapping (system entities, the admin) happens once per session into a template: SQLite
tests get a copy of a template file, PostgreSQL tests a database cloned from a template
database (``CREATE DATABASE ... TEMPLATE``), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.engine import make_url

from stateyard.app import create_app
from stateyard.config import Settings, load_settings
from stateyard.core.clock import FrozenClock
from stateyard.platform import Platform

PG_URL = os.environ.get("STATEYARD_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


SECRET = "test-secret-key-that-is-long-enough-0123456789"


def _settings(tmp_path: Path, **database: Any) -> Settings:
    return load_settings(
        {},
        **database,
        secret_key=SECRET,
        key_file=str(tmp_path / "stateyard.key"),
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        schema_dir=str(tmp_path / "schema"),
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        run_worker=False,
    )


def _in_thread(work: Any) -> Any:
    """Run a coroutine on a loop of its own, whether or not an event loop is running here."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


async def _bootstrap(folder: Path, **database: Any) -> None:
    platform = Platform(_settings(folder, **database))
    await platform.start()
    await platform.stop()


def _pg_url(database: str) -> str:
    assert PG_URL is not None
    return make_url(PG_URL).set(database=database).render_as_string(hide_password=False)


async def _pg_admin(statement: str) -> None:
    import asyncpg

    assert PG_URL is not None
    conn = await asyncpg.connect(make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bootstrapped SQLite database (system entities and the admin), copied for each test."""
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.db"
    _in_thread(_bootstrap(folder, database_url=f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """A bootstrapped PostgreSQL database that each PostgreSQL test clones."""
    if not PG_URL:
        yield None
        return
    name = f"sy_template_{uuid.uuid4().hex[:12]}"
    _in_thread(_pg_admin(f'CREATE DATABASE "{name}"'))
    _in_thread(_bootstrap(tmp_path_factory.mktemp("pg-template"), database_url=_pg_url(name)))
    # No connections to the template: CREATE DATABASE waits (seconds) for any session on its template to
    # leave, and autovacuum would otherwise visit it now and then.
    _in_thread(_pg_admin(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false'))
    yield name
    _in_thread(_pg_admin(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false'))
    _in_thread(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def database(
    backend: str, tmp_path: Path, sqlite_template: Path, postgres_template: str | None
) -> AsyncIterator[dict[str, Any]]:
    """Connection settings for a freshly bootstrapped database of the requested backend."""
    if backend == "sqlite":
        shutil.copyfile(sqlite_template, tmp_path / "test.db")
        yield {"database_url": f"sqlite:///{tmp_path / 'test.db'}"}
        return
    name = f"sy_test_{uuid.uuid4().hex[:16]}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield {"database_url": _pg_url(name)}
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def settings(database: dict[str, Any], tmp_path: Path) -> Settings:
    return _settings(tmp_path, **database)


class Api:
    """An HTTP client bound to one caller (a bearer token, or none for a guest)."""

    def __init__(self, client: AsyncTestClient[Any], token: str | None = None) -> None:
        self.client = client
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = dict(headers or {})
        if self.token:
            merged.setdefault("Authorization", f"Bearer {self.token}")
        return merged

    async def get(self, url: str, *, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        return await self.client.get(url, params=params, headers=self._headers(kw.pop("headers", None)), **kw)

    async def post(self, url: str, json: Any = None, *, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        headers = self._headers(kw.pop("headers", None))
        return await self.client.post(url, json=json, params=params, headers=headers, **kw)

    async def patch(self, url: str, json: Any = None, *, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        headers = self._headers(kw.pop("headers", None))
        return await self.client.patch(url, json=json, params=params, headers=headers, **kw)

    async def delete(self, url: str, *, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        return await self.client.delete(url, params=params, headers=self._headers(kw.pop("headers", None)), **kw)

    def as_guest(self) -> Api:
        return Api(self.client)

    async def signin(self, email: str, password: str) -> Api:
        response = await self.client.post(
            "/action/user_account/signin", json={"attributes": {"email": email, "password": password}}
        )
        assert response.status_code == 200, response.text
        token = next(d["attributes"]["value"] for d in response.json() if d["type"] == "client.store.set")
        return Api(self.client, token)

    async def signup(self, email: str, password: str = "user-password-1", name: str | None = None) -> Api:
        attributes = {"email": email, "password": password, "password_confirm": password}
        if name:
            attributes["name"] = name
        response = await self.client.post("/action/user_account/signup", json={"attributes": attributes})
        assert response.status_code == 200, response.text
        return await self.signin(email, password)

    async def me(self) -> dict[str, Any]:
        assert self.token
        platform: Platform = self.client.app.state.platform
        claims = platform.tokens.verify(self.token)
        return {"id": str(claims.sub)}


@pytest.fixture
async def client(settings: Settings, clock: FrozenClock) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(settings, clock=clock, watch_schema=False)
    async with AsyncTestClient(app) as test_client:
        yield test_client


@pytest.fixture
def platform(client: AsyncTestClient[Any]) -> Platform:
    return client.app.state.platform  # type: ignore[no-any-return]


@pytest.fixture
async def guest(client: AsyncTestClient[Any]) -> Api:
    return Api(client)


@pytest.fixture
async def admin(client: AsyncTestClient[Any]) -> Api:
    return await Api(client).signin(ADMIN_EMAIL, ADMIN_PASSWORD)


ORDER = {
    "name": "order",
    "columns": [
        {"name": "customer", "type": "string", "required": True},
        {"name": "total", "type": "float"},
        {"name": "status", "type": "enum", "options": ["new", "paid"], "default": "new"},
    ],
}


@pytest.fixture
async def order_entity(admin: Api) -> dict[str, Any]:
    response = await admin.post("/api/entity", ORDER)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def assert_problem(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is a problem+json with this status (and stable type code)."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"]
    if code is not None:
        assert body["type"] == f"urn:stateyard:problem:{code}", body
    return body  # type: ignore[no-any-return]
