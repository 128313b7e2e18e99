"""Insert many rows with one ``executemany`` of the driver, values converted column by column.

SQLAlchemy's own executemany converts every value of every row through its column type, one
parameter dictionary at a time. Rows written together (an import batch, the audit records of
that batch) mostly repeat the same values in half their columns: the batch's timestamps, its
owner, its actor, its permission. Here the values are converted per column, a column whose
values are all the one object is converted once, and the driver gets plain tuples. The SQL and
the conversions are SQLAlchemy's own for the dialect (the compiled INSERT and each type's bind
processor), so what is stored is what ``conn.execute(insert(table), rows)`` would store.

On PostgreSQL the batch goes as one statement instead, ``INSERT ... SELECT * FROM unnest(...)``
with one array parameter per column: a single round trip and plan, where executemany runs the
statement once per row (measured: a third less time for an import batch). The arrays are cast
to the columns' base types without length or scale (a cast to ``varchar(n)`` would silently
cut a value), so the columns themselves still refuse what does not fit.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import repeat
from typing import Any

from sqlalchemy import Dialect, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any] | None


class _Plan:
    """The compiled INSERT for one table, dialect and column set, and how each parameter is converted."""

    def __init__(self, sql: str, keys: tuple[str, ...], processors: tuple[Processor, ...], *, arrays: bool) -> None:
        self.sql = sql
        self.keys = keys
        self.processors = processors
        self.pick = operator.itemgetter(*keys)
        #: One array parameter per column (PostgreSQL's unnest) rather than one tuple per row.
        self.arrays = arrays


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
    if dialect.name == "postgresql":
        return _Plan(_unnest_insert(table, keys, dialect), keys, processors, arrays=True)
    return _Plan(str(compiled), keys, processors, arrays=False)


def _unnest_insert(table: Table, keys: tuple[str, ...], dialect: Dialect) -> str:
    quote = dialect.identifier_preparer
    names = ", ".join(quote.quote(table.c[key].name) for key in keys)
    arrays = ", ".join(
        f"${number}::{_MODIFIERS.sub('', table.c[key].type.compile(dialect=dialect))}[]"
        for number, key in enumerate(keys, start=1)
    )
    # Identifiers quoted by the dialect, types compiled from the table: no value reaches the text.
    return f"INSERT INTO {quote.format_table(table)} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608


#: ``VARCHAR(32)`` -> ``VARCHAR``, ``NUMERIC(12, 2)`` -> ``NUMERIC``: the type without its length or scale.
_MODIFIERS = re.compile(r"\([^)]*\)")


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows``, which all have the same keys (the columns to set), in one statement or executemany."""
    if not rows:
        return
    plan = _plan(table, tuple(rows[0]), conn.dialect) if len(rows) > 1 else None
    if plan is None:
        await conn.execute(insert(table), list(rows) if len(rows) > 1 else rows[0])
        return
    columns = _columns(plan, rows)
    if plan.arrays:
        await conn.exec_driver_sql(plan.sql, tuple(columns))
    else:
        await conn.exec_driver_sql(plan.sql, list(zip(*columns, strict=True)))


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
    return [list(values) for values in columns] if plan.arrays else columns
