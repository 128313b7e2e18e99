"""Database engines and transactions for SQLite (embedded default) and PostgreSQL.

SQLite allows one writer at a time. Write transactions therefore start with
``BEGIN IMMEDIATE`` on a dedicated single-connection pool: writers queue in-process
instead of failing with ``SQLITE_BUSY`` when a read lock cannot be upgraded, and reads
run concurrently on their own pool thanks to WAL. PostgreSQL uses one pool for both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import msgspec
import regex
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

#: A regex that runs longer than this is treated as not matching (bounded regex operator).
REGEX_TIMEOUT_SECONDS = 0.05
MAX_REGEX_INPUT = 100_000


_after_commit: ContextVar[list[Callable[[], Awaitable[Any]]] | None] = ContextVar(
    "stateyard_after_commit", default=None
)


def on_commit(callback: Callable[[], Awaitable[Any]]) -> None:
    """Run ``callback`` once the current write transaction has committed; never if it rolls back."""
    pending = _after_commit.get()
    if pending is None:
        raise RuntimeError("on_commit() called outside a write transaction")
    pending.append(callback)


def after_commit_mark() -> int:
    """How many after-commit callbacks the current write transaction holds (see :func:`forget_after_commit`)."""
    pending = _after_commit.get()
    return len(pending) if pending is not None else 0


def forget_after_commit(mark: int) -> None:
    """Drop the callbacks registered since ``mark``: the savepoint they belong to was rolled back."""
    pending = _after_commit.get()
    if pending is not None:
        del pending[mark:]


@asynccontextmanager
async def _collect_after_commit() -> AsyncIterator[None]:
    outer = _after_commit.get()
    if outer is not None:
        # Inside another write transaction: its owner runs the callbacks.
        yield
        return
    pending: list[Callable[[], Awaitable[Any]]] = []
    token = _after_commit.set(pending)
    try:
        yield
    finally:
        _after_commit.reset(token)
    for callback in pending:
        await callback()


def as_dicts(result: Any) -> list[dict[str, Any]]:
    """Rows of a result as plain dicts; zipping with the keys once is several times cheaper than
    ``dict(row_mapping)`` per row, which matters on every list."""
    keys = tuple(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


_json_encoder = msgspec.json.Encoder()


def _json_text(value: Any) -> str:
    """JSON columns are encoded by msgspec: several times faster than the json module on audit values."""
    return _json_encoder.encode(value).decode()


def async_url(url: str) -> str:
    """Accept the URLs people write (``sqlite:///x.db``, ``postgresql://``) and pick async drivers."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return parsed.render_as_string(hide_password=False)


def bounded_regex_search(pattern: str | None, value: object) -> bool:
    """Regex search with a time limit, so a hostile pattern cannot stall a worker thread."""
    if pattern is None or value is None:
        return False
    text = value if isinstance(value, str) else str(value)
    try:
        return regex.search(pattern, text[:MAX_REGEX_INPUT], timeout=REGEX_TIMEOUT_SECONDS) is not None
    except (TimeoutError, regex.error):
        return False


def _sqlite_regexp(pattern: str | None, value: object) -> int:
    return 1 if bounded_regex_search(pattern, value) else 0


def _configure_sqlite(engine: AsyncEngine, *, immediate: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=10000",
            "PRAGMA case_sensitive_like=ON",
        ):
            cursor.execute(pragma)
        cursor.close()
        dbapi_connection.create_function("regexp", 2, _sqlite_regexp, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


#: What every engine shares. JSON columns are encoded by msgspec. Connections go back to the pool without
#: the pool's own ROLLBACK: every transaction here is a ``begin()`` block, which has already committed or
#: rolled back by then, and the extra round trip would be paid on every request (inside SQLite's one writer).
_ENGINE_OPTIONS: dict[str, Any] = {
    "json_serializer": _json_text,
    "json_deserializer": msgspec.json.decode,
    "pool_reset_on_return": None,
}


class Database:
    """Owns the engines; hands out read and write transactions."""

    def __init__(self, url: str, *, schema: str | None = None, pool_size: int = 20, echo: bool = False) -> None:
        self.url = async_url(url)
        self.backend = make_url(self.url).get_backend_name()
        self.schema = schema
        if self.is_sqlite:
            self._write_engine = create_async_engine(
                self.url, echo=echo, pool_size=1, max_overflow=0, pool_timeout=60, **_ENGINE_OPTIONS
            )
            readers = max(1, min(pool_size, 8))
            self._read_engine = create_async_engine(
                self.url, echo=echo, pool_size=readers, max_overflow=readers, **_ENGINE_OPTIONS
            )
            _configure_sqlite(self._write_engine, immediate=True)
            _configure_sqlite(self._read_engine, immediate=False)
        else:
            connect_args: dict[str, Any] = {}
            if schema:
                connect_args["server_settings"] = {"search_path": schema}
            self._write_engine = create_async_engine(
                self.url,
                echo=echo,
                pool_size=pool_size,
                max_overflow=pool_size,
                connect_args=connect_args,
                **_ENGINE_OPTIONS,
            )
            self._read_engine = self._write_engine

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    @property
    def engine(self) -> AsyncEngine:
        """The engine that writes (used for DDL and maintenance)."""
        return self._write_engine

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        async with _collect_after_commit(), self._write_engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def ddl(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction for schema changes.

        On SQLite, rebuilding a table (how SQLite drops or retypes some columns) drops the old
        table, and with foreign keys enforced that would cascade-delete referencing rows. So
        enforcement is switched off around the transaction and the result is verified with
        ``PRAGMA foreign_key_check`` before committing.
        """
        if not self.is_sqlite:
            async with self.write() as conn:
                yield conn
            return
        async with _collect_after_commit(), self._write_engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.execute("PRAGMA foreign_keys=OFF")
            try:
                async with conn.begin():
                    yield conn
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).first()
                    if broken is not None:
                        raise RuntimeError(f"schema change would break a foreign key: {tuple(broken)}")
            finally:
                await raw.execute("PRAGMA foreign_keys=ON")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """One read transaction, so that a list and its count see the same snapshot."""
        async with self._read_engine.begin() as conn:
            yield conn

    def tables_changed(self) -> None:
        """Tables may have changed under this process (another one altered them): have every
        connection forget the statements it prepared and the column types its driver remembers
        before its next statement, as SQLAlchemy does by itself after DDL run in this process.

        asyncpg's COPY encodes values with the column types it looked up when it first copied
        into the table; stale ones would misencode a retyped column (an integer sent as a
        float's bytes)."""
        invalidate = getattr(self._write_engine.dialect, "_invalidate_schema_cache", None)
        if invalidate is not None:  # PostgreSQL through asyncpg; SQLite re-prepares by itself
            invalidate()

    async def ensure_schema(self) -> None:
        """Create the configured PostgreSQL schema if it does not exist yet."""
        if self.is_postgres and self.schema:
            from sqlalchemy import text

            async with self._write_engine.begin() as conn:
                quoted = self.schema.replace('"', '""')
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{quoted}"'))

    async def dispose(self) -> None:
        await self._write_engine.dispose()
        if self._read_engine is not self._write_engine:
            await self._read_engine.dispose()


__all__ = ["Database", "async_url", "bounded_regex_search"]
