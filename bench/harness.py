"""What every benchmark shares: a fresh database, the two servers, the load generator, the report.

A benchmark script (``bench/crud.py``, ``bench/transitions.py``, ``bench/actions.py``) opens a
:func:`session` (a temp folder, and SQLite in it or a fresh schema in the given PostgreSQL
database), prepares its data through a :func:`platform` in its own process, starts
``stateyard serve`` and ``bench/bare_app.py`` on that database with :func:`start_servers`,
and drives both with ``bench/loadgen.py`` through :func:`measure`, which alternates who goes
first round after round so that drift on a shared machine hits both alike. :func:`table`
prints requests/s per operation for both and the ratio Stateyard/bare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
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
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stateyard.platform import Platform

REPO = Path(__file__).resolve().parents[1]
EMAIL, PASSWORD = "bench@example.com", "bench-password-1"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    base: str
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Session:
    """One benchmark run: its arguments, temp folder, database and the processes it started."""

    args: argparse.Namespace
    folder: Path
    env: dict[str, str]
    database_url: str
    schema: str | None
    procs: list[Proc] = field(default_factory=list)

    @property
    def backend(self) -> str:
        return "postgresql" if self.schema else "sqlite"


def add_arguments(parser: argparse.ArgumentParser, *, duration: float = 10.0, concurrency: int = 16) -> None:
    """The options every benchmark takes."""
    parser.add_argument("--database", default=None, help="postgresql://... (default: SQLite in a temp folder)")
    parser.add_argument("--duration", type=float, default=duration, help="seconds measured per operation and app")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=concurrency)
    parser.add_argument("--rounds", type=int, default=2, help="alternating measurements per operation and app")
    parser.add_argument("--profile-dir", default=None, help="record Stateyard with py-spy into this folder")
    parser.add_argument("--json", default=None, help="also write the raw results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (database, logs)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- session and set-up -------------------------------------------------------------------


@contextlib.contextmanager
def session(args: argparse.Namespace) -> Iterator[Session]:
    """A temp folder and a fresh database; on the way out, stop what was started and drop it all."""
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
    if args.profile_dir:
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
    run = Session(args, folder, env, database_url, schema)
    try:
        yield run
    finally:
        for proc in reversed(run.procs):
            stop(proc)
        if schema:
            with contextlib.suppress(Exception):
                asyncio.run(drop_schema(args.database, schema))
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def platform(env: dict[str, str]) -> AsyncIterator[Platform]:
    """A Platform in this process, on the session's database (for set-up and checks)."""
    from stateyard.config import load_settings
    from stateyard.platform import Platform

    instance = Platform(load_settings(env))
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


async def create_user(instance: Platform) -> tuple[dict[str, Any], list[uuid.UUID]]:
    """The non-admin benchmark user, and the groups it is in."""
    user = await instance.auth.create_user(EMAIL, PASSWORD, name="Benchmark user")
    subject = await instance.auth.subject_for_user(user["id"])
    return user, sorted(subject.group_ids)


def bare_caller(user_id: uuid.UUID, group_ids: list[uuid.UUID], row_permission: int) -> list[str]:
    """Who the bare app serves (the benchmark user, as Stateyard sees them) as its command-line options."""
    return [
        f"--owner={user_id}",
        f"--groups={','.join(str(g) for g in group_ids)}",
        f"--row-permission={row_permission}",
    ]


async def analyze(instance: Platform) -> None:
    """Fresh planner statistics after a bulk load, so that both apps get the same plans."""
    async with instance.db.write() as conn:
        await conn.exec_driver_sql("ANALYZE")


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


def start_servers(run: Session, bare_options: list[str]) -> tuple[Proc, Proc]:
    """``stateyard serve`` and the bare app (uvicorn, one worker each) on two loopback ports."""
    ours_port, bare_port = free_port(), free_port()
    ours = start(
        "stateyard",
        [str(Path(sys.executable).with_name("stateyard")), "serve", "--host=127.0.0.1", f"--port={ours_port}"],
        run.env,
        run.folder,
        ours_port,
        run.folder,
    )
    run.procs.append(ours)
    bare_command = [sys.executable, "-m", "bench.bare_app", f"--database={run.database_url}", f"--port={bare_port}"]
    if run.schema:
        bare_command.append(f"--schema={run.schema}")
    bare = start("bare", bare_command + bare_options, run.env, REPO, bare_port, run.folder)
    run.procs.append(bare)
    wait_healthy(ours)
    wait_healthy(bare)
    return ours, bare


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


# -- load ---------------------------------------------------------------------------------


def load(run: Session, target: Proc, op: str, options: list[str], token: str | None = None) -> dict[str, Any]:
    """One measurement: ``bench/loadgen.py`` in its own process against one server."""
    args = run.args
    command = [
        sys.executable,
        "-m",
        "bench.loadgen",
        f"--base={target.base}",
        f"--op={op}",
        f"--duration={args.duration}",
        f"--warmup={args.warmup}",
        f"--concurrency={args.concurrency}",
        f"--server-pid={target.process.pid}",
        *options,
    ]
    if token:
        command.append(f"--token={token}")
    spy = None
    if args.profile_dir and target.name == "stateyard":
        out = Path(args.profile_dir) / f"{run.backend}-{op}.txt"
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


Options = Callable[[Proc, str], list[str]]


def measure(
    run: Session, ours: Proc, bare: Proc, token: str, ops: list[str], options: Options
) -> dict[str, dict[str, dict[str, Any]]]:
    """Each operation on each server, ``--rounds`` times, alternating who goes first."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for op in ops:
        runs: dict[str, list[dict[str, Any]]] = {"stateyard": [], "bare": []}
        for round_no in range(run.args.rounds):
            pair = [(ours, token), (bare, None)]
            for target, tok in pair if round_no % 2 == 0 else pair[::-1]:
                cell = load(run, target, op, options(target, op), tok)
                runs[target.name].append(cell)
                print(
                    f"  {op:<7} {target.name:<10} round {round_no + 1}: {cell['rps']:>7.0f} req/s  "
                    f"errors {cell['errors']}  409s {cell['conflicts']}",
                    flush=True,
                )
                if cell["errors"]:
                    print(f"    statuses {cell['statuses']}; first error: {cell['sample_error']}", flush=True)
        results[op] = {name: combined(cells) for name, cells in runs.items()}
    return results


# -- report -------------------------------------------------------------------------------


def combined(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one cell as one: rates averaged over the time measured, worst p99 kept."""
    count = len(cells)
    return {
        "rps": sum(c["rps"] for c in cells) / count,
        "errors": sum(c["errors"] for c in cells),
        "conflicts": sum(c["conflicts"] for c in cells),
        "p50_ms": sorted(c["p50_ms"] for c in cells)[count // 2],
        "p99_ms": max(c["p99_ms"] for c in cells),
        "server_cpu_pct": sum(c["server_cpu_pct"] for c in cells) / count,
        "loadgen_cpu_pct": sum(c["loadgen_cpu_pct"] for c in cells) / count,
        "rounds": cells,
    }


def table(
    run: Session,
    results: dict[str, dict[str, dict[str, Any]]],
    ping: dict[str, Any],
    target_ratio: float,
    unit: str = "req",
    note: str = "",
) -> str:
    args = run.args
    header = (
        f"{'operation':<9} {'stateyard/s':>11} {'bare/s':>9} {'ratio':>6}  "
        f"{'p50 ms sy/bare':>15} {'p99 ms sy/bare':>15} {'cpu% sy/bare':>13} {'loadgen cpu%':>13} "
        f"{'409s sy/bare':>13} {'errors':>7}"
    )
    lines = [f"{unit}/s, target ratio >= {target_ratio}", header, "-" * len(header)]
    for op, pair in results.items():
        ours, bare = pair["stateyard"], pair["bare"]
        ratio = ours["rps"] / bare["rps"] if bare["rps"] else 0.0
        mark = "" if ratio >= target_ratio else "  < target"
        lines.append(
            f"{op:<9} {ours['rps']:>11.0f} {bare['rps']:>9.0f} {ratio:>6.2f}  "
            f"{ours['p50_ms']:>7.1f}/{bare['p50_ms']:<7.1f} {ours['p99_ms']:>7.1f}/{bare['p99_ms']:<7.1f} "
            f"{ours['server_cpu_pct']:>6.0f}/{bare['server_cpu_pct']:<6.0f} "
            f"{ours['loadgen_cpu_pct']:>5.0f}/{bare['loadgen_cpu_pct']:<7.0f} "
            f"{ours['conflicts']:>6}/{bare['conflicts']:<6} {ours['errors'] + bare['errors']:>7}{mark}"
        )
    lines.append(
        f"load generator alone (GET /ping on the bare app): {ping['rps']:.0f} req/s "
        f"at {ping['loadgen_cpu_pct']:.0f}% CPU; {args.concurrency} connections, {args.rounds} x {args.duration:g} s "
        f"per cell after {args.warmup:g} s warm-up each, {note}{run.backend}, {os.cpu_count()} CPUs"
    )
    return "\n".join(lines)


def write_json(run: Session, payload: dict[str, Any]) -> None:
    if run.args.json:
        Path(run.args.json).write_text(json.dumps(payload, indent=2, default=str))
