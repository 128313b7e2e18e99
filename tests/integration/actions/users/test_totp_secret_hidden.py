"""The two-factor seed (a ``secret`` column) never leaves the server, to administrators neither."""

from __future__ import annotations

import json

from stateyard.core.clock import FrozenClock
from tests.conftest import Api, assert_problem
from tests.integration.actions.users.conftest import account, act, stored, totp_code
from tests.integration.auth.support import Db


async def test_no_read_path_shows_the_seed(admin: Api, alice: Api, clock: FrozenClock, db: Db) -> None:
    secret = stored(await act(alice, "totp_register"), "totp")["secret"]
    assert (await act(alice, "totp_verify", {"code": totp_code(secret, clock)})).status_code == 200
    me = await account(db, alice)
    stored_value = me["totp_secret"]
    assert db.platform.crypto.decrypt(stored_value) == secret
    uid = str(me["id"])
    responses = [
        await admin.get("/api/user_account"),
        await admin.get(f"/api/user_account/{uid}"),
        await alice.get(f"/api/user_account/{uid}"),
        await admin.get("/api/usergroup", params={"include": "members"}),
        await admin.get(f"/api/usergroup/{db.platform.registry.snapshot.group_id('users')}/members"),
        await admin.get("/api/audit_log", params={"per_page": "500"}),
        await alice.get("/api/audit_log", params={"per_page": "500"}),
    ]
    for response in responses:
        assert response.status_code == 200, response.text
        assert secret not in response.text and stored_value not in response.text
    shown = (await admin.get(f"/api/user_account/{uid}")).json()
    assert "totp_secret" not in shown and shown["totp_enabled"] is True
    logged = [
        r
        for r in (await admin.get("/api/audit_log", params={"per_page": "500"})).json()["data"]
        if "totp_secret" in json.dumps(r)
    ]
    assert logged and all(r["after"].get("totp_secret") in (None, "[hidden]") for r in logged)


async def test_the_seed_cannot_be_asked_for_filtered_or_sorted(admin: Api) -> None:
    for params in (
        {"fields": "email,totp_secret"},
        {"filter": json.dumps({"field": "totp_secret", "op": "is_not_empty"})},
        {"sort": "totp_secret"},
    ):
        assert_problem(await admin.get("/api/user_account", params=params), 400)


async def test_the_openapi_row_schema_leaves_it_out(admin: Api) -> None:
    document = (await admin.get("/schema/openapi.json")).json()
    get = document["paths"]["/api/user_account/{id}"]["get"]
    ref = get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    row = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"email", "token_version", "totp_enabled"} <= set(row["properties"])
    assert "totp_secret" not in row["properties"] and "password" not in row["properties"]


async def test_a_secret_column_is_never_returned_on_a_builder_entity_either(admin: Api, alice: Api) -> None:
    entity = {
        "name": "integration_key",
        "columns": [{"name": "label", "type": "string"}, {"name": "key", "type": "secret"}],
    }
    assert (await admin.post("/api/entity", entity)).status_code == 201
    created = await alice.post("/api/integration_key", {"label": "crm", "key": "sk-live-123"})
    assert created.status_code == 201, created.text
    assert "key" not in created.json()
    for response in (
        await admin.get("/api/integration_key"),
        await alice.get(f"/api/integration_key/{created.json()['id']}"),
    ):
        assert response.status_code == 200 and "sk-live-123" not in response.text and '"key"' not in response.text
    bad = {"name": "bad_key", "columns": [{"name": "key", "type": "secret", "default": "x"}]}
    assert_problem(await admin.post("/api/entity", bad), 400, "invalid-definition")
