"""insert_rows: many rows through the driver (executemany, or COPY on PostgreSQL) store exactly what
SQLAlchemy's insert stores, inside the caller's transaction, refused as SQLAlchemy refuses them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import BigInteger, Boolean, Column, Date, Float, Integer, MetaData, String, Table, Uuid, insert, select
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


async def _stored(database: Database, table: Table, order: str = "code") -> list[tuple[Any, ...]]:
    async with database.read() as conn:
        return [tuple(row) for row in await conn.execute(select(table).order_by(table.c[order]))]


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


async def test_a_column_retyped_by_another_process_is_written_with_its_new_type(database: dict[str, Any]) -> None:
    """Another process rebuilds a column with a new type (as a retype does: new column, old one dropped).
    Once this process knows its tables changed, the rows it writes are encoded for the new type."""
    ours = Database(database["database_url"], pool_size=1)
    theirs = Database(database["database_url"], pool_size=1)
    try:
        if not ours.is_postgres:
            pytest.skip("SQLite prepares its statements again by itself when a table changes")
        before = Table("bulk_retyped", MetaData(), Column("id", Integer, primary_key=True), Column("n", Float))
        after = Table("bulk_retyped", MetaData(), Column("id", Integer, primary_key=True), Column("n", BigInteger))
        async with ours.write() as conn:
            await conn.run_sync(before.metadata.create_all)
        async with ours.write() as conn:
            await insert_rows(conn, before, [{"id": 1, "n": 1.5}, {"id": 2, "n": 2.5}])
        async with theirs.write() as conn:
            await conn.exec_driver_sql("ALTER TABLE bulk_retyped ADD COLUMN n_new bigint")
            await conn.exec_driver_sql("ALTER TABLE bulk_retyped DROP COLUMN n")
            await conn.exec_driver_sql("ALTER TABLE bulk_retyped RENAME COLUMN n_new TO n")
        ours.tables_changed()
        async with ours.write() as conn:
            await insert_rows(conn, after, [{"id": 3, "n": 3}, {"id": 4, "n": 2**40}])
        assert await _stored(ours, after, "id") == [(1, None), (2, None), (3, 3), (4, 2**40)]
    finally:
        await ours.dispose()
        await theirs.dispose()
