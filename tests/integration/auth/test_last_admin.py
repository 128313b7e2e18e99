from __future__ import annotations

from tests.conftest import Api, assert_problem


async def _my_id(api: Api) -> str:
    return (await api.me())["id"]


async def test_the_last_administrator_cannot_be_deleted_or_disabled(admin: Api) -> None:
    admin_id = await _my_id(admin)
    assert_problem(await admin.delete(f"/api/user_account/{admin_id}"), 409, "last-administrator")
    assert_problem(await admin.patch(f"/api/user_account/{admin_id}", {"active": False}), 409, "last-administrator")
    still = await admin.get(f"/api/user_account/{admin_id}")
    assert still.status_code == 200 and still.json()["active"] is True


async def test_an_administrator_can_go_once_another_exists(admin: Api) -> None:
    second = await admin.signup("second-admin@example.com")
    second_id = await _my_id(second)
    groups = (
        await admin.get(
            "/api/usergroup", params={"filter": '{"field": "name", "op": "equals", "value": "administrators"}'}
        )
    ).json()
    admins_group = groups["data"][0]["id"]
    linked = await admin.post(f"/api/usergroup/{admins_group}/members", {"id": second_id})
    assert linked.status_code == 204, linked.text
    second = await admin.signin("second-admin@example.com", "user-password-1")
    first_id = await _my_id(admin)
    assert (await second.patch(f"/api/user_account/{first_id}", {"active": False})).status_code == 200
    assert_problem(await second.delete(f"/api/user_account/{second_id}"), 409, "last-administrator")
