"""Batches are committed in file order. On PostgreSQL the next batch is written while the one before
is still open (its rows converted and sent while the server stores the others), but it commits only
after that one has, and is rolled back if that one fails; SQLite writes one batch at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.permissions import Subject
from stateyard.crud.store import NewRow
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot
from stateyard.platform import Platform
from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import Probe, audits, counts, csv_bytes, result, upload

ROWS = [["code", "quantity"], *([f"A-{i}", str(i)] for i in range(1, 7))]


async def committed(platform: Platform) -> list[str]:
    """Item codes another connection sees (what is committed)."""
    table = platform.registry.snapshot.models["item"].table
    async with platform.db.read() as conn:
        return sorted(code for (code,) in await conn.execute(select(table.c.code)))


def after_each_batch(
    platform: Platform, monkeypatch: pytest.MonkeyPatch, hook: Callable[[int, AsyncConnection], Awaitable[None]]
) -> list[list[str]]:
    """Run ``hook(batch number, connection)`` once each batch's rows are written, before it commits;
    the codes each batch wrote, in the order written. Batches written side by side may reach this
    in either order, so a batch is known by its rows (two per batch: A-1 and A-2 are batch 1)."""
    store = platform.store
    original = store.insert_many
    written: list[list[str]] = []

    async def insert_many(
        conn: AsyncConnection, snapshot: Snapshot, model: Model, rows: Sequence[NewRow], *, actor: Subject
    ) -> list[dict[str, Any]]:
        stored = await original(conn, snapshot, model, rows, actor=actor)
        codes = [row.values["code"] for row in rows]
        written.append(codes)
        await hook((int(codes[0].removeprefix("A-")) + 1) // 2, conn)
        return stored

    monkeypatch.setattr(store, "insert_many", insert_many)
    return written


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_the_next_batch_is_written_meanwhile_but_commits_after(
    admin: Api, item: Any, platform: Platform, probe: Probe, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    second_written = asyncio.Event()
    seen_while_first_open: list[list[str]] = []

    async def hook(number: int, conn: AsyncConnection) -> None:
        if number == 2:
            second_written.set()
        if number == 1 and backend == "postgresql":
            # The first batch holds its transaction open until the second has written its rows.
            await asyncio.wait_for(second_written.wait(), timeout=10)
            seen_while_first_open.append(await committed(platform))

    written = after_each_batch(platform, monkeypatch, hook)
    report = result(await upload(admin, "item", "items.csv", csv_bytes(ROWS)))
    assert counts(report) == {"rows": 6, "imported": 6, "updated": 0, "unchanged": 0, "failed": 0, "skipped": 0}
    assert report["batches"] == 3
    assert sorted(written) == [["A-1", "A-2"], ["A-3", "A-4"], ["A-5", "A-6"]]
    if backend == "postgresql":
        # Both batches written, neither committed: the second waits for the first.
        assert seen_while_first_open == [[]]
    # Ids follow the file, whichever batch was written first (rows come in id order).
    assert [r["code"] for r in await probe.rows("item")] == [f"A-{i}" for i in range(1, 7)]
    assert len(await audits(probe, "item")) == 6


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_a_batch_written_after_a_failed_one_is_rolled_back(
    admin: Api, item: Any, platform: Platform, probe: Probe, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second batch fails once the third has been written (on PostgreSQL): the third must not stay."""
    third_written = asyncio.Event()

    async def hook(number: int, conn: AsyncConnection) -> None:
        if number == 3:
            third_written.set()
        if number == 2:
            if backend == "postgresql":
                await asyncio.wait_for(third_written.wait(), timeout=10)
            # A database refusal the file check could not foresee (as a trigger would raise).
            await conn.exec_driver_sql("SELECT * FROM no_such_table")

    written = after_each_batch(platform, monkeypatch, hook)
    body = assert_problem(await upload(admin, "item", "items.csv", csv_bytes(ROWS)), 409, "import-interrupted")
    assert (body["imported"], body["batches"], body["skipped"]) == (2, 1, 4)
    assert "2 row(s) of the 1 batch(es)" in body["detail"]
    assert sorted(r["code"] for r in await probe.rows("item")) == ["A-1", "A-2"]
    assert len(await audits(probe, "item")) == 2
    assert len(written) == (3 if backend == "postgresql" else 2)
