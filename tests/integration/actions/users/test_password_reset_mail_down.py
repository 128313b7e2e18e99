"""A mail server that is down after the commit does not change the answer: it would tell who has an account."""

from __future__ import annotations

import socket

import msgspec
import pytest

from stateyard.config import Settings
from tests.conftest import Api
from tests.integration.actions.users.conftest import act
from tests.integration.auth.support import Db


@pytest.fixture
def settings(settings: Settings) -> Settings:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    return msgspec.structs.replace(settings, smtp_port=closed)


async def test_the_answer_is_the_same_and_the_failure_is_logged(
    guest: Api, alice: Api, db: Db, caplog: pytest.LogCaptureFixture
) -> None:
    known = await act(guest, "password_reset_request", {"email": "alice@example.com"})
    unknown = await act(guest, "password_reset_request", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.json() == unknown.json()
    assert "could not mail the code to alice@example.com" in caplog.text
    assert len(await db.rows("password_reset")) == 1
