"""Helpers for tests that run the real ``stateyard`` command in a child process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "e2e-secret-key-that-is-long-enough-0123456789"
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"


def stateyard_command() -> list[str]:
    """The installed console script next to this interpreter, or the module as a fallback."""
    script = Path(sys.executable).with_name("stateyard")
    return [str(script)] if script.exists() else [sys.executable, "-m", "stateyard.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    """The parent's environment without any STATEYARD_* setting, plus a tmp SQLite install."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEYARD_")}
    env.update(
        STATEYARD_DATABASE_URL=f"sqlite:///{tmp_path / 'e2e.db'}",
        STATEYARD_SECRET_KEY=SECRET,
        STATEYARD_KEY_FILE=str(tmp_path / "stateyard.key"),
        STATEYARD_ADMIN_EMAIL=ADMIN_EMAIL,
        STATEYARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        STATEYARD_PASSWORD_HASH_TIME_COST="1",
        STATEYARD_PASSWORD_HASH_MEMORY_KIB="1024",
        STATEYARD_SCHEMA_DIR=str(tmp_path / "schema"),
        STATEYARD_FIXTURES_DIR=str(tmp_path / "fixtures"),
        STATEYARD_LOG_LEVEL="warning",
    )
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*stateyard_command(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
