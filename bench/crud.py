"""CRUD throughput of a real ``stateyard serve`` against a bare app doing the same SQL, in one run.

    .venv/bin/python -m bench.crud [--database postgresql://postgres@127.0.0.1/test] [--rows 100000]
        [--duration 10] [--warmup 2] [--rounds 2] [--concurrency 16] [--ops get,list,create,patch]
        [--profile-dir DIR] [--json FILE] [--keep]

1. A fresh database (SQLite in a temp folder, or a fresh schema in the given PostgreSQL database)
   gets the ``bench_item`` entity (string, integer (indexed), float, decimal, boolean, date,
   datetime, enum), a non-admin benchmark user, and ``--rows`` rows owned by that user, bulk
   inserted through SQLAlchemy Core into the compiled table.
2. ``stateyard serve`` (uvicorn, one worker) and ``bench/bare_app.py`` (uvicorn, one worker) start
   as subprocesses on two loopback ports, on that same database.
3. ``bench/loadgen.py`` drives each operation against each server in turn, in its own process,
   with a real bearer token from signin for Stateyard. A ``ping`` against the bare app shows
   what the generator alone can do, and the generator reports its own CPU use.
4. A table gives requests/s per operation for both and the ratio Stateyard/bare (target >= 0.6).

``--profile-dir`` also records Stateyard's server with py-spy (``pip install py-spy``) during each
operation (raw folded stacks, one file per operation); sampling slows the server a little.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from bench import harness
from bench.definitions import ITEM, ITEM_DEFINITION, STATUSES

if TYPE_CHECKING:
    from stateyard.platform import Platform

ENTITY = ITEM
OPS = ("get", "list", "create", "patch")
TARGET_RATIO = 0.6


@dataclass
class Setup:
    user_id: uuid.UUID
    group_ids: list[uuid.UUID]
    row_permission: int
    ids_file: Path


# -- set-up -------------------------------------------------------------------------------


async def insert_items(platform: Platform, owner_id: uuid.UUID, rows: int, rng: random.Random) -> list[uuid.UUID]:
    """``rows`` random ``bench_item`` rows owned by ``owner_id``, bulk inserted into the compiled table."""
    from sqlalchemy import insert

    from stateyard.core.ids import new_id

    model = platform.registry.snapshot.models[ENTITY]
    now = datetime.now(UTC)
    ids: list[uuid.UUID] = []
    started = time.perf_counter()
    chunk = 5000
    for first in range(0, rows, chunk):
        batch = []
        for _ in range(min(chunk, rows - first)):
            row_id = new_id()
            ids.append(row_id)
            batch.append(
                {
                    "id": row_id,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                    "owner_id": owner_id,
                    "permission": model.row_permission,
                    "name": f"item {len(ids)}",
                    "quantity": rng.randrange(1000),
                    "weight": round(rng.uniform(0, 500), 3),
                    "price": Decimal(rng.randrange(100, 10**8)).scaleb(-2),
                    "active": rng.random() < 0.5,
                    "due_on": date(2026, 1, 1) + timedelta(days=rng.randrange(365)),
                    "seen_at": now - timedelta(seconds=rng.randrange(10**7)),
                    "status": rng.choice(STATUSES),
                }
            )
        async with platform.db.write() as conn:
            await conn.execute(insert(model.table), batch)
    await harness.analyze(platform)
    print(f"loaded {rows} rows in {time.perf_counter() - started:.1f} s", flush=True)
    return ids


async def prepare(run: harness.Session, rows: int) -> Setup:
    """Entity, user and rows, through a Platform in this process (the servers start afterwards)."""
    import msgspec

    from stateyard.entities.schemas import EntityDef

    async with harness.platform(run.env) as platform:
        await platform.entities.apply([msgspec.convert(ITEM_DEFINITION, EntityDef)])
        user, group_ids = await harness.create_user(platform)
        rng = random.Random(42)
        ids = await insert_items(platform, user["id"], rows, rng)
        ids_file = run.folder / "ids.txt"
        ids_file.write_text("\n".join(str(i) for i in rng.sample(ids, min(len(ids), 20000))))
        return Setup(
            user_id=user["id"],
            group_ids=group_ids,
            row_permission=platform.registry.snapshot.models[ENTITY].row_permission,
            ids_file=ids_file,
        )


def run(args: argparse.Namespace) -> int:
    with harness.session(args) as session:
        setup = asyncio.run(prepare(session, args.rows))
        ours, bare = harness.start_servers(
            session, harness.bare_caller(setup.user_id, setup.group_ids, setup.row_permission)
        )
        token = harness.signin(ours.base)

        # Both apps must see the same rows through the same predicate, or the comparison means nothing.
        probe = f"/api/{ENTITY}?filter=" + urllib.request.quote(
            json.dumps({"field": "quantity", "op": "equals", "value": 7})
        )
        ours_total = harness.call(ours.base, "GET", probe, token=token)["meta"]["total"]
        bare_total = harness.call(bare.base, "GET", probe)["meta"]["total"]
        if ours_total != bare_total:
            raise SystemExit(f"the apps disagree on a list: stateyard {ours_total} rows, bare {bare_total}")

        options = [f"--entity={ENTITY}", f"--ids={setup.ids_file}"]
        ping = harness.load(session, bare, "ping", options)
        results = harness.measure(session, ours, bare, token, args.ops, lambda target, op: options)
        print()
        print(harness.table(session, results, ping, TARGET_RATIO, note=f"{args.rows} rows, "))
        harness.write_json(session, {"ping": ping, "results": results})
        failed = any(cell["errors"] or cell["conflicts"] for pair in results.values() for cell in pair.values())
        return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_arguments(parser)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--ops", type=lambda s: [o.strip() for o in s.split(",") if o.strip()], default=list(OPS))
    args = parser.parse_args()
    unknown = set(args.ops) - set(OPS)
    if unknown:
        parser.error(f"unknown operation(s): {', '.join(sorted(unknown))}")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
