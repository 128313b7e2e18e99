"""Import and export throughput against bare loops doing the same file and SQL work, in one run.

    .venv/bin/python -m bench.io [--database postgresql://postgres@127.0.0.1/test] [--rows 100000]
        [--memory-rows 1000000] [--rounds 2] [--keep]

1. A fresh database (SQLite in a temp folder, or a fresh schema in the given PostgreSQL database)
   gets four copies of an entity with 8 typed columns (a unique string code, string, integer,
   decimal, float, boolean, date, datetime), a non-admin user, and a CSV and an XLSX file of
   ``--rows`` rows.
2. Import: Stateyard's import service (as that user: every row checked like a create, one
   audit record per row, committed batches; the garbage collector tuned first, as the
   ``stateyard`` commands do, see ``stateyard.core.heap``) against a bare loop that reads the same file (stdlib
   csv, or python-calamine), converts each cell with the plain type constructor and inserts
   batches of 1000 with ``executemany`` into an identical table, committing each.
3. Export: Stateyard's export (the rows the user may read, through the presenter, into its CSV
   and XLSX writers) against a bare loop that selects the same rows and writes them with the csv
   module and xlsxwriter directly.
4. Memory: ``stateyard import`` and ``stateyard export`` of a ``--memory-rows`` CSV run as child
   processes; their peak resident memory (``ru_maxrss``) is printed (target < 300 MB).

Each measurement alternates who goes first round after round; the table prints rows/s for both
and the ratio Stateyard/bare (targets: import >= 0.5, export >= 0.7).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import functools
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import harness

ENTITIES = ("io_csv", "io_xlsx", "bare_csv", "bare_xlsx")
COLUMNS = ["code", "name", "quantity", "price", "weight", "active", "due", "seen_at"]
TARGETS = {"import": 0.5, "export": 0.7}
BATCH = 1000


def definition(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "columns": [
            {"name": "code", "type": "string", "required": True, "unique": True, "max_length": 32},
            {"name": "name", "type": "string", "max_length": 200},
            {"name": "quantity", "type": "integer", "min": 0},
            {"name": "price", "type": "decimal", "precision": 12, "scale": 2},
            {"name": "weight", "type": "float"},
            {"name": "active", "type": "boolean"},
            {"name": "due", "type": "date"},
            {"name": "seen_at", "type": "datetime"},
        ],
    }


def make_rows(count: int, seed: int = 7) -> list[list[Any]]:
    rng = random.Random(seed)
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [
        [
            f"C{i:09d}",
            f"item number {i}",
            rng.randrange(10_000),
            Decimal(rng.randrange(100, 10**8)).scaleb(-2),
            round(rng.uniform(0, 500), 3),
            rng.random() < 0.5,
            (start + dt.timedelta(days=rng.randrange(365))).date(),
            start + dt.timedelta(seconds=rng.randrange(10**7)),
        ]
        for i in range(count)
    ]


def write_csv(path: Path, rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(
                [
                    v.isoformat() if isinstance(v, dt.date) else ("true" if v is True else "false" if v is False else v)
                    for v in row
                ]
            )


def write_csv_stream(path: Path, count: int) -> None:
    """A large CSV without holding its rows (for the memory measurement)."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        for start in range(0, count, 50_000):
            rows = make_rows(min(50_000, count - start), seed=start)
            for offset, row in enumerate(rows):
                row[0] = f"M{start + offset:09d}"
            writer.writerows([v.isoformat() if isinstance(v, dt.date) else v for v in row] for row in rows)


def write_xlsx(path: Path, rows: list[list[Any]]) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "remove_timezone": True})
    sheet = book.add_worksheet()
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    moment_format = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, COLUMNS)
    for r, row in enumerate(rows, start=1):
        code, name, quantity, price, weight, active, due, seen_at = row
        sheet.write_string(r, 0, code)
        sheet.write_string(r, 1, name)
        sheet.write_number(r, 2, quantity)
        sheet.write_number(r, 3, float(price))
        sheet.write_number(r, 4, weight)
        sheet.write_boolean(r, 5, active)
        sheet.write_datetime(r, 6, dt.datetime.combine(due, dt.time(0)), date_format)
        sheet.write_datetime(r, 7, seen_at.replace(tzinfo=None), moment_format)
    book.close()


# -- the bare loops -----------------------------------------------------------------------------


def _bare_values(cells: list[Any], typed: bool) -> dict[str, Any]:
    code, name, quantity, price, weight, active, due, seen_at = cells
    if typed:  # calamine cells: numbers as floats, dates as dates
        return {
            "code": code,
            "name": name,
            "quantity": int(quantity),
            "price": Decimal(str(price)),
            "weight": float(weight),
            "active": bool(active),
            "due": due if isinstance(due, dt.date) and not isinstance(due, dt.datetime) else due.date(),
            # calamine reads a date-time at midnight as a date
            "seen_at": dt.datetime.combine(seen_at, dt.time(0), dt.UTC)
            if not isinstance(seen_at, dt.datetime)
            else seen_at.replace(tzinfo=dt.UTC),
        }
    return {
        "code": code,
        "name": name,
        "quantity": int(quantity),
        "price": Decimal(price),
        "weight": float(weight),
        "active": active == "true",
        "due": dt.date.fromisoformat(due),
        "seen_at": dt.datetime.fromisoformat(seen_at),
    }


async def bare_import(platform: Any, entity: str, path: Path, owner: Any) -> int:
    from sqlalchemy import insert

    from stateyard.core.ids import new_id

    model = platform.registry.snapshot.models[entity]
    table = model.table
    now = dt.datetime.now(dt.UTC)
    typed = path.suffix == ".xlsx"
    if typed:
        from python_calamine import CalamineWorkbook

        records = iter(CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).iter_rows())
    else:
        handle = path.open(newline="", encoding="utf-8")
        records = csv.reader(handle)
    next(records)
    count = 0
    batch: list[dict[str, Any]] = []

    async def flush() -> None:
        async with platform.db.write() as conn:
            await conn.execute(insert(table), batch)

    for cells in records:
        row = _bare_values(list(cells), typed)
        row.update(
            id=new_id(), version=1, created_at=now, updated_at=now, owner_id=owner, permission=model.row_permission
        )
        batch.append(row)
        count += 1
        if len(batch) >= BATCH:
            await flush()
            batch = []
    if batch:
        await flush()
    if not typed:
        handle.close()
    return count


async def bare_export(platform: Any, entity: str, path: Path, owner: Any, kind: str) -> int:
    from sqlalchemy import select

    table = platform.registry.snapshot.models[entity].table
    columns = [table.c.id, *(table.c[c] for c in COLUMNS)]
    stmt = select(*columns).where(table.c.owner_id == owner).order_by(table.c.id)
    count = 0
    async with platform.db.read() as conn:
        result = await conn.stream(stmt.execution_options(yield_per=BATCH))
        if kind == "csv":
            with path.open("w", newline="", encoding="utf-8") as file:
                writer = csv.writer(file)
                writer.writerow(["id", *COLUMNS])
                async for part in result.partitions(BATCH):
                    writer.writerows(part)
                    count += len(part)
            return count
        import xlsxwriter

        book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "remove_timezone": True})
        sheet = book.add_worksheet()
        moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        sheet.write_row(0, 0, ["id", *COLUMNS])
        r = 1
        async for part in result.partitions(BATCH):
            for row_id, code, name, quantity, price, weight, active, due, seen_at in part:
                sheet.write_string(r, 0, str(row_id))
                sheet.write_string(r, 1, code)
                sheet.write_string(r, 2, name)
                sheet.write_number(r, 3, quantity)
                sheet.write_number(r, 4, float(price))
                sheet.write_number(r, 5, weight)
                sheet.write_boolean(r, 6, active)
                sheet.write_datetime(r, 7, dt.datetime.combine(due, dt.time(0)), day)
                sheet.write_datetime(r, 8, seen_at.replace(tzinfo=None), moment)
                r += 1
            count += len(part)
        await asyncio.to_thread(book.close)
        return count


# -- Stateyard ------------------------------------------------------------------------------------


async def ours_import(platform: Any, entity: str, path: Path, subject: Any) -> int:
    from stateyard.io.actions import xlsx_limits
    from stateyard.io.importer import ImportOptions
    from stateyard.io.readers import ReadOptions, detect_format, open_source

    kind = detect_format(path.name, None, None)
    size = await asyncio.to_thread(os.path.getsize, path)
    handles: list[Any] = []

    def opener() -> Any:
        handle = path.open("rb")
        handles.append(handle)
        return open_source(kind, handle, size, ReadOptions(), xlsx_limits(platform))

    try:
        report = await platform.imports.run(subject, entity, opener, ImportOptions(), format_name=kind)
    finally:
        for handle in handles:
            handle.close()
    if report.failed:
        raise SystemExit(f"our import refused rows: {report.errors[:3]}")
    return int(report.imported)


async def ours_export(platform: Any, entity: str, path: Path, subject: Any, kind: str) -> int:
    from stateyard.io.exporter import ExportSpec

    plan = await platform.exports.plan(subject, entity, ExportSpec(format=kind))  # type: ignore[arg-type]
    with path.open("wb") as sink:
        return int(await platform.exports.write(subject, plan, sink))


async def clear(platform: Any, *entities: str) -> None:
    from sqlalchemy import delete

    async with platform.db.write() as conn:
        for entity in entities:
            await conn.execute(delete(platform.registry.snapshot.models[entity].table))
        await conn.execute(delete(platform.registry.snapshot.models["audit_log"].table))


async def timed(work: Callable[[], Awaitable[int]]) -> tuple[int, float]:
    started = time.perf_counter()
    count = await work()
    return count, time.perf_counter() - started


# -- the run ----------------------------------------------------------------------------------------


async def measure(session: harness.Session, rows: int, rounds: int) -> dict[str, dict[str, float]]:
    import msgspec

    from stateyard.core.heap import tune_garbage_collector
    from stateyard.entities.schemas import EntityDef

    folder = session.folder
    data = make_rows(rows)
    files = {"csv": folder / "rows.csv", "xlsx": folder / "rows.xlsx"}
    write_csv(files["csv"], data)
    write_xlsx(files["xlsx"], data)
    del data
    sizes = ", ".join(f"{kind} {path.stat().st_size // 1024} KiB" for kind, path in files.items())
    print(f"files: {rows} rows, {sizes}", flush=True)
    results: dict[str, dict[str, float]] = {}
    async with harness.platform(session.env) as platform:
        await platform.entities.apply([msgspec.convert(definition(name), EntityDef) for name in ENTITIES])
        user, _ = await harness.create_user(platform)
        subject = await platform.auth.subject_for_user(user["id"])
        # As the commands do once their platform is started (``stateyard import`` included).
        tune_garbage_collector()
        for kind in ("csv", "xlsx"):
            ours_entity, bare_entity = f"io_{kind}", f"bare_{kind}"
            ours_times: list[float] = []
            bare_times: list[float] = []
            for round_number in range(rounds):
                await clear(platform, ours_entity, bare_entity)
                steps = [
                    ("ours", functools.partial(ours_import, platform, ours_entity, files[kind], subject)),
                    ("bare", functools.partial(bare_import, platform, bare_entity, files[kind], user["id"])),
                ]
                if round_number % 2:
                    steps.reverse()
                for who, work in steps:
                    count, seconds = await timed(work)
                    if count != rows:
                        raise SystemExit(f"{who} imported {count} of {rows} rows")
                    (ours_times if who == "ours" else bare_times).append(seconds)
            results[f"import {kind}"] = {"ours": rows / min(ours_times), "bare": rows / min(bare_times)}
            print(f"import {kind}: ours {min(ours_times):.2f} s, bare {min(bare_times):.2f} s", flush=True)
        for kind in ("csv", "xlsx"):
            ours_times, bare_times = [], []
            for round_number in range(rounds):
                steps = [
                    (
                        "ours",
                        functools.partial(ours_export, platform, "io_csv", folder / f"ours.{kind}", subject, kind),
                    ),
                    (
                        "bare",
                        functools.partial(bare_export, platform, "bare_csv", folder / f"bare.{kind}", user["id"], kind),
                    ),
                ]
                if round_number % 2:
                    steps.reverse()
                for who, work in steps:
                    count, seconds = await timed(work)
                    if count != rows:
                        raise SystemExit(f"{who} exported {count} of {rows} rows")
                    (ours_times if who == "ours" else bare_times).append(seconds)
            results[f"export {kind}"] = {"ours": rows / min(ours_times), "bare": rows / min(bare_times)}
            print(f"export {kind}: ours {min(ours_times):.2f} s, bare {min(bare_times):.2f} s", flush=True)
    return results


def peak_memory(session: harness.Session, rows: int) -> dict[str, float]:
    """Peak RSS (MB) of ``stateyard import`` and ``stateyard export`` of a ``rows``-row CSV, as child processes."""
    import msgspec

    from stateyard.entities.schemas import EntityDef

    async def prepare() -> None:
        async with harness.platform(session.env) as platform:
            await platform.entities.apply([msgspec.convert(definition("io_memory"), EntityDef)])

    asyncio.run(prepare())
    path = session.folder / "memory.csv"
    write_csv_stream(path, rows)
    command = [str(Path(sys.executable).with_name("stateyard"))]
    peaks = {}
    for label, args in (
        ("import", ["import", str(path), "--entity", "io_memory", "--as", harness.EMAIL]),
        (
            "export",
            ["export", "--entity", "io_memory", "--format", "csv", "-o", str(session.folder / "memory-out.csv")],
        ),
    ):
        started = time.perf_counter()
        process = subprocess.Popen([*command, *args], env=session.env, cwd=session.folder, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"stateyard {label} failed with exit code {process.returncode}")
        peaks[label] = usage.ru_maxrss / 1024
        print(f"{label} {rows} rows: {time.perf_counter() - started:.1f} s, peak RSS {peaks[label]:.0f} MB", flush=True)
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=None, help="postgresql://... (default: SQLite in a temp folder)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--memory-rows", type=int, default=1_000_000, help="0 skips the memory measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    args.profile_dir = None
    with harness.session(args) as session:
        session.env["STATEYARD_IMPORT_MAX_ROWS"] = str(max(args.rows, args.memory_rows))
        results = asyncio.run(measure(session, args.rows, args.rounds))
        peaks = peak_memory(session, args.memory_rows) if args.memory_rows else {}
    print()
    print(f"{session.backend}, {args.rows} rows, best of {args.rounds}")
    print(f"{'operation':<14}{'stateyard rows/s':>18}{'bare rows/s':>14}{'ratio':>8}{'target':>8}")
    failed = False
    for name, figures in results.items():
        ratio = figures["ours"] / figures["bare"]
        target = TARGETS[name.split()[0]]
        failed |= ratio < target
        print(f"{name:<14}{figures['ours']:>18,.0f}{figures['bare']:>14,.0f}{ratio:>8.2f}{target:>8.2f}")
    for label, peak in peaks.items():
        failed |= peak >= 300
        print(f"peak RSS of a {args.memory_rows}-row CSV {label}: {peak:.0f} MB (target < 300)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
