"""Live DDL: change tables while the server runs, the same way on SQLite and PostgreSQL.

Alembic's operations do the work. SQLite cannot alter constraints, so where a foreign key
is involved its table is rebuilt (alembic batch mode, copied from the table as we created
it); :meth:`Database.ddl` switches foreign-key enforcement off around such a transaction so
the rebuild cannot cascade into other tables. Runs inside ``AsyncConnection.run_sync``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Column, Connection, Index, MetaData, Table, Uuid, select, text, update
from sqlalchemy.schema import CreateIndex

from stateyard.entities.compiler import identifier


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


class Migrator:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.op = Operations(MigrationContext.configure(conn))

    # -- tables ------------------------------------------------------------------------

    def create_tables(self, metadata: MetaData, tables: list[Table]) -> None:
        metadata.create_all(self.conn, tables=tables, checkfirst=True)

    def drop_table(self, name: str) -> None:
        self.conn.execute(text(f"DROP TABLE IF EXISTS {_quote(self.conn, name)}"))

    def rename_table(self, old: str, new: str) -> None:
        self.op.rename_table(old, new)

    def row_count(self, name: str) -> int:
        quoted = _quote(self.conn, name)  # an identifier the dialect quoted, never user text in a value position
        return int(self.conn.execute(text(f"SELECT COUNT(*) FROM {quoted}")).scalar_one())  # noqa: S608

    # -- columns -----------------------------------------------------------------------

    def add_column(self, current: Table, column: Column[Any], default: Any = None) -> None:
        """Add ``column`` (copied from the new compiled table) and fill existing rows with ``default``."""
        if column.foreign_keys and self.sqlite:
            with self.op.batch_alter_table(current.name, copy_from=current, recreate="always") as batch:
                batch.add_column(column._copy())
        else:
            self.op.add_column(current.name, column._copy())
        if default is not None:
            table = Table(current.name, MetaData(), Column("id", Uuid()), Column(column.name, column.type))
            self.conn.execute(update(table).values({column.name: default}))

    def drop_column(self, current: Table, name: str) -> None:
        for index in list(current.indexes):
            if name in index.columns:
                self.drop_index(current.name, str(index.name))
        column = current.c[name]
        if self.sqlite and column.foreign_keys:
            remaining = [i for i in current.indexes if name not in i.columns]
            slim = _table_without(current, name, remaining)
            with self.op.batch_alter_table(current.name, copy_from=slim, recreate="always") as batch:
                batch.drop_column(name)
            return
        self.conn.execute(text(f"ALTER TABLE {_quote(self.conn, current.name)} DROP COLUMN {_quote(self.conn, name)}"))

    def rename_column(self, table: str, old: str, new: str) -> None:
        quote = self.conn.dialect.identifier_preparer.quote
        self.conn.execute(text(f"ALTER TABLE {quote(table)} RENAME COLUMN {quote(old)} TO {quote(new)}"))

    def resize_column(self, table: str, column: Column[Any]) -> None:
        """Change a column's declared size; SQLite does not enforce sizes, so only PostgreSQL needs it."""
        if not self.sqlite:
            self.op.alter_column(table, column.name, type_=column.type, postgresql_using=None)

    def retype_column(self, current: Table, new_column: Column[Any], convert: Callable[[Any], Any]) -> int:
        """Give a column a new type, converting each value in Python; returns how many became null."""
        name = new_column.name
        temp = identifier("sy_retype", name)
        staging = new_column._copy()
        staging.name = staging.key = temp
        self.op.add_column(current.name, staging)
        lost = 0
        values = self.conn.execute(select(current.c.id, current.c[name])).all()
        target = Table(current.name, MetaData(), Column("id", current.c.id.type), Column(temp, new_column.type))
        for row_id, value in values:
            if value is None:
                continue
            try:
                converted = convert(value)
            except ValueError:
                converted = None
                lost += 1
            if converted is not None:
                self.conn.execute(update(target).where(target.c.id == row_id).values({temp: converted}))
        self.drop_column(current, name)
        self.rename_column(current.name, temp, name)
        return lost

    # -- indexes and keys --------------------------------------------------------------

    def create_index(self, index: Index) -> None:
        self.conn.execute(CreateIndex(index))

    def drop_index(self, table: str, name: str) -> None:
        self.op.drop_index(name, table_name=table)

    def replace_foreign_key(self, current: Table, fk_column: Column[Any]) -> None:
        """Re-create the foreign key of a column as ``fk_column`` declares it (its ON DELETE rule)."""
        name = fk_column.name
        (old_fk,) = current.c[name].foreign_keys
        (new_fk,) = fk_column.foreign_keys
        old_constraint = old_fk.constraint
        # A foreign key of a compiled table always belongs to its (named) ForeignKeyConstraint.
        assert old_constraint is not None
        old_name = str(old_constraint.name)
        new_name = str(new_fk.name)
        target = new_fk.target_fullname.split(".")[0]
        if self.sqlite:
            with self.op.batch_alter_table(current.name, copy_from=current, recreate="always") as batch:
                batch.drop_constraint(old_name, type_="foreignkey")
                batch.create_foreign_key(new_name, target, [name], ["id"], ondelete=new_fk.ondelete)
            return
        self.op.drop_constraint(old_name, current.name, type_="foreignkey")
        self.op.create_foreign_key(new_name, current.name, target, [name], ["id"], ondelete=new_fk.ondelete)


def _table_without(table: Table, column: str, indexes: list[Index]) -> Table:
    """A copy of ``table`` as it is in the database, minus the indexes already dropped."""
    metadata = MetaData()
    copy = table.to_metadata(metadata)
    for index in list(copy.indexes):
        if index.name not in {i.name for i in indexes}:
            copy.indexes.discard(index)
    return copy
