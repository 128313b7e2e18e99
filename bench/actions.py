"""Declared-action calls/s of a real ``stateyard serve`` against a bare handler doing the same update, in one run.

    .venv/bin/python -m bench.actions [--database postgresql://postgres@127.0.0.1/test] [--rows 10000]
        [--duration 10] [--warmup 2] [--rounds 2] [--concurrency 32] [--profile-dir DIR] [--json FILE] [--keep]

1. A fresh database gets the ``bench_item`` entity of ``bench/crud.py``, a non-admin benchmark
   user, 2 x ``--rows`` rows owned by that user (half for each app, so that each app's work can
   be counted on its own afterwards) and the declared action ``touch`` (``bench/definitions.py``),
   saved as ``POST /api/action`` would: it runs on one row (``instance_required``), takes
   ``weight`` and ``status`` inputs, and has two outcomes, an ``update`` of the row and a
   ``client.notify`` naming it.
2. ``stateyard serve`` and ``bench/bare_app.py`` start on that database (see ``bench/harness.py``).
3. ``bench/loadgen.py`` calls ``POST /action/bench_item/touch`` with ``--concurrency`` clients,
   each on a random row of its app.
4. A table gives calls/s for both and the ratio Stateyard/bare (target >= 0.5). Then the database
   is checked, for each app on its own rows: audit records of updates, the sum of the rows'
   version increments and the 2xx answers of every run (warm-up included) must be equal.

What the bare handler does per call: check the inputs, select the row (``FOR UPDATE`` on
PostgreSQL), check execute and update permission, versioned update, audit row, one transaction;
it answers the row and the notice as client directives.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import harness
from bench.crud import insert_items
from bench.definitions import ACTION, ACTION_NAME, ITEM, ITEM_DEFINITION

TARGET_RATIO = 0.5
OP = "act"


@dataclass
class Setup:
    user_id: uuid.UUID
    group_ids: list[uuid.UUID]
    row_permission: int
    #: app name -> the rows its action calls touch, and the file of their ids for the load generator
    rows: dict[str, list[uuid.UUID]]
    ids_files: dict[str, Path]


async def prepare(run: harness.Session, rows: int) -> Setup:
    import msgspec

    from stateyard.auth.permissions import SYSTEM
    from stateyard.entities.schemas import EntityDef

    async with harness.platform(run.env) as platform:
        await platform.entities.apply([msgspec.convert(ITEM_DEFINITION, EntityDef)])
        user, group_ids = await harness.create_user(platform)
        await platform.records.create(SYSTEM, "action", ACTION)
        if platform.action_catalog.get(ITEM, ACTION_NAME) is None:
            raise SystemExit("the action was saved but the catalog does not know it")
        ids = await insert_items(platform, user["id"], 2 * rows, random.Random(42))
        split = {"stateyard": ids[:rows], "bare": ids[rows:]}
        ids_files = {}
        for name, chosen in split.items():
            ids_files[name] = run.folder / f"{name}-ids.txt"
            ids_files[name].write_text("".join(f"{i}\n" for i in chosen))
        model = platform.registry.snapshot.models[ITEM]
        return Setup(user["id"], group_ids, model.row_permission, split, ids_files)


async def check(run: harness.Session, setup: Setup, answered: dict[str, int]) -> bool:
    """Audit records of updates, version increments and 2xx answers must agree, for each app on its own rows."""
    from sqlalchemy import func, select

    from bench.bare_app import audit, items
    from stateyard.core.db import Database

    db = Database(run.database_url, schema=run.schema)
    try:
        async with db.read() as conn:
            versions = dict((await conn.execute(select(items.c.id, items.c.version))).all())
            audited = dict(
                (
                    await conn.execute(
                        select(audit.c.row_id, func.count())
                        .where(audit.c.entity == ITEM, audit.c.operation == "update")
                        .group_by(audit.c.row_id)
                    )
                ).all()
            )
    finally:
        await db.dispose()
    ok = True
    print("consistency, per app on its own rows:")
    for name, ids in setup.rows.items():
        counts = {
            "2xx answers": answered[name],
            "audit update records": sum(audited.get(i, 0) for i in ids),
            "version increments": sum(versions[i] - 1 for i in ids),
        }
        same = len(set(counts.values())) == 1
        ok = ok and same
        shown = ", ".join(f"{what} {count}" for what, count in counts.items())
        print(f"  {name:<10} {shown}: {'ok' if same else 'MISMATCH'}")
    return ok


def run(args: argparse.Namespace) -> int:
    with harness.session(args) as session:
        setup = asyncio.run(prepare(session, args.rows))
        ours, bare = harness.start_servers(
            session, harness.bare_caller(setup.user_id, setup.group_ids, setup.row_permission)
        )
        token = harness.signin(ours.base)

        def options(target: harness.Proc, op: str) -> list[str]:
            return [f"--entity={ITEM}", f"--ids={setup.ids_files[target.name]}", f"--action={ACTION_NAME}"]

        ping = harness.load(session, bare, "ping", [])
        results = harness.measure(session, ours, bare, token, [OP], options)
        print()
        print(harness.table(session, results, ping, TARGET_RATIO, unit="calls", note=f"{args.rows} rows each, "))
        answered = {name: sum(c["total_ok"] for c in cell["rounds"]) for name, cell in results[OP].items()}
        consistent = asyncio.run(check(session, setup, answered))
        harness.write_json(session, {"ping": ping, "results": results, "consistent": consistent})
        failed = any(cell["errors"] or cell["conflicts"] for cell in results[OP].values())
        return 1 if failed or not consistent else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_arguments(parser, concurrency=32)
    parser.add_argument("--rows", type=int, default=10_000, help="rows per app")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
