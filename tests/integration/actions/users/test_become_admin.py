"""become_admin is refused (403) while an active administrator exists, to everyone."""

from __future__ import annotations

from tests.conftest import Api, assert_problem
from tests.integration.actions.users.conftest import act, admin_ids, state
from tests.integration.auth.support import Db


async def test_nobody_may_claim_an_install_that_has_an_administrator(admin: Api, alice: Api, db: Db) -> None:
    before = await state(db)
    assert_problem(await act(alice, "become_admin"), 403, "forbidden")
    assert_problem(await act(admin, "become_admin"), 403, "forbidden")
    assert await state(db) == before
    assert (await alice.me())["id"] not in await admin_ids(db)
    assert_problem(await alice.get("/api/revoked_token"), 403, "forbidden")
