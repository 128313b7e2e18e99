"""A small HTTP/1.1 load generator, run as its own process by the benchmarks (``bench/harness.py``).

N keep-alive connections each send one request at a time over raw asyncio streams (no
HTTP client library), so that the generator costs far less CPU per request than the
servers it measures; it reports its own CPU use so that this can be checked.
Prints one JSON object on stdout: rates and latencies over the measured window, 409s apart
from errors (clients racing on one row or object state expect some), and totals over the
whole run, warm-up included, for the benchmarks' consistency checks.

Operations: ``ping``, ``get``, ``list``, ``create``, ``patch`` (records), ``fire`` (state
machine events, ``--states``) and ``act`` (a declared action on one row, ``--action``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from bench.definitions import DESTINATION, NEXT_EVENT, STATUSES

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def random_item(rng: random.Random, n: int) -> dict[str, Any]:
    """A valid create body for the benchmark entity."""
    return {
        "name": f"item {n} {rng.randrange(10**9)}",
        "quantity": rng.randrange(1000),
        "weight": round(rng.uniform(0, 500), 3),
        "price": f"{rng.randrange(1, 10**6)}.{rng.randrange(100):02d}",
        "active": rng.random() < 0.5,
        "due_on": f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        "seen_at": f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:15:00Z",
        "status": rng.choice(STATUSES),
    }


class Requests:
    """Request bytes for one operation, and what it learns from each answer.

    Most operations pick from a pool of pre-built requests. ``fire`` keeps what it knows of each
    object state's current state, fires the one event valid there, and learns the new state from
    a success (the event's destination) or from a 409 (the ``current_state`` it names), so that
    clients racing on one object state cost a 409, not a wrong guess for the rest of the run.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        host = urllib.parse.urlsplit(args.base).netloc
        headers = f"Host: {host}\r\nAccept: application/json\r\n"
        if args.token:
            headers += f"Authorization: Bearer {args.token}\r\n"
        self.headers = headers
        self.pool: list[bytes] = []
        self.states: dict[str, str] = {}
        self.fired: dict[tuple[str, str], bytes] = {}
        if args.op == "fire":
            for line in Path(args.states).read_text().splitlines():
                object_state_id, state = line.split()
                self.states[object_state_id] = state
            self.object_ids = list(self.states)
        else:
            self.pool = self.build_pool()

    def with_body(self, method: str, path: str, body: dict[str, Any] | None) -> bytes:
        data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self.headers}Content-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\n\r\n"
        return head.encode() + data

    def build_pool(self) -> list[bytes]:
        args, rng, headers = self.args, self.rng, self.headers
        ids = Path(args.ids).read_text().split() if args.ids else []
        base = f"/api/{args.entity}"
        pool: list[bytes] = []
        for n in range(2000):
            if args.op == "ping":
                pool.append(f"GET /ping HTTP/1.1\r\n{headers}\r\n".encode())
            elif args.op == "get":
                pool.append(f"GET {base}/{rng.choice(ids)} HTTP/1.1\r\n{headers}\r\n".encode())
            elif args.op == "list":
                condition = json.dumps({"field": "quantity", "op": "equals", "value": rng.randrange(1000)})
                query = urllib.parse.urlencode({"filter": condition})
                pool.append(f"GET {base}?{query} HTTP/1.1\r\n{headers}\r\n".encode())
            elif args.op == "create":
                pool.append(self.with_body("POST", base, random_item(rng, n)))
            elif args.op == "patch":
                body = {"weight": round(rng.uniform(0, 500), 3), "status": rng.choice(STATUSES)}
                pool.append(self.with_body("PATCH", f"{base}/{rng.choice(ids)}", body))
            elif args.op == "act":
                attributes = {
                    f"{args.entity}_id": rng.choice(ids),
                    "weight": round(rng.uniform(0, 500), 3),
                    "status": rng.choice(STATUSES),
                }
                pool.append(self.with_body("POST", f"/action/{args.entity}/{args.action}", {"attributes": attributes}))
            else:
                raise SystemExit(f"unknown operation {args.op!r}")
        return pool

    def next(self) -> tuple[bytes, Any]:
        if self.pool:
            return self.pool[self.rng.randrange(len(self.pool))], None
        object_state_id = self.object_ids[self.rng.randrange(len(self.object_ids))]
        event = NEXT_EVENT[self.states[object_state_id]]
        request = self.fired.get((object_state_id, event))
        if request is None:
            request = self.with_body("POST", f"/api/event/{self.args.entity}/{object_state_id}/{event}", None)
            self.fired[object_state_id, event] = request
        return request, (object_state_id, event)

    def answered(self, key: Any, status: int, body: bytes) -> None:
        if key is None:
            return
        object_state_id, event = key
        if status < 300:
            self.states[object_state_id] = DESTINATION[event]
        elif status == 409:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.states[object_state_id] = json.loads(body)["current_state"]

    def save(self) -> None:
        """Hand what was learnt to the next run (the next round against the same server)."""
        if self.states:
            Path(self.args.states).write_text("".join(f"{k} {v}\n" for k, v in self.states.items()))


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.sample_error: str | None = None
        #: Every answer, warm-up and the last ones after the window included.
        self.total_ok = 0
        self.total_conflicts = 0
        self.total = 0


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked responses are not supported by this generator")
    body = await reader.readexactly(length) if length else b""
    return status, body


async def worker(args: argparse.Namespace, requests: Requests, window: tuple[float, float], stats: Stats) -> None:
    url = urllib.parse.urlsplit(args.base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    start, end = window
    try:
        while True:
            sent = time.perf_counter()
            if sent >= end:
                return
            request, key = requests.next()
            writer.write(request)
            status, body = await read_response(reader)
            done = time.perf_counter()
            requests.answered(key, status, body)
            stats.total += 1
            if status < 400:
                stats.total_ok += 1
            elif status == 409:
                stats.total_conflicts += 1
            if start <= done < end:
                stats.latencies.append(done - sent)
                stats.statuses[status] = stats.statuses.get(status, 0) + 1
                if status >= 400 and status != 409 and stats.sample_error is None:
                    stats.sample_error = body[:500].decode(errors="replace")
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    requests = Requests(args)
    stats = Stats()
    begin = time.perf_counter()
    window = (begin + args.warmup, begin + args.warmup + args.duration)
    server_cpu: list[float] = []

    async def sample_server() -> None:
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        server_cpu.append(process_cpu_seconds(args.server_pid))
        own_start = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
        server_cpu.append(process_cpu_seconds(args.server_pid))
        own_end = resource.getrusage(resource.RUSAGE_SELF)
        server_cpu.append(own_end.ru_utime + own_end.ru_stime - own_start.ru_utime - own_start.ru_stime)

    await asyncio.gather(sample_server(), *(worker(args, requests, window, stats) for _ in range(args.concurrency)))
    requests.save()
    latencies = sorted(stats.latencies)
    count = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(count - 1, int(p * count))] * 1000 if count else 0.0

    ok = sum(n for s, n in stats.statuses.items() if s < 400)
    conflicts = stats.statuses.get(409, 0)
    return {
        "op": args.op,
        "requests": count,
        "ok": ok,
        "conflicts": conflicts,
        "errors": count - ok - conflicts,
        "rps": ok / args.duration,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "sample_error": stats.sample_error,
        "server_cpu_pct": 100 * (server_cpu[1] - server_cpu[0]) / args.duration if args.server_pid else None,
        "loadgen_cpu_pct": 100 * server_cpu[2] / args.duration,
        "total_requests": stats.total,
        "total_ok": stats.total_ok,
        "total_conflicts": stats.total_conflicts,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--op", required=True, choices=["ping", "get", "list", "create", "patch", "fire", "act"])
    parser.add_argument("--entity", default="bench_item")
    parser.add_argument("--token", default=None)
    parser.add_argument("--ids", default=None, help="file of row ids, one a line")
    parser.add_argument("--states", default=None, help="fire: file of '<object state id> <state>' lines (rewritten)")
    parser.add_argument("--action", default=None, help="act: the action's name")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--server-pid", type=int, default=0, help="measure this process's CPU use too")
    args = parser.parse_args(argv)
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(run(args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
