"""insert_rows: many rows through the driver (executemany, or COPY on PostgreSQL) store exactly what
SQLAlchemy's insert stores, inside the caller's transaction, refused as SQLAlchemy refuses them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Boolean, Column, Date, Float, Integer, MetaData, String, Table, Uuid, insert, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from stateyard.core.bulk import insert_rows
from stateyard.core.db import Database
from stateyard.core.db_errors import unique_columns
from stateyard.core.sqltypes import ExactDecimal, UTCDateTime, json_type


def _table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("code", String(16), unique=True, nullable=False),
        Column("count", Integer),
        Column("price", ExactDecimal(12, 2)),
        Column("weight", Float),
        Column("active", Boolean),
        Column("due", Date),
        Column("at", UTCDateTime),
        Column("data", json_type()),
        Column("owner_id", Uuid),
    )


@pytest.fixture
async def db(database: dict[str, Any]) -> AsyncIterator[tuple[Database, Table, Table]]:
    instance = Database(database["database_url"])
    metadata = MetaData()
    ours, theirs = _table(metadata, "bulk_ours"), _table(metadata, "bulk_theirs")
    async with instance.write() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield instance, ours, theirs
    finally:
        await instance.dispose()


def _rows(count: int) -> list[dict[str, Any]]:
    owner = uuid.uuid4()
    at = dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=dt.UTC)
    paris = dt.timezone(dt.timedelta(hours=2))
    return [
        {
            "id": uuid.uuid4(),
            "code": f"C{i:05d}",
            "count": None if i % 7 == 0 else i,
            "price": Decimal(i).scaleb(-2),
            "weight": i / 3,
            "active": i % 2 == 0,
            "due": dt.date(2026, 1, 1) + dt.timedelta(days=i),
            # a shared moment (converted once), another zone, a naive value and a null
            "at": (at, at.astimezone(paris), at.replace(tzinfo=None), None)[i % 4] if i % 5 else at,
            "data": {"n": i, "tags": ["a", "b"], "when": at} if i % 3 else None,
            "owner_id": owner,
        }
        for i in range(count)
    ]


async def _stored(database: Database, table: Table) -> list[tuple[Any, ...]]:
    async with database.read() as conn:
        return [tuple(row) for row in await conn.execute(select(table).order_by(table.c.code))]


async def test_many_rows_are_stored_as_sqlalchemy_stores_them(db: tuple[Database, Table, Table]) -> None:
    database, ours, theirs = db
    rows = _rows(250)
    async with database.write() as conn:
        await insert_rows(conn, ours, rows)
        await conn.execute(insert(theirs), rows)
    stored = await _stored(database, ours)
    assert len(stored) == 250
    assert stored == await _stored(database, theirs)
    first = stored[1]
    assert first[7] == dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=dt.UTC)
    assert first[8] == {"n": 1, "tags": ["a", "b"], "when": "2026-03-29T01:30:15.123456Z"}


async def test_one_row_and_no_rows(db: tuple[Database, Table, Table]) -> None:
    database, ours, theirs = db
    rows = _rows(1)
    async with database.write() as conn:
        await insert_rows(conn, ours, [])
        await insert_rows(conn, ours, rows)
        await conn.execute(insert(theirs), rows[0])
    assert await _stored(database, ours) == await _stored(database, theirs) != []


async def test_a_refused_row_refuses_the_batch_as_the_database_says(db: tuple[Database, Table, Table]) -> None:
    database, ours, _ = db
    rows = _rows(20)
    rows[15]["code"] = rows[3]["code"]
    with pytest.raises(IntegrityError) as refused:
        async with database.write() as conn:
            await insert_rows(conn, ours, rows)
    assert unique_columns(refused.value) == ["code"]
    assert await _stored(database, ours) == []


class _Undone(Exception):
    pass


async def test_rows_written_first_in_a_transaction_are_undone_with_it(db: tuple[Database, Table, Table]) -> None:
    """The bulk write is the transaction's first statement (PostgreSQL's COPY goes around SQLAlchemy's
    adapter, which begins its transaction lazily): it must still be rolled back with the rest."""
    database, ours, _ = db
    with pytest.raises(_Undone):
        async with database.write() as conn:
            await insert_rows(conn, ours, _rows(5))
            raise _Undone
    assert await _stored(database, ours) == []
    async with database.write() as conn:
        await insert_rows(conn, ours, _rows(5))
    assert len(await _stored(database, ours)) == 5


async def test_a_value_too_long_for_its_column_is_refused_not_cut(db: tuple[Database, Table, Table]) -> None:
    database, ours, theirs = db
    if not database.is_postgres:
        pytest.skip("SQLite keeps text of any length in a VARCHAR(n) column")
    for changes in ({"code": "X" * 17}, {"price": Decimal("12345678901.5")}):
        rows = _rows(3)
        rows[1] |= changes
        with pytest.raises(DBAPIError):
            async with database.write() as conn:
                await insert_rows(conn, ours, rows)
        with pytest.raises(DBAPIError):
            async with database.write() as conn:
                await conn.execute(insert(theirs), rows)
    assert await _stored(database, ours) == []
