"""Revocation costs no query per request: a known caller is resolved from memory, revoked or not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from stateyard.core.errors import ProblemError
from stateyard.platform import Platform
from tests.conftest import Api
from tests.integration.actions.users.conftest import PASSWORD, act, signin
from tests.integration.auth.support import Db


@contextmanager
def counted(platform: Platform) -> Iterator[list[str]]:
    """Every query either engine runs inside the block (SQLite's BEGIN statements aside)."""
    statements: list[str] = []
    engines = {platform.db.engine.sync_engine, platform.db._read_engine.sync_engine}

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def resolve(db: Db, api: Api, times: int = 20) -> None:
    for _ in range(times):
        await db.run(db.platform.auth.subject_for, f"Bearer {api.token}")


async def test_a_known_caller_costs_no_query(guest: Api, alice: Api, bob: Api, db: Db) -> None:
    await resolve(db, alice, 1)
    with counted(db.platform) as statements:
        await resolve(db, alice)
    assert statements == []
    # After a sign-out (a security change) the revoked ids and the caller are loaded once, then kept.
    assert (await act(bob, "signout")).status_code == 200
    with counted(db.platform) as statements:
        await resolve(db, alice)
    assert len(statements) == 2, statements
    with counted(db.platform) as statements:
        await resolve(db, alice)
        with pytest.raises(ProblemError):
            await db.run(db.platform.auth.subject_for, f"Bearer {bob.token}")
    assert statements == []


async def test_signing_in_is_still_one_query(guest: Api, alice: Api, db: Db) -> None:
    with counted(db.platform) as statements:
        assert (await signin(guest, "alice@example.com", PASSWORD)).status_code == 200
    assert len(statements) == 1, statements
