"""System entities take extra builder columns, but their shipped columns stay as shipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stateyard.config import Settings
from stateyard.core.errors import ProblemError
from stateyard.entities.loader import load_folder
from tests.conftest import Api, assert_problem
from tests.integration.entities.conftest import Probe, entity_columns

EXTRA = """
entities:
  - name: user_account
    columns:
      - {name: nickname, type: string, max_length: 40, default: anonymous}
"""


async def _user_account(admin: Api) -> dict[str, Any]:
    listed = await admin.get(
        "/api/entity", params={"filter": '{"field": "name", "op": "equals", "value": "user_account"}'}
    )
    (found,) = listed.json()["data"]
    return found  # type: ignore[no-any-return]


def _write(settings: Settings, text: str) -> Path:
    folder = Path(settings.schema_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users.yaml").write_text(text)
    return folder


async def _extend(probe: Probe, settings: Settings) -> None:
    document = load_folder(_write(settings, EXTRA))
    result = await probe.call(probe.platform.entities.apply, document.entities, groups=document.groups)
    assert [(c.kind, c.target) for c in result.changes] == [("add_column", "nickname")]


async def test_a_schema_file_adds_a_builder_column(admin: Api, probe: Probe, settings: Settings) -> None:
    await _extend(probe, settings)
    assert "nickname" in (await probe.tables())["user_account"]
    columns = await entity_columns(admin, (await _user_account(admin))["id"])
    shipped = ["email", "name", "password", "active", "token_version", "totp_secret", "totp_enabled"]
    assert list(columns) == [*shipped, "nickname"]
    assert columns["nickname"]["system"] is False and columns["email"]["system"] is True
    user = await admin.signup("someone@example.com")
    me = (await user.get(f"/api/user_account/{(await user.me())['id']}")).json()
    assert me["nickname"] == "anonymous" and me["email"] == "someone@example.com"
    assert "password" not in me
    changed = await admin.patch(f"/api/user_account/{me['id']}", {"nickname": "sam"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["nickname"] == "sam"
    # Applying the same file again changes nothing: the shipped columns it leaves out stay.
    document = load_folder(Path(settings.schema_dir))
    again = await probe.call(probe.platform.entities.apply, document.entities)
    assert again.changes == []


async def test_extending_keeps_the_shipped_permissions(admin: Api, probe: Probe, settings: Settings) -> None:
    shipped = await _user_account(admin)
    await _extend(probe, settings)
    extended = await _user_account(admin)
    for field in ("label", "table_permission", "row_permission", "groups", "row_groups"):
        assert extended[field] == shipped[field], field
    user = await admin.signup("someone@example.com")
    body = {"email": "other@example.com", "password": "pw-pw-pw-pw"}
    assert_problem(await user.post("/api/user_account", body), 403, "forbidden")
    assert_problem(await user.delete(f"/api/user_account/{(await user.me())['id']}"), 403, "forbidden")


async def test_a_file_cannot_redefine_a_shipped_column(admin: Api, probe: Probe, settings: Settings) -> None:
    text = "entities:\n  - name: user_account\n    columns: [{name: email, type: email, required: true}]\n"
    document = load_folder(_write(settings, text))
    before = await probe.state()
    with pytest.raises(ProblemError) as refused:
        await probe.call(probe.platform.entities.apply, document.entities)
    assert (refused.value.status, refused.value.code) == (409, "system-entity")
    assert "user_account.email" in refused.value.detail
    assert await probe.state() == before
    # Declared exactly as shipped, it is accepted and changes nothing.
    same = (
        "entities:\n  - name: user_account\n    columns: [{name: email, type: email, required: true, unique: true}]\n"
    )
    document = load_folder(_write(settings, same))
    assert (await probe.call(probe.platform.entities.apply, document.entities)).changes == []


async def test_a_system_entity_takes_label_changes_through_the_api(admin: Api) -> None:
    entity_id = (await _user_account(admin))["id"]
    response = await admin.patch(f"/api/entity/{entity_id}", {"label": "Accounts"})
    assert response.status_code == 200, response.text
    assert response.json()["label"] == "Accounts"


async def test_a_builder_column_can_be_dropped_again(admin: Api, probe: Probe, settings: Settings) -> None:
    await _extend(probe, settings)
    columns = await entity_columns(admin, (await _user_account(admin))["id"])
    url = f"/api/entity_column/{columns['nickname']['id']}"
    assert (await admin.delete(url, params={"allow_destructive": "true"})).status_code == 204
    assert "nickname" not in (await probe.tables())["user_account"]


async def test_shipped_columns_cannot_be_dropped_retyped_or_renamed(admin: Api, probe: Probe) -> None:
    columns = await entity_columns(admin, (await _user_account(admin))["id"])
    allow = {"allow_destructive": "true"}
    before = await probe.state()
    for name in ("email", "name", "password", "active"):
        url = f"/api/entity_column/{columns[name]['id']}"
        assert_problem(await admin.delete(url, params=allow), 409, "system-entity")
        assert_problem(await admin.patch(url, {"type": "text"}, params=allow), 409, "system-entity")
        assert_problem(await admin.patch(url, {"name": f"my_{name}"}, params=allow), 409, "system-entity")
    assert await probe.state() == before


async def test_shipped_column_options_cannot_be_changed(admin: Api, probe: Probe) -> None:
    columns = await entity_columns(admin, (await _user_account(admin))["id"])
    before = await probe.state()
    url = f"/api/entity_column/{columns['email']['id']}"
    for change in ({"unique": False}, {"required": False}):
        assert_problem(await admin.patch(url, change), 409, "system-entity")
    assert await probe.state() == before
    first = await admin.signup("twice@example.com")
    assert first.token
    again = await admin.client.post(
        "/action/user_account/signup",
        json={
            "attributes": {"email": "TWICE@example.com", "password": "pw-pw-pw-pw", "password_confirm": "pw-pw-pw-pw"}
        },
    )
    assert_problem(again, 409)


async def test_system_tables_of_definitions_are_protected_too(admin: Api, probe: Probe) -> None:
    listed = (await admin.get("/api/entity", params={"per_page": "100"})).json()["data"]
    entity_row = next(e for e in listed if e["name"] == "entity_column")
    columns = await entity_columns(admin, entity_row["id"])
    before = await probe.state()
    response = await admin.delete(f"/api/entity_column/{columns['type']['id']}", params={"allow_destructive": "true"})
    assert_problem(response, 409, "system-entity")
    relations = (await admin.get(f"/api/entity/{entity_row['id']}", params={"include": "relations"})).json()
    (relation,) = relations["relations"]
    response = await admin.delete(f"/api/entity_relation/{relation['id']}", params={"allow_destructive": "true"})
    assert_problem(response, 409, "system-entity")
    assert await probe.state() == before
