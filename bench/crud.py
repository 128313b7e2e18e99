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
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENTITY = "bench_item"
EMAIL, PASSWORD = "bench@example.com", "bench-password-1"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"
STATUSES = ("new", "open", "closed", "archived")
OPS = ("get", "list", "create", "patch")
TARGET_RATIO = 0.6

DEFINITION = {
    "name": ENTITY,
    "label": "Benchmark item",
    "columns": [
        {"name": "name", "type": "string", "required": True, "max_length": 100},
        {"name": "quantity", "type": "integer", "indexed": True},
        {"name": "weight", "type": "float"},
        {"name": "price", "type": "decimal", "precision": 12, "scale": 2},
        {"name": "active", "type": "boolean"},
        {"name": "due_on", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "status", "type": "enum", "options": list(STATUSES)},
    ],
}


@dataclass
class Setup:
    user_id: uuid.UUID
    group_ids: list[uuid.UUID]
    row_permission: int
    ids_file: Path


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    base: str
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- set-up -------------------------------------------------------------------------------


async def prepare(env: dict[str, str], rows: int, folder: Path) -> Setup:
    """Entity, user and rows, through a Platform in this process (the servers start afterwards)."""
    import msgspec
    from sqlalchemy import insert

    from stateyard.config import load_settings
    from stateyard.core.ids import new_id
    from stateyard.entities.schemas import EntityDef
    from stateyard.platform import Platform

    settings = load_settings(env)
    platform = Platform(settings)
    await platform.start()
    try:
        await platform.entities.apply([msgspec.convert(DEFINITION, EntityDef)])
        user = await platform.auth.create_user(EMAIL, PASSWORD, name="Benchmark user")
        subject = await platform.auth.subject_for_user(user["id"])
        model = platform.registry.snapshot.models[ENTITY]
        rng = random.Random(42)
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
                        "owner_id": user["id"],
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
        async with platform.db.write() as conn:
            await conn.exec_driver_sql("ANALYZE")
        print(f"loaded {rows} rows in {time.perf_counter() - started:.1f} s", flush=True)
        ids_file = folder / "ids.txt"
        ids_file.write_text("\n".join(str(i) for i in rng.sample(ids, min(len(ids), 20000))))
        return Setup(
            user_id=user["id"],
            group_ids=sorted(subject.group_ids),
            row_permission=model.row_permission,
            ids_file=ids_file,
        )
    finally:
        await platform.stop()


async def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


# -- processes ----------------------------------------------------------------------------


def start(name: str, command: list[str], env: dict[str, str], cwd: Path, port: int, folder: Path) -> Proc:
    log = folder / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
    return Proc(name, process, f"http://127.0.0.1:{port}", log)


def wait_healthy(proc: Proc, deadline_seconds: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise SystemExit(f"{proc.name} exited:\n{proc.log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(proc.base + "/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"{proc.name} did not become healthy:\n{proc.log.read_text(errors='replace')}")


def stop(proc: Proc) -> None:
    if proc.process.poll() is None:
        proc.process.send_signal(signal.SIGTERM)
        try:
            proc.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.process.kill()
            proc.process.wait()


def call(base: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def signin(base: str) -> str:
    directives = call(
        base, "POST", "/action/user_account/signin", {"attributes": {"email": EMAIL, "password": PASSWORD}}
    )
    return str(next(d["attributes"]["value"] for d in directives if d["type"] == "client.store.set"))


def load(target: Proc, op: str, args: argparse.Namespace, ids_file: Path, token: str | None) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "bench.loadgen",
        f"--base={target.base}",
        f"--op={op}",
        f"--entity={ENTITY}",
        f"--ids={ids_file}",
        f"--duration={args.duration}",
        f"--warmup={args.warmup}",
        f"--concurrency={args.concurrency}",
        f"--server-pid={target.process.pid}",
    ]
    if token:
        command.append(f"--token={token}")
    spy = None
    if args.profile_dir and target.name == "stateyard":
        out = Path(args.profile_dir) / f"{args.backend}-{op}.txt"
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                f"--pid={target.process.pid}",
                f"--duration={int(args.warmup + args.duration)}",
                "--rate=250",
                "--format=raw",
                "--nonblocking",
                f"--output={out}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    if spy is not None:
        spy.wait()
    if done.returncode != 0:
        raise SystemExit(f"load generator failed on {target.name} {op}:\n{done.stderr}")
    return dict(json.loads(done.stdout))


# -- report -------------------------------------------------------------------------------


def combined(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one cell as one: rates averaged over the time measured, worst p99 kept."""
    count = len(cells)
    return {
        "rps": sum(c["rps"] for c in cells) / count,
        "errors": sum(c["errors"] for c in cells),
        "p50_ms": sorted(c["p50_ms"] for c in cells)[count // 2],
        "p99_ms": max(c["p99_ms"] for c in cells),
        "server_cpu_pct": sum(c["server_cpu_pct"] for c in cells) / count,
        "loadgen_cpu_pct": sum(c["loadgen_cpu_pct"] for c in cells) / count,
        "rounds": cells,
    }


def table(results: dict[str, dict[str, dict[str, Any]]], ping: dict[str, Any], args: argparse.Namespace) -> str:
    header = (
        f"{'operation':<9} {'stateyard/s':>11} {'bare/s':>9} {'ratio':>6}  "
        f"{'p50 ms sy/bare':>15} {'p99 ms sy/bare':>15} {'cpu% sy/bare':>13} {'loadgen cpu%':>13} {'errors':>8}"
    )
    lines = [header, "-" * len(header)]
    for op, pair in results.items():
        ours, bare = pair["stateyard"], pair["bare"]
        ratio = ours["rps"] / bare["rps"] if bare["rps"] else 0.0
        mark = "" if ratio >= TARGET_RATIO else "  < target"
        lines.append(
            f"{op:<9} {ours['rps']:>11.0f} {bare['rps']:>9.0f} {ratio:>6.2f}  "
            f"{ours['p50_ms']:>7.1f}/{bare['p50_ms']:<7.1f} {ours['p99_ms']:>7.1f}/{bare['p99_ms']:<7.1f} "
            f"{ours['server_cpu_pct']:>6.0f}/{bare['server_cpu_pct']:<6.0f} "
            f"{ours['loadgen_cpu_pct']:>5.0f}/{bare['loadgen_cpu_pct']:<7.0f} "
            f"{ours['errors'] + bare['errors']:>8}{mark}"
        )
    lines.append(
        f"load generator alone (GET /ping on the bare app): {ping['rps']:.0f} req/s "
        f"at {ping['loadgen_cpu_pct']:.0f}% CPU; {args.concurrency} connections, {args.rounds} x {args.duration:g} s "
        f"per cell after {args.warmup:g} s warm-up each, {args.rows} rows, {args.backend}, {os.cpu_count()} CPUs"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    folder = Path(tempfile.mkdtemp(prefix="stateyard-bench-"))
    schema = None
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEYARD_")}
    if args.database:
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        database_url = args.database
        env["STATEYARD_DATABASE_SCHEMA"] = schema
    else:
        database_url = f"sqlite:///{folder / 'bench.db'}"
    env.update(
        STATEYARD_DATABASE_URL=database_url,
        STATEYARD_SECRET_KEY=SECRET,
        STATEYARD_KEY_FILE=str(folder / "stateyard.key"),
        STATEYARD_SCHEMA_DIR=str(folder / "schema"),
        STATEYARD_FIXTURES_DIR=str(folder / "fixtures"),
        STATEYARD_LOG_LEVEL="warning",
        STATEYARD_PASSWORD_HASH_TIME_COST="1",
        STATEYARD_PASSWORD_HASH_MEMORY_KIB="1024",
    )
    args.backend = "postgresql" if schema else "sqlite"
    if args.profile_dir:
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
    procs: list[Proc] = []
    try:
        setup = asyncio.run(prepare(env, args.rows, folder))
        ours_port, bare_port = free_port(), free_port()
        ours = start(
            "stateyard",
            [str(Path(sys.executable).with_name("stateyard")), "serve", "--host=127.0.0.1", f"--port={ours_port}"],
            env,
            folder,
            ours_port,
            folder,
        )
        procs.append(ours)
        bare_command = [
            sys.executable,
            "-m",
            "bench.bare_app",
            f"--database={database_url}",
            f"--port={bare_port}",
            f"--owner={setup.user_id}",
            f"--groups={','.join(str(g) for g in setup.group_ids)}",
            f"--row-permission={setup.row_permission}",
        ]
        if schema:
            bare_command.append(f"--schema={schema}")
        bare = start("bare", bare_command, env, REPO, bare_port, folder)
        procs.append(bare)
        wait_healthy(ours)
        wait_healthy(bare)
        token = signin(ours.base)

        # Both apps must see the same rows through the same predicate, or the comparison means nothing.
        probe = "/api/bench_item?filter=" + urllib.request.quote(
            json.dumps({"field": "quantity", "op": "equals", "value": 7})
        )
        ours_total = call(ours.base, "GET", probe, token=token)["meta"]["total"]
        bare_total = call(bare.base, "GET", probe)["meta"]["total"]
        if ours_total != bare_total:
            raise SystemExit(f"the apps disagree on a list: stateyard {ours_total} rows, bare {bare_total}")

        ping = load(bare, "ping", args, setup.ids_file, None)
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for op in args.ops:
            runs: dict[str, list[dict[str, Any]]] = {"stateyard": [], "bare": []}
            for round_no in range(args.rounds):
                # Alternate who goes first, so that drift on a shared machine hits both alike.
                pair = [(ours, token), (bare, None)]
                for target, tok in pair if round_no % 2 == 0 else pair[::-1]:
                    cell = load(target, op, args, setup.ids_file, tok)
                    runs[target.name].append(cell)
                    print(
                        f"  {op:<7} {target.name:<10} round {round_no + 1}: {cell['rps']:>7.0f} req/s  "
                        f"errors {cell['errors']}",
                        flush=True,
                    )
                    if cell["errors"]:
                        print(f"    statuses {cell['statuses']}; first error: {cell['sample_error']}", flush=True)
            results[op] = {name: combined(cells) for name, cells in runs.items()}
        print()
        print(table(results, ping, args))
        if args.json:
            Path(args.json).write_text(json.dumps({"ping": ping, "results": results}, indent=2))
        failed = any(cell["errors"] for pair in results.values() for cell in pair.values())
        return 1 if failed else 0
    finally:
        for proc in reversed(procs):
            stop(proc)
        if schema:
            with contextlib.suppress(Exception):
                asyncio.run(drop_schema(args.database, schema))
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default=None, help="postgresql://... (default: SQLite in a temp folder)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per operation and app")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="alternating measurements per operation and app")
    parser.add_argument("--ops", type=lambda s: [o.strip() for o in s.split(",") if o.strip()], default=list(OPS))
    parser.add_argument("--profile-dir", default=None, help="record Stateyard with py-spy into this folder")
    parser.add_argument("--json", default=None, help="also write the raw results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (database, logs)")
    args = parser.parse_args()
    unknown = set(args.ops) - set(OPS)
    if unknown:
        parser.error(f"unknown operation(s): {', '.join(sorted(unknown))}")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
