"""Writes that fail after the file was checked: data changed meanwhile, or a database rule the platform
does not know. ``abort`` stops at the batch (409, earlier batches stay) and a re-run with an upsert key
completes the import; ``skip`` writes every row it can and reports the others."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from sqlalchemy import text

from stateyard.entities.schemas import EntityDef
from stateyard.platform import Platform
from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import (
    ITEM,
    Probe,
    audits,
    counts,
    created,
    csv_bytes,
    listed,
    result,
    row_errors,
    upload,
)

ROWS = [["code", "quantity"], *([f"A-{i}", str(i)] for i in range(1, 7))]


def before_writing(platform: Platform, monkeypatch: pytest.MonkeyPatch, work: Callable[[], Awaitable[Any]]) -> None:
    """Run ``work`` once between the check of the file and the first write (another writer gets in)."""
    imports = platform.imports
    original = imports._write_spool

    async def write_spool(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(imports, "_write_spool", original)
        await work()
        return await original(*args, **kwargs)

    monkeypatch.setattr(imports, "_write_spool", write_spool)


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_a_value_taken_meanwhile_interrupts_an_abort_import_and_an_upsert_completes_it(
    admin: Api, alice: Api, item: Any, platform: Platform, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice_subject = await platform.auth.subject_for_user(__import__("uuid").UUID((await alice.me())["id"]))

    async def someone_else() -> None:
        await platform.records.create(alice_subject, "item", {"code": "A-4", "quantity": 40})

    before_writing(platform, monkeypatch, someone_else)
    body = assert_problem(await upload(admin, "item", "items.csv", csv_bytes(ROWS)), 409, "import-interrupted")
    assert "row 5" in body["detail"] and "2 row(s) of the 1 batch(es)" in body["detail"]
    assert (body["imported"], body["batches"], body["skipped"]) == (2, 1, 4)
    assert sorted(r["code"] for r in await listed(admin, "item")) == ["A-1", "A-2", "A-4"]
    assert len(await audits(probe, "item")) == 3

    report = result(await upload(admin, "item", "items.csv", csv_bytes(ROWS), mode="upsert", key="code"))
    assert counts(report) == {"rows": 6, "imported": 3, "updated": 1, "unchanged": 2, "failed": 0, "skipped": 0}
    stored = {r["code"]: r["quantity"] for r in await listed(admin, "item")}
    assert stored == {f"A-{i}": i for i in range(1, 7)}
    # The row alice made keeps its owner; the import only changed its quantity.
    assert {r["code"]: r["owner_id"] for r in await listed(alice, "item")} == {"A-4": (await alice.me())["id"]}


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_skip_reports_a_value_taken_meanwhile_and_writes_the_rest(
    admin: Api, item: Any, platform: Platform, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin_subject = await platform.auth.subject_for_user(__import__("uuid").UUID((await admin.me())["id"]))

    async def someone_else() -> None:
        await platform.records.create(admin_subject, "item", {"code": "A-4"})

    before_writing(platform, monkeypatch, someone_else)
    report = result(await upload(admin, "item", "items.csv", csv_bytes(ROWS), on_error="skip"))
    assert row_errors(report) == [(5, "code", "unique")]
    assert counts(report) == {"rows": 6, "imported": 5, "updated": 0, "unchanged": 0, "failed": 1, "skipped": 0}


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_a_row_removed_meanwhile_interrupts_an_upsert(
    admin: Api, item: Any, platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = await created(admin, "item", {"code": "A-3", "quantity": 0})
    admin_subject = await platform.auth.subject_for_user(__import__("uuid").UUID((await admin.me())["id"]))

    async def someone_else() -> None:
        await platform.records.delete(admin_subject, "item", old["id"])

    before_writing(platform, monkeypatch, someone_else)
    body = assert_problem(
        await upload(admin, "item", "items.csv", csv_bytes(ROWS), mode="upsert", key="code"), 409, "import-interrupted"
    )
    assert "changed while the file was imported" in body["detail"]
    assert sorted(r["code"] for r in await listed(admin, "item")) == ["A-1", "A-2"]


async def add_trigger(probe: Probe, backend: str, table: str) -> None:
    """A rule the database enforces and the platform does not know: no code 'A-4'."""

    async def run() -> None:
        async with probe.platform.db.write() as conn:
            if backend == "sqlite":
                await conn.execute(
                    text(
                        f"CREATE TRIGGER no_a4 BEFORE INSERT ON \"{table}\" WHEN NEW.code = 'A-4' "
                        "BEGIN SELECT RAISE(ABORT, 'A-4 is not allowed'); END"
                    )
                )
            else:
                await conn.execute(
                    text(
                        "CREATE FUNCTION no_a4() RETURNS trigger AS $$ BEGIN IF NEW.code = 'A-4' THEN "
                        "RAISE EXCEPTION 'A-4 is not allowed' USING ERRCODE = 'check_violation'; END IF; "
                        "RETURN NEW; END $$ LANGUAGE plpgsql"
                    )
                )
                await conn.execute(
                    text(f'CREATE TRIGGER no_a4 BEFORE INSERT ON "{table}" FOR EACH ROW EXECUTE FUNCTION no_a4()')
                )

    await probe.call(run)


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_a_database_refusal_skips_only_its_row(admin: Api, item: Any, probe: Probe, backend: str) -> None:
    await add_trigger(probe, backend, probe.platform.registry.snapshot.models["item"].table.name)
    report = result(await upload(admin, "item", "items.csv", csv_bytes(ROWS), on_error="skip"))
    assert [(e["row"], e["code"]) for e in report["errors"]] == [(5, "not_written")]
    assert "A-4 is not allowed" in report["errors"][0]["message"]
    assert counts(report) == {"rows": 6, "imported": 5, "updated": 0, "unchanged": 0, "failed": 1, "skipped": 0}
    stored = await probe.rows("item")
    assert sorted(r["code"] for r in stored) == ["A-1", "A-2", "A-3", "A-5", "A-6"]
    assert sorted(r["row_id"] for r in await audits(probe, "item")) == sorted(r["id"] for r in stored)


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_a_database_refusal_interrupts_an_abort_import(admin: Api, item: Any, probe: Probe, backend: str) -> None:
    await add_trigger(probe, backend, probe.platform.registry.snapshot.models["item"].table.name)
    body = assert_problem(await upload(admin, "item", "items.csv", csv_bytes(ROWS)), 409, "import-interrupted")
    assert "A-4 is not allowed" in body["detail"]
    assert (body["imported"], body["batches"]) == (2, 1)
    assert sorted(r["code"] for r in await probe.rows("item")) == ["A-1", "A-2"]
    assert len(await audits(probe, "item")) == 2


def _item_with(**column_changes: dict[str, Any]) -> EntityDef:
    definition = copy.deepcopy(ITEM)
    for column in definition["columns"]:
        column.update(column_changes.get(column["name"], {}))
    return msgspec.convert(definition, EntityDef)


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_a_definition_changed_meanwhile_interrupts_the_import_before_it_writes(
    admin: Api, item: Any, platform: Platform, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows were checked (and would be encoded) for the columns as they were: none is written."""
    for on_error, quantity_type in (("abort", "float"), ("skip", "integer")):

        async def someone_else(retyped: str = quantity_type) -> None:
            await platform.entities.apply([_item_with(quantity={"type": retyped})], allow_destructive=True)

        before_writing(platform, monkeypatch, someone_else)
        body = assert_problem(
            await upload(admin, "item", "items.csv", csv_bytes(ROWS), on_error=on_error), 409, "import-interrupted"
        )
        assert "the definition of 'item' changed while the file was imported" in body["detail"]
        assert (body["imported"], body["batches"], body["skipped"]) == (0, 0, 6)
        assert await probe.rows("item") == []
        assert await audits(probe, "item") == []


@pytest.mark.parametrize("overrides", [{"import_batch_size": 2}])
async def test_another_entity_defined_meanwhile_does_not_interrupt_the_import(
    admin: Api, item: Any, platform: Platform, probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def someone_else() -> None:
        other = {"name": "other", "columns": [{"name": "label", "type": "string"}]}
        await platform.entities.apply([msgspec.convert(other, EntityDef)])

    before_writing(platform, monkeypatch, someone_else)
    report = result(await upload(admin, "item", "items.csv", csv_bytes(ROWS)))
    assert counts(report) == {"rows": 6, "imported": 6, "updated": 0, "unchanged": 0, "failed": 0, "skipped": 0}
    assert len(await probe.rows("item")) == 6
