"""Every row change leaves one audit entry, written with the change, readable by the row's owner."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import Api, assert_problem
from tests.integration.auth.support import Db, created, filter_eq, user_id

HIDDEN = "[hidden]"


def only(entries: list[dict[str, Any]], operation: str) -> dict[str, Any]:
    (entry,) = [e for e in entries if e["operation"] == operation]
    return entry


async def test_create_update_delete_are_audited_with_actor_and_changes(alice: Api, notes: None, db: Db) -> None:
    alice_id = uuid.UUID(await user_id(alice))
    note = await created(alice, "note", {"title": "first", "secret": "s3cret", "pin": "pin-long-enough"})
    created_entry = only(await db.audit_of("note", note["id"]), "create")
    assert created_entry["before"] is None
    after = created_entry["after"]
    assert after["title"] == "first" and after["id"] == note["id"]
    assert after["secret"] == HIDDEN and after["pin"] == HIDDEN
    assert "version" not in after and "created_at" not in after
    assert created_entry["actor_id"] == alice_id and created_entry["owner_id"] == alice_id

    response = await alice.patch(f"/api/note/{note['id']}", {"title": "second", "secret": "s3cret-2", "version": 1})
    assert response.status_code == 200, response.text
    updated = only(await db.audit_of("note", note["id"]), "update")
    assert updated["before"] == {"title": "first", "secret": HIDDEN}
    assert updated["after"] == {"title": "second", "secret": HIDDEN}
    assert updated["actor_id"] == alice_id

    assert (await alice.delete(f"/api/note/{note['id']}")).status_code == 204
    deleted = only(await db.audit_of("note", note["id"]), "delete")
    assert deleted["after"] is None
    assert deleted["before"]["title"] == "second" and deleted["before"]["secret"] == HIDDEN
    assert deleted["before"]["pin"] == HIDDEN
    assert deleted["actor_id"] == alice_id


async def test_link_and_unlink_are_audited(alice: Api, notes: None, db: Db) -> None:
    folder = await created(alice, "folder", {"name": "f"})
    note = await created(alice, "note", {"title": "n"})
    assert (await alice.post(f"/api/note/{note['id']}/tags", {"id": folder["id"]})).status_code == 204
    assert (await alice.delete(f"/api/note/{note['id']}/tags/{folder['id']}")).status_code == 204
    entries = await db.audit_of("note", note["id"])
    link, unlink = only(entries, "link"), only(entries, "unlink")
    assert (link["before"], link["after"]) == (None, {"tags": folder["id"]})
    assert (unlink["before"], unlink["after"]) == ({"tags": folder["id"]}, None)
    assert link["actor_id"] == unlink["actor_id"] == uuid.UUID(await user_id(alice))


async def test_admin_change_names_the_admin_as_actor_and_the_owner_as_owner(
    admin: Api, alice: Api, notes: None, db: Db
) -> None:
    note = await created(alice, "note", {"title": "n"})
    assert (await admin.patch(f"/api/note/{note['id']}", {"title": "by admin"})).status_code == 200
    entry = only(await db.audit_of("note", note["id"]), "update")
    assert entry["actor_id"] == uuid.UUID(await user_id(admin))
    assert entry["owner_id"] == uuid.UUID(await user_id(alice))
    # So the owner reads it in their own audit trail.
    listed = (await alice.get("/api/audit_log", params={"filter": filter_eq("operation", "update")})).json()
    assert [e["after"] for e in listed["data"]] == [{"title": "by admin"}]


async def test_signup_and_group_membership_are_audited_with_the_password_hidden(admin: Api, guest: Api, db: Db) -> None:
    carol = await guest.signup("carol@example.com")
    carol_id = await user_id(carol)
    (entry,) = await db.audit_of("user_account", carol_id)
    assert entry["operation"] == "create" and entry["after"]["password"] == HIDDEN
    assert entry["after"]["email"] == "carol@example.com"
    group = await created(admin, "usergroup", {"name": "team"})
    assert (await admin.post(f"/api/usergroup/{group['id']}/members", {"id": carol_id})).status_code == 204
    link = only(await db.audit_of("usergroup", group["id"]), "link")
    assert link["after"] == {"members": carol_id}


async def test_admin_filters_the_audit_log(admin: Api, alice: Api, bob: Api, notes: None) -> None:
    a = await created(alice, "note", {"title": "a"})
    await created(bob, "note", {"title": "b"})
    await alice.patch(f"/api/note/{a['id']}", {"title": "a2"})
    condition = {
        "all": [
            {"field": "entity", "op": "equals", "value": "note"},
            {"field": "operation", "op": "equals", "value": "create"},
        ]
    }
    listed = await admin.get("/api/audit_log", params={"filter": json.dumps(condition), "sort": "-created_at"})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["meta"]["total"] == 2
    assert {e["after"]["title"] for e in body["data"]} == {"a", "b"}
    by_row = await admin.get("/api/audit_log", params={"filter": filter_eq("row_id", a["id"])})
    assert sorted(e["operation"] for e in by_row.json()["data"]) == ["create", "update"]
    one = (await admin.get(f"/api/audit_log/{body['data'][0]['id']}")).json()
    assert one["entity"] == "note"
    bad = await admin.get("/api/audit_log", params={"filter": filter_eq("no_such_field", 1)})
    assert_problem(bad, 400, "invalid-filter")


async def test_users_see_the_audit_of_their_own_rows_only(
    admin: Api, alice: Api, bob: Api, notes: None, db: Db
) -> None:
    mine = await created(alice, "note", {"title": "mine"})
    theirs = await created(bob, "note", {"title": "theirs"})
    listed = (await alice.get("/api/audit_log", params={"filter": filter_eq("entity", "note")})).json()
    assert [e["row_id"] for e in listed["data"]] == [mine["id"]] and listed["meta"]["total"] == 1
    everything = (await alice.get("/api/audit_log", params={"per_page": "500"})).json()
    assert {e["row_id"] for e in everything["data"]} == {mine["id"], await user_id(alice)}
    (entry,) = await db.audit_of("note", theirs["id"])
    assert_problem(await alice.get(f"/api/audit_log/{entry['id']}"), 404, "not-found")
    theirs_filtered = await alice.get("/api/audit_log", params={"filter": filter_eq("row_id", theirs["id"])})
    assert theirs_filtered.json()["meta"]["total"] == 0
    assert_problem(await alice.as_guest().get("/api/audit_log"), 401, "unauthorized")


async def test_refused_writes_write_no_audit_row(
    admin: Api, alice: Api, bob: Api, guest: Api, notes: None, db: Db
) -> None:
    note = await created(alice, "note", {"title": "n"})
    before = await db.audit_count()
    refusals = [
        (await alice.post("/api/note", {"title": None}), 422),
        (await alice.post("/api/note", {"title": "x", "nope": 1}), 422),
        (await alice.patch(f"/api/note/{note['id']}", {"title": "y", "version": 7}), 409),
        (await bob.patch(f"/api/note/{note['id']}", {"title": "y"}), 404),
        (await bob.delete(f"/api/note/{note['id']}"), 404),
        (await guest.post("/api/note", {"title": "g"}), 401),
        (await alice.post("/api/usergroup", {"name": "mine"}), 403),
        (await admin.post("/api/user_account", {"email": "alice@example.com", "password": "long-enough-1"}), 409),
    ]
    for response, status in refusals:
        assert_problem(response, status)
    assert await db.audit_count() == before
    (stored,) = await db.rows("note", id=note["id"])
    assert stored["title"] == "n" and stored["version"] == 1


async def test_audit_row_is_written_in_the_transaction_of_the_change(alice: Api, notes: None, db: Db) -> None:
    """A change rolled back takes its audit entry with it; inside, both are there together."""
    platform = db.platform
    snapshot = platform.registry.snapshot
    model = snapshot.models["note"]
    audit = snapshot.models["audit_log"].table
    subject = await db.run(platform.auth.subject_for_user, uuid.UUID(await user_id(alice)))
    before = await db.audit_count()
    seen_inside: list[int] = []

    async def create_then_abandon() -> None:
        async with platform.db.write() as conn:
            row = await platform.records.create_in(conn, snapshot, subject, model, {"title": "doomed"})
            query = select(func.count()).select_from(audit).where(audit.c.row_id == row["id"])
            seen_inside.append(int(await conn.scalar(query) or 0))
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError, match="abandon"):
        await db.run(create_then_abandon)
    assert seen_inside == [1]
    assert await db.rows("note") == []
    assert await db.audit_count() == before


@pytest.mark.parametrize("caller", ["admin", "alice"])
async def test_audit_log_cannot_be_written_through_the_api(
    admin: Api, alice: Api, notes: None, db: Db, caller: str
) -> None:
    api = admin if caller == "admin" else alice
    note = await created(alice, "note", {"title": "n"})
    (entry,) = await db.audit_of("note", note["id"])
    before = await db.rows("audit_log")
    forged = {"entity": "note", "row_id": note["id"], "operation": "delete"}
    for response in (
        await api.post("/api/audit_log", forged),
        await api.patch(f"/api/audit_log/{entry['id']}", {"operation": "nothing"}),
        await api.delete(f"/api/audit_log/{entry['id']}"),
    ):
        body = assert_problem(response, 405, "read-only")
        assert body["entity"] == "audit_log"
    assert await db.rows("audit_log") == before
