"""`stateyard serve` as a real process: it starts, answers over loopback and stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, free_port, stateyard_command

pytestmark = pytest.mark.e2e

#: How long a server process may take to start answering; a start-up bound, not a timing test.
START_DEADLINE_SECONDS = 30.0


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def wait_until_healthy(server: Server) -> None:
    """Poll GET /health until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + START_DEADLINE_SECONDS
    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            try:
                # Waiting on the process doubles as the pause between polls and notices a crash.
                server.process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            pytest.fail(f"the server exited with {server.process.returncode}:\n{server.output()}")
    pytest.fail(f"the server did not become healthy within {START_DEADLINE_SECONDS} s:\n{server.output()}")


@pytest.fixture
def server(tmp_path: Path, server_env: dict[str, str]) -> Iterator[Server]:
    server_env["STATEYARD_LOG_LEVEL"] = "info"  # so that the log shows the lifespan shutdown
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*stateyard_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until_healthy(running)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_server_serves_crud_and_stops_cleanly(server: Server) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["database"] == "sqlite"

        signin = client.post(
            "/action/user_account/signin", json={"attributes": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}
        )
        assert signin.status_code == 200, signin.text
        token = next(d["attributes"]["value"] for d in signin.json() if d["type"] == "client.store.set")
        auth = {"Authorization": f"Bearer {token}"}

        entity = client.post(
            "/api/entity",
            headers=auth,
            json={
                "name": "ticket",
                "columns": [
                    {"name": "title", "type": "string", "required": True, "max_length": 200},
                    {"name": "priority", "type": "enum", "options": ["low", "high"], "default": "low"},
                ],
            },
        )
        assert entity.status_code == 201, entity.text

        created = client.post("/api/ticket", headers=auth, json={"title": "Printer on fire", "priority": "high"})
        assert created.status_code == 201, created.text
        row = created.json()
        assert row["version"] == 1 and row["priority"] == "high"

        read = client.get(f"/api/ticket/{row['id']}", headers=auth)
        assert read.status_code == 200 and read.json() == row

        listed = client.get("/api/ticket", headers=auth).json()
        assert [r["id"] for r in listed["data"]] == [row["id"]] and listed["meta"]["total"] == 1

        missing = client.get(f"/api/ticket/{uuid.uuid4()}", headers=auth)
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/problem+json")
        problem = missing.json()
        assert problem["type"] == "urn:stateyard:problem:not-found" and problem["status"] == 404
        assert problem["detail"]

        guest = client.get("/api/ticket")
        assert guest.status_code == 401 and guest.headers["content-type"].startswith("application/problem+json")

    server.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught, so the exit status names SIGTERM.
    assert server.process.wait(timeout=10) in (0, -signal.SIGTERM), server.output()
    output = server.output()
    assert "Application shutdown complete" in output, output
    assert "Traceback" not in output and " ERROR " not in output, output
