"""A new entity's defaults: owners keep their rows, others learn nothing, admins see all."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.auth.support import Db, created, filter_eq, user_id

OWNER_ONLY = {"guest": [], "owner": ["peek", "read", "update", "delete", "execute", "refer"], "group": []}


def assert_denied(response: Any, status: int, permission: str, scope: str, entity: str) -> dict[str, Any]:
    body = assert_problem(response, status, "unauthorized" if status == 401 else "forbidden")
    assert (body["permission"], body["scope"], body["entity"]) == (permission, scope, entity), body
    assert permission in body["detail"]
    return body


async def test_owner_creates_reads_updates_and_deletes_own_rows(alice: Api, notes: None) -> None:
    note = await created(alice, "note", {"title": "mine"})
    assert note["owner_id"] == await user_id(alice)
    assert note["permission"] == OWNER_ONLY
    assert (await alice.get(f"/api/note/{note['id']}")).json()["title"] == "mine"
    listed = (await alice.get("/api/note")).json()
    assert [r["id"] for r in listed["data"]] == [note["id"]] and listed["meta"]["total"] == 1
    patched = await alice.patch(f"/api/note/{note['id']}", {"title": "still mine", "version": 1})
    assert patched.status_code == 200 and patched.json()["title"] == "still mine"
    assert (await alice.delete(f"/api/note/{note['id']}")).status_code == 204
    assert_problem(await alice.get(f"/api/note/{note['id']}"), 404, "not-found")


async def test_other_user_sees_nothing_in_lists_or_counts(alice: Api, bob: Api, notes: None) -> None:
    for i in range(3):
        await created(alice, "note", {"title": f"a{i}"})
    mine = await created(bob, "note", {"title": "b"})
    for params in ({}, {"filter": filter_eq("title", "a1")}, {"per_page": "1"}, {"page": "2", "per_page": "1"}):
        listed = (await bob.get("/api/note", params=params)).json()
        expected = [mine["id"]] if params in ({}, {"per_page": "1"}) else []
        assert [r["id"] for r in listed["data"]] == expected, params
        assert listed["meta"]["total"] == (1 if "filter" not in params else 0), params


async def test_other_user_gets_404_for_get_patch_delete_and_nothing_changes(
    alice: Api, bob: Api, notes: None, db: Db
) -> None:
    note = await created(alice, "note", {"title": "private"})
    missing = "01900000-0000-7000-8000-000000000000"
    audits = await db.audit_count()
    for response in (
        await bob.get(f"/api/note/{note['id']}"),
        await bob.patch(f"/api/note/{note['id']}", {"title": "hacked"}),
        await bob.delete(f"/api/note/{note['id']}"),
    ):
        body = assert_problem(response, 404, "not-found")
        assert "permission" not in body
    unknown = assert_problem(await bob.get(f"/api/note/{missing}"), 404, "not-found")
    known = assert_problem(await bob.get(f"/api/note/{note['id']}"), 404, "not-found")
    assert unknown.keys() == known.keys()
    (stored,) = await db.rows("note", id=note["id"])
    assert stored["title"] == "private" and stored["version"] == 1
    assert await db.audit_count() == audits


async def test_other_user_sees_nothing_through_relations(admin: Api, alice: Api, bob: Api, notes: None, db: Db) -> None:
    folder = await created(bob, "folder", {"name": "bob's"})
    note = await created(
        admin, "note", {"title": "alice's", "folder_id": folder["id"], "owner_id": await user_id(alice)}
    )
    assert note["owner_id"] == await user_id(alice)

    one = (await bob.get(f"/api/folder/{folder['id']}", params={"include": "notes"})).json()
    assert one["notes"] == []
    listed = (await bob.get("/api/folder", params={"include": "notes"})).json()
    assert listed["data"][0]["notes"] == []
    related = (await bob.get(f"/api/folder/{folder['id']}/notes")).json()
    assert related["data"] == [] and related["meta"]["total"] == 0

    # The other way round: Alice's note points at Bob's folder, which she may not even peek at.
    shown = (await alice.get(f"/api/note/{note['id']}", params={"include": "folder"})).json()
    assert shown["folder"] is None
    assert_problem(await alice.get(f"/api/note/{note['id']}/folder"), 404, "not-found")
    assert_problem(await alice.get(f"/api/folder/{folder['id']}/notes"), 404, "not-found")

    # An administrator sees both ends.
    assert (await admin.get(f"/api/folder/{folder['id']}/notes")).json()["meta"]["total"] == 1
    assert (await admin.get(f"/api/note/{note['id']}", params={"include": "folder"})).json()["folder"]["id"] == folder[
        "id"
    ]


async def test_guests_get_401_naming_the_missing_permission(alice: Api, guest: Api, notes: None) -> None:
    note = await created(alice, "note", {"title": "x"})
    assert_denied(await guest.get("/api/note"), 401, "read", "table", "note")
    assert_denied(await guest.get(f"/api/note/{note['id']}"), 401, "read", "table", "note")
    assert_denied(await guest.post("/api/note", {"title": "guest"}), 401, "create", "table", "note")
    assert_denied(await guest.patch(f"/api/note/{note['id']}", {"title": "g"}), 401, "update", "table", "note")
    assert_denied(await guest.delete(f"/api/note/{note['id']}"), 401, "delete", "table", "note")
    assert_denied(await guest.get(f"/api/note/{note['id']}/folder"), 401, "read", "table", "note")


async def test_user_who_may_peek_learns_which_permission_is_missing(alice: Api, bob: Api, notes: None, db: Db) -> None:
    note = await created(alice, "note", {"title": "public"})
    public = {**OWNER_ONLY, "guest": ["peek", "read"]}
    assert (await alice.patch(f"/api/note/{note['id']}", {"permission": public})).status_code == 200
    assert (await bob.get(f"/api/note/{note['id']}")).json()["title"] == "public"
    assert [r["id"] for r in (await bob.get("/api/note")).json()["data"]] == [note["id"]]
    audits = await db.audit_count()
    assert_denied(await bob.patch(f"/api/note/{note['id']}", {"title": "mine now"}), 403, "update", "row", "note")
    assert_denied(await bob.delete(f"/api/note/{note['id']}"), 403, "delete", "row", "note")
    (stored,) = await db.rows("note", id=note["id"])
    assert stored["title"] == "public" and stored["version"] == 2
    assert await db.audit_count() == audits


async def test_admin_sees_and_changes_everything(admin: Api, alice: Api, bob: Api, notes: None) -> None:
    a = await created(alice, "note", {"title": "a"})
    b = await created(bob, "note", {"title": "b"})
    listed = (await admin.get("/api/note")).json()
    assert {r["id"] for r in listed["data"]} == {a["id"], b["id"]} and listed["meta"]["total"] == 2
    patched = await admin.patch(f"/api/note/{a['id']}", {"title": "edited by admin"})
    assert patched.status_code == 200 and patched.json()["owner_id"] == await user_id(alice)
    assert (await alice.get(f"/api/note/{a['id']}")).json()["title"] == "edited by admin"
    assert (await admin.delete(f"/api/note/{b['id']}")).status_code == 204
    assert (await bob.get("/api/note")).json()["meta"]["total"] == 0


async def test_users_see_only_their_own_account(admin: Api, alice: Api, bob: Api) -> None:
    accounts = (await alice.get("/api/user_account")).json()
    assert [a["email"] for a in accounts["data"]] == ["alice@example.com"]
    assert accounts["meta"]["total"] == 1
    assert_problem(await alice.get(f"/api/user_account/{await user_id(bob)}"), 404, "not-found")
    everyone = (await admin.get("/api/user_account")).json()
    assert {a["email"] for a in everyone["data"]} == {"admin@example.com", "alice@example.com", "bob@example.com"}
