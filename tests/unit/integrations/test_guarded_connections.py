"""The guard resolves once per connection and connects to the very address it checked (no DNS rebinding).

Resolvers here are stand-ins for DNS, so no test sends a query anywhere; the only real
sockets go to a server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import pytest

from stateyard.config import Settings
from stateyard.core.errors import ProblemError
from stateyard.integrations.http import AllowList, GuardedBackend, HttpClient, IPAddress, OutboundRefused

ip = ipaddress.ip_address


class Answers:
    """A resolver giving the next prepared answer on each lookup, counting lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = [[ip(a) for a in answer] for answer in answers]
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


class Recorder(httpcore.AsyncNetworkBackend):
    """An inner backend that records where it was asked to connect; ``failing`` hosts refuse."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.connects: list[str] = []
        self.failing = failing

    async def connect_tcp(self, host: str, port: int, **_: Any) -> httpcore.AsyncNetworkStream:
        self.connects.append(host)
        if host in self.failing:
            raise httpcore.ConnectError(f"{host} refused the connection")
        return httpcore.AsyncNetworkStream()


async def test_a_name_that_rebinds_to_an_internal_address_is_refused_on_the_next_connection() -> None:
    resolver = Answers(["93.184.216.34"], ["169.254.169.254"])
    inner = Recorder()
    backend = GuardedBackend(AllowList([]), resolver, inner)
    await backend.connect_tcp("rebind.example", 80)
    with pytest.raises(OutboundRefused) as refused:
        await backend.connect_tcp("rebind.example", 80)
    assert refused.value.refused == [(ip("169.254.169.254"), "link-local")]
    assert resolver.lookups == ["rebind.example", "rebind.example"]
    assert inner.connects == ["93.184.216.34"]


async def test_a_name_resolving_to_loopback_is_refused_without_connecting() -> None:
    inner = Recorder()
    backend = GuardedBackend(AllowList([]), Answers(["127.0.0.1", "::1"]), inner)
    with pytest.raises(OutboundRefused):
        await backend.connect_tcp("localtest.example", 443)
    assert inner.connects == []


async def test_the_next_permitted_address_is_tried_when_one_fails() -> None:
    inner = Recorder(failing=("2606:4700::1",))
    backend = GuardedBackend(AllowList([]), Answers(["2606:4700::1", "10.0.0.7", "1.1.1.1"]), inner)
    await backend.connect_tcp("dual.example", 80)
    assert inner.connects == ["2606:4700::1", "1.1.1.1"]


async def test_a_literal_address_is_checked_without_a_lookup() -> None:
    inner = Recorder()
    backend = GuardedBackend(AllowList([]), inner=inner)
    with pytest.raises(OutboundRefused):
        await backend.connect_tcp("169.254.169.254", 80)
    with pytest.raises(OutboundRefused):
        await backend.connect_tcp("::ffff:127.0.0.1", 80)
    assert inner.connects == []


async def test_a_slow_lookup_is_a_connect_timeout() -> None:
    async def hanging(host: str, port: int) -> list[IPAddress]:
        await asyncio.Event().wait()
        return []

    backend = GuardedBackend(AllowList([]), hanging, Recorder())
    with pytest.raises(httpcore.ConnectTimeout):
        await backend.connect_tcp("slow.example", 80, timeout=0.01)


async def test_unix_sockets_are_never_used() -> None:
    with pytest.raises(httpcore.ConnectError):
        await GuardedBackend(AllowList([])).connect_unix_socket("/var/run/docker.sock")


@pytest.fixture
async def local_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A one-answer HTTP server on 127.0.0.1 that keeps the request heads it received."""
    heads: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}')
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], heads


async def test_the_request_keeps_the_name_while_the_socket_goes_to_the_checked_address(
    local_server: tuple[int, list[bytes]],
) -> None:
    port, heads = local_server
    resolver = Answers(["127.0.0.1"])
    client = HttpClient(Settings(http_allow=["127.0.0.1/32"]), resolve=resolver)
    result = await client.request("GET", f"http://api.example:{port}/v1")
    assert (result.status, result.body) == (200, {"ok": True})
    assert resolver.lookups == ["api.example"]
    assert heads[0].startswith(b"GET /v1 HTTP/1.1\r\n") and f"Host: api.example:{port}".encode() in heads[0]


async def test_without_the_allow_list_the_client_answers_a_problem_naming_the_address(
    local_server: tuple[int, list[bytes]],
) -> None:
    port, heads = local_server
    client = HttpClient(Settings(), resolve=Answers(["127.0.0.1"]))
    with pytest.raises(ProblemError) as problem:
        await client.request("GET", f"http://api.example:{port}/v1")
    assert (problem.value.status, problem.value.code) == (422, "outbound-refused")
    assert problem.value.extensions["addresses"] == [{"address": "127.0.0.1", "reason": "loopback"}]
    assert "api.example" in problem.value.detail and "127.0.0.1" in problem.value.detail
    assert heads == []
