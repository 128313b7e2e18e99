"""Real servers on 127.0.0.1 for the mail and HTTP performers, and helpers to declare and call actions.

``smtp`` is an aiosmtpd server that keeps what it receives; ``web`` is a small threaded HTTP
server whose paths answer JSON, text, redirects, slow and oversized bodies, and which logs
every request it receives (so a refusal can be shown to have sent nothing). Tests set their
settings through ``overrides``.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
from aiosmtpd.controller import Controller
from litestar.testing import AsyncTestClient

from stateyard.config import Settings
from stateyard.platform import Platform
from tests.conftest import Api
from tests.integration.crud.conftest import Probe

BIG_BODY_BYTES = 6 * 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """aiosmtpd handler: keeps each envelope (sender, recipients, parsed message)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.content.replace(b"\r\n", b"\n")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[Controller, Mailbox]]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[Controller, Mailbox]) -> Mailbox:
    _, box = smtp_server
    box.received.clear()
    return box


@pytest.fixture
def deliver(probe: Probe, platform: Platform) -> Callable[[], Awaitable[dict[str, Any]]]:
    """Run a worker cycle (mail leaves through the job queue) and answer the mail jobs' states."""

    async def run() -> dict[str, Any]:
        await probe.call(platform.worker(name="test-mailer").run_once)
        jobs = [j for j in await probe.rows("job") if j["kind"] == "mail.send"]
        return {
            "jobs": len(jobs),
            "statuses": sorted(j["status"] for j in jobs),
            "errors": [j["last_error"] for j in jobs],
        }

    return run


@pytest.fixture
def smtp_settings(smtp_server: tuple[Controller, Mailbox]) -> dict[str, Any]:
    controller, _ = smtp_server
    return {"smtp_host": "127.0.0.1", "smtp_port": controller.port, "mail_from": "shop@example.com"}


class WebServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        handler = _handler(self)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


def _handler(web: WebServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, value: Any, **headers: str) -> None:
            self._answer(status, json.dumps(value).encode(), "application/json", **headers)

        def _handle(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            seen = {
                "method": self.command,
                "path": url.path,
                "query": {k: v if len(v) > 1 else v[0] for k, v in parse_qs(url.query).items()},
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
            web.requests.append(seen)
            query = parse_qs(url.query)
            if url.path == "/json":
                self._json(200, {"name": "Widget", "price": 12.5, "tags": ["a", "b"]}, X_Served_By="test")
            elif url.path == "/echo":
                self._json(200, seen)
            elif url.path == "/text":
                self._answer(200, b"plain words", "text/plain; charset=utf-8")
            elif url.path == "/bad-json":
                self._answer(200, b"{not json", "application/json")
            elif url.path.startswith("/status/"):
                self._json(int(url.path.rsplit("/", 1)[1]), {"error": "as asked"})
            elif url.path == "/redirect":
                self._answer(int(query.get("code", ["302"])[0]), b"", "text/plain", Location=query["to"][0])
            elif url.path.startswith("/hops/"):
                left = int(url.path.rsplit("/", 1)[1])
                if left == 0:
                    self._json(200, {"arrived": True, "method": self.command, "body": body})
                else:
                    self._answer(307, b"", "text/plain", Location=f"/hops/{left - 1}")
            elif url.path == "/slow":
                web.release.wait(5)
                self._json(200, {"late": True})
            elif url.path == "/big":
                self._answer(200, b"x" * BIG_BODY_BYTES, "text/plain")
            elif url.path == "/big-chunked":
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"y" * 65536
                try:
                    for _ in range(BIG_BODY_BYTES // len(chunk)):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass  # the client stopped reading at its limit
            else:
                self._json(404, {"error": "no such path"})

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    return Handler


@pytest.fixture(scope="session")
def web_server() -> Iterator[WebServer]:
    web = WebServer()
    web.thread.start()
    yield web
    web.release.set()
    web.httpd.shutdown()
    web.httpd.server_close()


@pytest.fixture
def web(web_server: WebServer) -> Iterator[WebServer]:
    web_server.requests.clear()
    web_server.release.clear()
    yield web_server
    web_server.release.set()


@pytest.fixture
def overrides() -> dict[str, Any]:
    """Settings a test module (or a parametrized test) changes."""
    return {}


@pytest.fixture
def settings(settings: Settings, overrides: dict[str, Any]) -> Settings:
    return msgspec.structs.replace(settings, **overrides)


@pytest.fixture
def probe(client: AsyncTestClient[Any], platform: Platform) -> Probe:
    return Probe(client, platform)


async def declare(admin: Api, outcomes: list[dict[str, Any]], **fields: Any) -> Any:
    """POST /api/action for ``order`` (named ``notify`` unless told), answering the response."""
    body = {"name": "notify", "entity": "order", "instance_required": True, "outcomes": outcomes, **fields}
    return await admin.post("/api/action", body)


async def declared(admin: Api, outcomes: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    response = await declare(admin, outcomes, **fields)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def new_order(admin: Api, customer: str = "ACME", total: float = 42) -> dict[str, Any]:
    response = await admin.post("/api/order", {"customer": customer, "total": total})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]
