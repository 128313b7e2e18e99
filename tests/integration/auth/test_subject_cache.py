"""Resolved callers are cached per process and forgotten when security changes (see AuthService)."""

from __future__ import annotations

import pytest

from stateyard.config import Settings
from stateyard.core.clock import FrozenClock
from stateyard.core.errors import ProblemError
from stateyard.platform import Platform
from tests.conftest import Api, assert_problem


async def test_disabling_an_account_takes_effect_at_once_in_this_process(admin: Api) -> None:
    user = await admin.signup("cached@example.com")
    user_id = (await user.me())["id"]
    assert (await user.get(f"/api/user_account/{user_id}")).status_code == 200
    assert (await admin.patch(f"/api/user_account/{user_id}", {"active": False})).status_code == 200
    assert_problem(await user.get(f"/api/user_account/{user_id}"), 401, "unauthorized")


async def test_another_process_forgets_its_cached_callers_when_it_polls(
    admin: Api, settings: Settings, clock: FrozenClock
) -> None:
    user = await admin.signup("elsewhere@example.com")
    user_id = (await user.me())["id"]
    other = Platform(settings, clock=clock)
    await other.start()
    try:
        header = f"Bearer {user.token}"
        assert (await other.auth.subject_for(header)).user_id is not None
        assert (await admin.patch(f"/api/user_account/{user_id}", {"active": False})).status_code == 200
        # Until it polls, the other process may still accept the token (the documented window) ...
        await other.auth.poll()
        # ... and afterwards it refuses it.
        with pytest.raises(ProblemError) as refused:
            await other.auth.subject_for(header)
        assert refused.value.status == 401
    finally:
        await other.stop()


async def test_group_membership_changes_reach_cached_callers(admin: Api) -> None:
    user = await admin.signup("member@example.com")
    user_id = (await user.me())["id"]
    group = (await admin.post("/api/usergroup", {"name": "auditors"})).json()
    secret = (
        await admin.post(
            "/api/entity",
            {"name": "ledger", "columns": [{"name": "amount", "type": "integer"}], "groups": ["auditors"]},
        )
    ).json()
    assert secret["name"] == "ledger"
    assert_problem(await user.get("/api/ledger"), 403, "forbidden")
    assert (await admin.post(f"/api/usergroup/{group['id']}/members", {"id": user_id})).status_code == 204
    assert (await user.get("/api/ledger")).status_code == 200
    assert (await admin.delete(f"/api/usergroup/{group['id']}/members/{user_id}")).status_code == 204
    assert_problem(await user.get("/api/ledger"), 403, "forbidden")
