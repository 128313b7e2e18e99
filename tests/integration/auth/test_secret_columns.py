"""Encrypted columns are ciphertext at rest and clear only to their readers; passwords never leave."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.auth.support import Db, created, filter_eq, user_id

SHARED_READ = {"guest": [], "owner": ["all"], "group": ["peek", "read"]}
CLEAR = "the launch code is 1234"
PIN = "pin-is-long-enough"


async def shared_note(admin: Api, owner: Api, reader: Api) -> dict[str, Any]:
    group = await created(admin, "usergroup", {"name": "readers"})
    await admin.post(f"/api/usergroup/{group['id']}/members", {"id": await user_id(reader)})
    folder = await created(owner, "folder", {"name": "f", "permission": SHARED_READ})
    note = await created(
        owner,
        "note",
        {"title": "t", "secret": CLEAR, "pin": PIN, "folder_id": folder["id"], "permission": SHARED_READ},
    )
    for entity, row_id in (("note", note["id"]), ("folder", folder["id"])):
        body = {"entity": entity, "row_id": row_id, "usergroup_id": group["id"]}
        assert (await owner.post("/api/row_share", body)).status_code == 201
    return note


async def test_encrypted_value_is_not_stored_in_clear(alice: Api, notes: None, db: Db) -> None:
    note = await created(alice, "note", {"title": "t", "secret": CLEAR})
    assert note["secret"] == CLEAR
    (stored,) = await db.rows("note", id=note["id"])
    assert stored["secret"] and stored["secret"] != CLEAR and CLEAR not in stored["secret"]
    assert db.platform.crypto.decrypt(stored["secret"]) == CLEAR
    other = await created(alice, "note", {"title": "t2", "secret": CLEAR})
    (stored_again,) = await db.rows("note", id=other["id"])
    assert stored_again["secret"] != stored["secret"]


async def test_encrypted_value_is_clear_to_owner_and_admin_and_absent_for_other_readers(
    admin: Api, alice: Api, bob: Api, notes: None
) -> None:
    note = await shared_note(admin, alice, bob)
    url = f"/api/note/{note['id']}"
    assert (await alice.get(url)).json()["secret"] == CLEAR
    assert (await admin.get(url)).json()["secret"] == CLEAR
    seen_by_bob = await bob.get(url)
    assert seen_by_bob.status_code == 200 and seen_by_bob.json()["title"] == "t"
    assert "secret" not in seen_by_bob.json()
    (listed,) = (await bob.get("/api/note")).json()["data"]
    assert "secret" not in listed
    (listed,) = (await alice.get("/api/note")).json()["data"]
    assert listed["secret"] == CLEAR
    folder = (await bob.get(f"/api/folder/{note['folder_id']}", params={"include": "notes"})).json()
    assert [n["id"] for n in folder["notes"]] == [note["id"]]
    assert "secret" not in folder["notes"][0]
    assert "secret" not in (await bob.get(f"/api/folder/{note['folder_id']}/notes")).json()["data"][0]
    assert CLEAR not in (await bob.get(url, params={"include": "folder"})).text


async def test_encrypted_column_readers_name_who_sees_the_clear_value(
    admin: Api, alice: Api, bob: Api, guest: Api, db: Db
) -> None:
    auditors = await created(admin, "usergroup", {"name": "auditors"})
    await admin.post(f"/api/usergroup/{auditors['id']}/members", {"id": await user_id(bob)})
    vault = {
        "name": "vault",
        "columns": [
            {"name": "code", "type": "encrypted", "readers": ["auditors"]},
            {"name": "label", "type": "string"},
        ],
    }
    assert (await admin.post("/api/entity", vault)).status_code == 201
    carol = await guest.signup("carol@example.com")
    row = await created(alice, "vault", {"code": CLEAR, "label": "l", "permission": SHARED_READ})
    # The owner is not among the readers, so even she does not get the value back.
    assert "code" not in row and "code" not in (await alice.get(f"/api/vault/{row['id']}")).json()
    users = (await admin.get("/api/usergroup", params={"filter": filter_eq("name", "users")})).json()["data"][0]
    shared = {"entity": "vault", "row_id": row["id"], "usergroup_id": users["id"]}
    assert (await alice.post("/api/row_share", shared)).status_code == 201
    assert (await bob.get(f"/api/vault/{row['id']}")).json()["code"] == CLEAR
    assert (await bob.get("/api/vault", params={"fields": "code"})).json()["data"][0]["code"] == CLEAR
    seen_by_carol = await carol.get(f"/api/vault/{row['id']}")
    assert seen_by_carol.json()["label"] == "l" and "code" not in seen_by_carol.json()
    assert CLEAR not in (await carol.get("/api/vault", params={"fields": "code"})).text
    assert (await admin.get(f"/api/vault/{row['id']}")).json()["code"] == CLEAR


async def test_updating_an_encrypted_value_stores_new_ciphertext(alice: Api, notes: None, db: Db) -> None:
    note = await created(alice, "note", {"title": "t", "secret": CLEAR})
    response = await alice.patch(f"/api/note/{note['id']}", {"secret": "rotated"})
    assert response.status_code == 200 and response.json()["secret"] == "rotated"
    (stored,) = await db.rows("note", id=note["id"])
    assert "rotated" not in stored["secret"] and db.platform.crypto.decrypt(stored["secret"]) == "rotated"


async def test_password_columns_never_appear_in_any_response(
    admin: Api, alice: Api, bob: Api, notes: None, db: Db
) -> None:
    note = await shared_note(admin, alice, bob)
    (stored,) = await db.rows("note", id=note["id"])
    assert stored["pin"].startswith("$argon2")
    assert "pin" not in note
    patched = await alice.patch(f"/api/note/{note['id']}", {"pin": "another-long-pin"})
    assert patched.status_code == 200 and "pin" not in patched.json()
    folder_id = note["folder_id"]
    responses = []
    for api in (admin, alice, bob):
        responses += [
            await api.get(f"/api/note/{note['id']}"),
            await api.get("/api/note"),
            await api.get(f"/api/folder/{folder_id}", params={"include": "notes"}),
            await api.get("/api/folder", params={"include": "notes"}),
            await api.get(f"/api/folder/{folder_id}/notes"),
            await api.get(f"/api/note/{note['id']}/folder"),
            await api.get("/api/audit_log"),
        ]
    for response in responses:
        assert response.status_code == 200, response.text
        assert_no_secret(response.json(), forbidden_keys={"pin", "password"})
        assert PIN not in response.text and "another-long-pin" not in response.text and "$argon2" not in response.text


async def test_account_password_never_appears(admin: Api, alice: Api) -> None:
    uid = await user_id(alice)
    for response in (
        await admin.get("/api/user_account"),
        await admin.get(f"/api/user_account/{uid}"),
        await alice.get(f"/api/user_account/{uid}"),
        await admin.get("/api/usergroup", params={"include": "members"}),
        await admin.get("/api/audit_log", params={"per_page": "500"}),
    ):
        assert response.status_code == 200, response.text
        assert "user-password-1" not in response.text and "$argon2" not in response.text
        assert_no_secret(response.json(), forbidden_keys={"password"})


async def test_secret_fields_cannot_be_filtered_or_sorted(admin: Api, notes: None) -> None:
    """A filter on a secret would let anyone who may list rows guess its value one query at a time."""
    for params in (
        {"filter": json.dumps({"field": "pin", "op": "equals", "value": PIN})},
        {"filter": json.dumps({"field": "secret", "op": "starts_with", "value": "the"})},
        {"sort": "pin"},
        {"sort": "-secret"},
        {"fields": "title,pin"},
    ):
        assert_problem(await admin.get("/api/note", params=params), 400)
    password_filter = json.dumps({"field": "password", "op": "is_not_empty"})
    assert_problem(await admin.get("/api/user_account", params={"filter": password_filter}), 400, "invalid-filter")


def assert_no_secret(value: Any, *, forbidden_keys: set[str]) -> None:
    """No object anywhere in ``value`` has a key naming a password column (audit entries aside)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in forbidden_keys:
                assert item == "[hidden]", (key, item)
            assert_no_secret(item, forbidden_keys=forbidden_keys)
    elif isinstance(value, list):
        for item in value:
            assert_no_secret(item, forbidden_keys=forbidden_keys)
