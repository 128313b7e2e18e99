"""Account actions: a real SMTP server on 127.0.0.1, callers, and snapshots of what a refusal must not change.

``mailbox`` is an aiosmtpd server (one per session, emptied per test) that the settings point
at; mail leaves after the action commits and before it answers, so a test reads it right away.
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import msgspec
import pyotp
import pytest
from aiosmtpd.controller import Controller
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from stateyard.config import Settings
from stateyard.core.clock import FrozenClock
from stateyard.entities.system import ADMINISTRATORS
from stateyard.platform import Platform
from tests.conftest import Api
from tests.integration.auth.support import Db

PASSWORD = "user-password-1"
NEW_PASSWORD = "brand-new-password-2"


class Mailbox:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.content.replace(b"\r\n", b"\n")
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 Message accepted"

    def codes_for(self, address: str) -> list[str]:
        """The reset codes mailed to ``address``, oldest first."""
        found = []
        for message in self.messages:
            if message["To"] == address:
                body = message.get_body(("plain",))
                assert body is not None
                match = re.search(r"code is (\d+)", body.get_content())
                assert match, body.get_content()
                found.append(match.group(1))
        return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller.port, box
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[int, Mailbox]) -> Mailbox:
    smtp_server[1].messages.clear()
    return smtp_server[1]


@pytest.fixture
def settings(settings: Settings, smtp_server: tuple[int, Mailbox]) -> Settings:
    return msgspec.structs.replace(
        settings, smtp_host="127.0.0.1", smtp_port=smtp_server[0], mail_from="accounts@example.com"
    )


@pytest.fixture
def db(client: AsyncTestClient[Any], platform: Platform) -> Db:
    return Db(client, platform)


@pytest.fixture
async def alice(guest: Api) -> Api:
    return await guest.signup("alice@example.com", PASSWORD, name="Alice")


@pytest.fixture
async def bob(guest: Api) -> Api:
    return await guest.signup("bob@example.com", PASSWORD, name="Bob")


async def act(api: Api, name: str, attributes: Any = None) -> Any:
    """POST /action/user_account/<name> (no body when ``attributes`` is None)."""
    if attributes is None:
        return await api.post(f"/action/user_account/{name}")
    return await api.post(f"/action/user_account/{name}", {"attributes": attributes})


def stored(response: Any, key: str) -> Any:
    """The value of the response's client.store.set directive for ``key``."""
    assert response.status_code == 200, response.text
    (value,) = [
        d["attributes"]["value"]
        for d in response.json()
        if d["type"] == "client.store.set" and d["attributes"]["key"] == key
    ]
    return value


async def signin(guest: Api, email_address: str, password: str, **extra: Any) -> Any:
    attributes = {"email": email_address, "password": password, **extra}
    return await guest.post("/action/user_account/signin", {"attributes": attributes})


async def works(api: Api) -> bool:
    """Whether the token is accepted (200) or refused (401) on an ordinary read."""
    response = await api.get("/api/user_account", params={"per_page": "1"})
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


async def account(db: Db, api: Api) -> dict[str, Any]:
    (row,) = await db.rows("user_account", id=(await api.me())["id"])
    return row


async def state(db: Db) -> dict[str, Any]:
    """Everything an account action may change, to show that a refusal changed none of it."""
    return {
        "accounts": await db.rows("user_account"),
        "audit": await db.audit_count(),
        "revoked": await db.rows("revoked_token"),
        "resets": await db.rows("password_reset"),
        "admins": await admin_ids(db),
    }


async def admin_ids(db: Db) -> set[str]:
    """Ids of the members of the administrators group."""
    snapshot = db.platform.registry.snapshot
    members = snapshot.models["usergroup"].join_tables["members"]
    admins = snapshot.group_id(ADMINISTRATORS)

    async def read() -> set[str]:
        async with db.platform.db.read() as conn:
            found = await conn.scalars(select(members.c.target_id).where(members.c.source_id == admins))
            return {str(i) for i in found}

    return await db.run(read)


async def let_people_edit_their_account(admin: Api) -> None:
    """What a builder may do: grant signed-in users 'update' on the user_account table (rows stay their own)."""
    listed = await admin.get(
        "/api/entity", params={"filter": '{"field": "name", "op": "equals", "value": "user_account"}'}
    )
    (entity,) = listed.json()["data"]
    permissions = {
        "table": {"owner": ["all"], "group": ["peek", "read", "update"]},
        "row": {"owner": ["peek", "read", "update", "refer"]},
    }
    response = await admin.patch(f"/api/entity/{entity['id']}", {"permissions": permissions})
    assert response.status_code == 200, response.text


def totp_code(secret: str, clock: FrozenClock, *, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now().timestamp() + 30 * steps)


def wrong_totp(secret: str, clock: FrozenClock) -> str:
    """A well-formed code that no accepted time step (the current one and its neighbours) gives."""
    accepted = {totp_code(secret, clock, steps=s) for s in (-1, 0, 1)}
    return next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in accepted)


def fields(body: dict[str, Any]) -> dict[str, str]:
    """field -> code of a 422's errors."""
    return {e["field"]: e["code"] for e in body["errors"]}
