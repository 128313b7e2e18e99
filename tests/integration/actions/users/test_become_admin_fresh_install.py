"""On an install started without STATEYARD_ADMIN_EMAIL the first caller of become_admin runs it, and only they."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from stateyard.config import Settings
from tests.conftest import Api, _pg_admin, _pg_url, assert_problem
from tests.integration.actions.users.conftest import act, admin_ids, state
from tests.integration.auth.support import Db


@pytest.fixture
async def fresh_database(backend: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """An empty database (not the template, which has an administrator): the app bootstraps it."""
    if backend == "sqlite":
        yield {"database_url": f"sqlite:///{tmp_path / 'fresh.db'}"}
        return
    name = f"sy_fresh_{uuid.uuid4().hex[:16]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    yield {"database_url": _pg_url(name)}
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(settings: Settings, fresh_database: dict[str, Any]) -> Settings:
    return msgspec.structs.replace(settings, admin_email=None, admin_password=None, **fresh_database)


async def test_the_first_claim_wins_and_later_ones_are_403(guest: Api, db: Db) -> None:
    assert await admin_ids(db) == set()
    alice = await guest.signup("alice@example.com")
    bob = await guest.signup("bob@example.com")
    assert_problem(await alice.get("/api/revoked_token"), 403, "forbidden")
    response = await act(alice, "become_admin")
    assert response.status_code == 200, response.text
    assert [d["type"] for d in response.json()] == ["client.notify"]
    alice_id = (await alice.me())["id"]
    assert await admin_ids(db) == {alice_id}
    # The same token now carries administrator rights (the cached caller was forgotten).
    assert (await alice.get("/api/revoked_token")).status_code == 200
    (linked,) = [r for r in await db.rows("audit_log", entity="usergroup") if r["operation"] == "link"]
    assert linked["after"] == {"members": alice_id} and str(linked["actor_id"]) == alice_id
    before = await state(db)
    body = assert_problem(await act(bob, "become_admin"), 403, "forbidden")
    assert "already has an administrator" in body["detail"]
    assert_problem(await act(alice, "become_admin"), 403, "forbidden")
    assert await state(db) == before


async def test_guests_and_bad_input_are_refused_and_change_nothing(guest: Api, db: Db) -> None:
    alice = await guest.signup("alice@example.com")
    before = await state(db)
    assert_problem(await act(guest, "become_admin"), 401, "unauthorized")
    body = assert_problem(await act(alice, "become_admin", {"please": True}), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("please", "unknown")]
    assert await state(db) == before
    assert await admin_ids(db) == set()
