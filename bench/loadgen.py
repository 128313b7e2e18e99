"""A small HTTP/1.1 load generator, run as its own process by ``bench/crud.py``.

N keep-alive connections each send one request at a time over raw asyncio streams (no
HTTP client library), so that the generator costs far less CPU per request than the
servers it measures; it reports its own CPU use so that this can be checked.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

STATUSES = ("new", "open", "closed", "archived")
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


def request_factory(args: argparse.Namespace) -> Callable[[], bytes]:
    """Pre-builds a pool of request byte strings for the operation and returns a picker."""
    rng = random.Random(args.seed)
    host = urllib.parse.urlsplit(args.base).netloc
    headers = f"Host: {host}\r\nAccept: application/json\r\n"
    if args.token:
        headers += f"Authorization: Bearer {args.token}\r\n"
    ids = Path(args.ids).read_text().split() if args.ids else []
    base = f"/api/{args.entity}"
    pool: list[bytes] = []

    def with_body(method: str, path: str, body: dict[str, Any]) -> bytes:
        data = json.dumps(body, separators=(",", ":")).encode()
        head = f"{method} {path} HTTP/1.1\r\n{headers}Content-Type: application/json\r\n"
        head += f"Content-Length: {len(data)}\r\n\r\n"
        return head.encode() + data

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
            pool.append(with_body("POST", base, random_item(rng, n)))
        elif args.op == "patch":
            body = {"weight": round(rng.uniform(0, 500), 3), "status": rng.choice(STATUSES)}
            pool.append(with_body("PATCH", f"{base}/{rng.choice(ids)}", body))
        else:
            raise SystemExit(f"unknown operation {args.op!r}")
    return lambda: pool[rng.randrange(len(pool))]


class Stats:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.sample_error: str | None = None


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


async def worker(
    args: argparse.Namespace, next_request: Callable[[], bytes], window: tuple[float, float], stats: Stats
) -> None:
    url = urllib.parse.urlsplit(args.base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    start, end = window
    try:
        while True:
            sent = time.perf_counter()
            if sent >= end:
                return
            writer.write(next_request())
            status, body = await read_response(reader)
            done = time.perf_counter()
            if start <= done < end:
                stats.latencies.append(done - sent)
                stats.statuses[status] = stats.statuses.get(status, 0) + 1
                if status >= 400 and stats.sample_error is None:
                    stats.sample_error = body[:500].decode(errors="replace")
    finally:
        writer.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    next_request = request_factory(args)
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

    await asyncio.gather(sample_server(), *(worker(args, next_request, window, stats) for _ in range(args.concurrency)))
    latencies = sorted(stats.latencies)
    count = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(count - 1, int(p * count))] * 1000 if count else 0.0

    ok = sum(n for s, n in stats.statuses.items() if s < 400)
    return {
        "op": args.op,
        "requests": count,
        "ok": ok,
        "errors": count - ok,
        "rps": ok / args.duration,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "sample_error": stats.sample_error,
        "server_cpu_pct": 100 * (server_cpu[1] - server_cpu[0]) / args.duration if args.server_pid else None,
        "loadgen_cpu_pct": 100 * server_cpu[2] / args.duration,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="http://127.0.0.1:PORT")
    parser.add_argument("--op", required=True, choices=["ping", "get", "list", "create", "patch"])
    parser.add_argument("--entity", default="bench_item")
    parser.add_argument("--token", default=None)
    parser.add_argument("--ids", default=None, help="file of row ids, one a line")
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
