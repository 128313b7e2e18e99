"""Without STATEYARD_SMTP_HOST a reset cannot be asked for: 503 for every address alike, nothing stored."""

from __future__ import annotations

import msgspec
import pytest

from stateyard.config import Settings
from tests.conftest import Api, assert_problem
from tests.integration.actions.users.conftest import act, state
from tests.integration.auth.support import Db


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, smtp_host=None)


async def test_every_address_gets_the_same_503(guest: Api, alice: Api, db: Db) -> None:
    before = await state(db)
    answers = []
    for address in ("alice@example.com", "nobody@example.com"):
        body = assert_problem(
            await act(guest, "password_reset_request", {"email": address}), 503, "mail-not-configured"
        )
        body.pop("instance", None)
        answers.append(body)
    assert answers[0] == answers[1]
    assert await state(db) == before
