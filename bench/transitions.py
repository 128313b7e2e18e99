"""State-machine transitions/s of a real ``stateyard serve`` against a bare handler doing the same SQL, in one run.

    .venv/bin/python -m bench.transitions [--database postgresql://postgres@127.0.0.1/test] [--rows 1000]
        [--duration 10] [--warmup 2] [--rounds 2] [--concurrency 32] [--profile-dir DIR] [--json FILE] [--keep]

1. A fresh database gets the ``bench_ticket`` entity, a non-admin benchmark user and the
   ``ticket_flow`` machine (``bench/definitions.py``: a cycle open -> working -> review -> open,
   one guarded event, ``auto_start``), declared as ``POST /api/state_machine`` would. Then
   2 x ``--rows`` tickets are created through the records service as that user, so that each
   starts the machine as any new row would: ``--rows`` object states for Stateyard, as many
   others for the bare app, so that each app's work can be counted on its own afterwards.
2. ``stateyard serve`` and ``bench/bare_app.py`` start on that database (see ``bench/harness.py``).
3. ``bench/loadgen.py`` fires events with ``--concurrency`` clients: each picks a random object
   state of its app and fires the event valid in the state it last knew for it
   (``POST /api/event/bench_ticket/<object_state_id>/<event>``). Two clients racing on one
   object state make one of them get a 409 (the state moved on): that is counted apart, not
   as an error, and the answer tells the generator the state now.
4. A table gives transitions/s for both and the ratio Stateyard/bare (target >= 0.6). Then
   the database is checked, for each app: history rows written by events, the sum of the
   object states' version increments and the 2xx answers of every run (warm-up included)
   must be equal, and so must the ``event.fired`` outbox rows.

What the bare handler does per event: select the object state (``FOR UPDATE`` on PostgreSQL)
and its row, check execute permission, state and guard in Python, versioned update of the
object state, insert the history row and the three outbox rows (one multi-row insert),
one transaction: the same rows Stateyard writes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench import harness
from bench.definitions import MACHINE, TICKET, TICKET_DEFINITION

TARGET_RATIO = 0.6
OP = "fire"


@dataclass
class Setup:
    user_id: uuid.UUID
    group_ids: list[uuid.UUID]
    row_permission: int
    #: app name -> the object states it fires events on
    object_states: dict[str, list[uuid.UUID]]
    #: app name -> '<object state id> <state>' file, rewritten by the load generator after each run
    states_files: dict[str, Path]


async def prepare(run: harness.Session, rows: int) -> Setup:
    import msgspec
    from sqlalchemy import select

    from stateyard.auth.permissions import SYSTEM
    from stateyard.entities.schemas import EntityDef

    async with harness.platform(run.env) as platform:
        await platform.entities.apply([msgspec.convert(TICKET_DEFINITION, EntityDef)])
        user, group_ids = await harness.create_user(platform)
        await platform.records.create(SYSTEM, "state_machine", MACHINE)
        if not platform.catalog.for_entity(TICKET):
            raise SystemExit("the machine was saved but the catalog does not know it")
        subject = await platform.auth.subject_for_user(user["id"])
        snapshot = platform.registry.snapshot
        model = snapshot.models[TICKET]
        started = time.perf_counter()
        async with platform.db.write() as conn:
            for n in range(2 * rows):
                await platform.records.create_in(
                    conn, snapshot, subject, model, {"title": f"ticket {n}", "priority": n % 5}
                )
        await harness.analyze(platform)
        states = snapshot.models["object_state"].table
        async with platform.db.read() as conn:
            found = list(
                await conn.scalars(
                    select(states.c.id).where(states.c.entity == TICKET).order_by(states.c.created_at, states.c.id)
                )
            )
        print(f"created {2 * rows} {TICKET} rows and their object states in {time.perf_counter() - started:.1f} s")
        if len(found) != 2 * rows:
            raise SystemExit(f"expected {2 * rows} object states, found {len(found)}")
        initial = MACHINE["initial_state"]
        object_states = {"stateyard": found[:rows], "bare": found[rows:]}
        states_files = {}
        for name, ids in object_states.items():
            states_files[name] = run.folder / f"{name}-states.txt"
            states_files[name].write_text("".join(f"{i} {initial}\n" for i in ids))
        return Setup(user["id"], group_ids, model.row_permission, object_states, states_files)


async def check(run: harness.Session, setup: Setup, answered: dict[str, int]) -> bool:
    """History rows, version increments and 2xx answers must agree, for each app on its own rows."""
    from sqlalchemy import func, select

    from bench.bare_app import object_states, outbox, transitions
    from stateyard.core.db import Database

    db = Database(run.database_url, schema=run.schema)
    try:
        async with db.read() as conn:
            stored = (
                await conn.execute(
                    select(object_states.c.id, object_states.c.version, object_states.c.row_id).where(
                        object_states.c.entity == TICKET
                    )
                )
            ).all()
            history = dict(
                (
                    await conn.execute(
                        select(transitions.c.object_state_id, func.count())
                        .where(transitions.c.entity == TICKET, transitions.c.event.not_like("@%"))
                        .group_by(transitions.c.object_state_id)
                    )
                ).all()
            )
            fired = dict(
                (
                    await conn.execute(
                        select(outbox.c.row_id, func.count())
                        .where(outbox.c.entity == TICKET, outbox.c.topic == "event.fired")
                        .group_by(outbox.c.row_id)
                    )
                ).all()
            )
    finally:
        await db.dispose()
    versions = {r.id: r.version for r in stored}
    rows_of = {r.id: r.row_id for r in stored}
    ok = True
    print("consistency, per app on its own object states:")
    for name, ids in setup.object_states.items():
        counts = {
            "2xx answers": answered[name],
            "history rows": sum(history.get(i, 0) for i in ids),
            "version increments": sum(versions[i] - 1 for i in ids),
            "event.fired outbox rows": sum(fired.get(rows_of[i], 0) for i in ids),
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
            return [f"--entity={TICKET}", f"--states={setup.states_files[target.name]}"]

        ping = harness.load(session, bare, "ping", [])
        results = harness.measure(session, ours, bare, token, [OP], options)
        print()
        print(harness.table(session, results, ping, TARGET_RATIO, unit="transitions", note=f"{args.rows} rows each, "))
        answered = {name: sum(c["total_ok"] for c in cell["rounds"]) for name, cell in results[OP].items()}
        consistent = asyncio.run(check(session, setup, answered))
        harness.write_json(session, {"ping": ping, "results": results, "consistent": consistent})
        failed = any(cell["errors"] for cell in results[OP].values())
        return 1 if failed or not consistent else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    harness.add_arguments(parser, concurrency=32)
    parser.add_argument("--rows", type=int, default=1000, help="object states per app")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
