"""Insert many rows with one ``executemany`` of the driver, values converted column by column.

SQLAlchemy's own executemany converts every value of every row through its column type, one
parameter dictionary at a time. Rows written together (an import batch, the audit records of
that batch) mostly repeat the same values in half their columns: the batch's timestamps, its
owner, its actor, its permission. Here the values are converted per column, a column whose
values are all the one object is converted once, and the driver gets plain tuples. The SQL and
the conversions are SQLAlchemy's own for the dialect (the compiled INSERT and each type's bind
processor), so what is stored is what ``conn.execute(insert(table), rows)`` would store.

On PostgreSQL the batch goes as a binary ``COPY`` through the driver instead: one round trip,
no statement to plan and no per-row executor work, where executemany runs the INSERT once per
row (measured on an import of 100,000 rows into a table and its audit log: 5.2 s with one
``INSERT ... SELECT * FROM unnest(...)`` per batch, 4.4 s with COPY). The driver's refusals are
translated as SQLAlchemy translates those of its statements, so callers catch the same
``IntegrityError``; the column types COPY encodes for are kept fresh by
:meth:`Database.tables_changed <stateyard.core.db.Database.tables_changed>`.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import repeat
from typing import Any

from sqlalchemy import Dialect, Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any] | None


class _Plan:
    """The compiled INSERT for one table, dialect and column set, and how each parameter is converted."""

    def __init__(self, sql: str, keys: tuple[str, ...], processors: tuple[Processor, ...], *, copy: bool) -> None:
        self.sql = sql
        self.keys = keys
        self.processors = processors
        self.pick = operator.itemgetter(*keys)
        #: Sent with PostgreSQL's COPY rather than the INSERT.
        self.copy = copy


@lru_cache(maxsize=256)
def _plan(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    """None when the driver takes named parameters or a column has a Python-side default
    (SQLAlchemy fills those in itself): then the rows go through SQLAlchemy as usual."""
    if any(column.default is not None for column in table.columns if column.key not in columns):
        return None
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    if not compiled.positional or compiled.positiontup is None:
        return None
    unescaped = {escaped: name for name, escaped in (compiled.escaped_bind_names or {}).items()}
    keys = tuple(unescaped.get(name, name) for name in compiled.positiontup)
    if len(keys) != len(columns) or set(keys) != set(columns):
        return None
    processors = tuple(compiled.binds[key].type.dialect_impl(dialect).bind_processor(dialect) for key in keys)
    return _Plan(str(compiled), keys, processors, copy=dialect.driver == "asyncpg")


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, which all have the same keys (the columns to set), in one COPY or executemany."""
    if not rows:
        return
    plan = _plan(table, tuple(rows[0]), conn.dialect) if len(rows) > 1 else None
    if plan is None:
        await conn.execute(insert(table), list(rows) if len(rows) > 1 else rows[0])
        return
    columns = _columns(plan, rows)
    if plan.copy:
        await _copy(conn, table, plan, columns)
    else:
        await conn.exec_driver_sql(plan.sql, list(zip(*columns, strict=True)))


async def _copy(conn: AsyncConnection, table: Table, plan: _Plan, columns: list[Sequence[Any]]) -> None:
    """The rows through asyncpg's binary COPY, inside the connection's transaction."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None  # a connection checked out of the pool has its driver connection
    if not driver.is_in_transaction():
        # SQLAlchemy's adapter begins its transaction with the first statement it runs; until one
        # has, a COPY through the driver would commit on its own.
        await conn.exec_driver_sql("SELECT 1")
    try:
        await driver.copy_records_to_table(
            table.name,
            schema_name=table.schema,
            columns=[table.c[key].name for key in plan.keys],
            records=zip(*columns, strict=True),
        )
    except Exception as error:
        raise _translated(conn, raw.dbapi_connection, plan, error) from error


def _translated(conn: AsyncConnection, adapted: Any, plan: _Plan, error: Exception) -> Exception:
    """The driver's error as SQLAlchemy raises it for a statement (``IntegrityError`` and its kin)."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        adapted._handle_exception(error)  # the adapter's own translation into its DB-API exceptions
    except dbapi.Error as translated:
        return DBAPIError.instance(plan.sql, None, translated, dbapi.Error, dialect=conn.dialect)
    except Exception as other:  # whatever else the adapter made of it, raised as it made it
        return other
    return error


def _columns(plan: _Plan, rows: Sequence[dict[str, Any]]) -> list[Sequence[Any]]:
    """Each column's values, in the form the driver takes."""
    count = len(rows)
    columns: list[Sequence[Any]] = (
        list(zip(*map(plan.pick, rows), strict=True)) if len(plan.keys) > 1 else [[plan.pick(row) for row in rows]]
    )
    for index, process in enumerate(plan.processors):
        if process is None:
            continue
        values = columns[index]
        first = values[0]
        if all(map(operator.is_, values, repeat(first))):
            columns[index] = [process(first)] * count
        else:
            columns[index] = list(map(process, values))
    return columns
