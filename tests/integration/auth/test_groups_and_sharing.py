"""User groups and row shares: members see what is shared with them, nobody else does."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from tests.conftest import Api, assert_problem
from tests.integration.auth.support import Db, created, filter_eq, user_id

SHARED_READ = {"guest": [], "owner": ["all"], "group": ["peek", "read"]}


async def group_with(admin: Api, name: str, *members: Api) -> dict[str, Any]:
    group = await created(admin, "usergroup", {"name": name})
    for member in members:
        response = await admin.post(f"/api/usergroup/{group['id']}/members", {"id": await user_id(member)})
        assert response.status_code == 204, response.text
    return group


async def share(api: Api, entity: str, row_id: str, group_id: str) -> Any:
    return await api.post("/api/row_share", {"entity": entity, "row_id": row_id, "usergroup_id": group_id})


async def group_id(admin: Api, name: str) -> str:
    found = (await admin.get("/api/usergroup", params={"filter": filter_eq("name", name)})).json()["data"]
    return found[0]["id"]  # type: ignore[no-any-return]


async def test_admin_creates_a_group_and_adds_members(admin: Api, alice: Api, bob: Api) -> None:
    group = await group_with(admin, "editors", alice)
    members = (await admin.get(f"/api/usergroup/{group['id']}/members")).json()
    assert [m["email"] for m in members["data"]] == ["alice@example.com"]
    again = await admin.post(f"/api/usergroup/{group['id']}/members", {"id": await user_id(alice)})
    assert again.status_code == 204
    assert (await admin.get(f"/api/usergroup/{group['id']}/members")).json()["meta"]["total"] == 1


async def test_shared_row_is_visible_to_members_per_the_group_bits(
    admin: Api, alice: Api, bob: Api, notes: None, db: Db
) -> None:
    carol = await alice.as_guest().signup("carol@example.com")
    editors = await group_with(admin, "editors", bob)
    note = await created(alice, "note", {"title": "plan"})
    other = await created(alice, "note", {"title": "not shared"})

    response = await share(alice, "note", note["id"], editors["id"])
    assert response.status_code == 201, response.text
    # Shared, but the row grants the group nothing yet.
    assert (await bob.get("/api/note")).json()["meta"]["total"] == 0
    assert_problem(await bob.get(f"/api/note/{note['id']}"), 404, "not-found")

    patched = await alice.patch(f"/api/note/{note['id']}", {"permission": SHARED_READ})
    assert patched.status_code == 200, patched.text
    assert patched.json()["permission"]["group"] == ["peek", "read"]
    listed = (await bob.get("/api/note")).json()
    assert [r["id"] for r in listed["data"]] == [note["id"]] and listed["meta"]["total"] == 1
    assert (await bob.get(f"/api/note/{note['id']}")).json()["title"] == "plan"
    assert_problem(await bob.get(f"/api/note/{other['id']}"), 404, "not-found")
    body = assert_problem(await bob.patch(f"/api/note/{note['id']}", {"title": "bob's"}), 403, "forbidden")
    assert (body["permission"], body["scope"]) == ("update", "row")

    # Carol is in no group the row is shared with.
    assert (await carol.get("/api/note")).json()["meta"]["total"] == 0
    assert_problem(await carol.get(f"/api/note/{note['id']}"), 404, "not-found")

    # Group bits for update let members change the row too.
    editable = {**SHARED_READ, "group": ["peek", "read", "update"]}
    assert (await alice.patch(f"/api/note/{note['id']}", {"permission": editable})).status_code == 200
    response = await bob.patch(f"/api/note/{note['id']}", {"title": "edited by bob"})
    assert response.status_code == 200, response.text
    (stored,) = await db.rows("note", id=note["id"])
    assert stored["title"] == "edited by bob"


async def test_removing_a_member_or_the_share_hides_the_row_again(
    admin: Api, alice: Api, bob: Api, notes: None
) -> None:
    editors = await group_with(admin, "editors", bob)
    note = await created(alice, "note", {"title": "plan", "permission": SHARED_READ})
    shared = (await share(alice, "note", note["id"], editors["id"])).json()
    assert (await bob.get(f"/api/note/{note['id']}")).status_code == 200

    assert (await alice.delete(f"/api/row_share/{shared['id']}")).status_code == 204
    assert_problem(await bob.get(f"/api/note/{note['id']}"), 404, "not-found")

    await share(alice, "note", note["id"], editors["id"])
    assert (await bob.get(f"/api/note/{note['id']}")).status_code == 200
    removed = await admin.delete(f"/api/usergroup/{editors['id']}/members/{await user_id(bob)}")
    assert removed.status_code == 204, removed.text
    assert_problem(await bob.get(f"/api/note/{note['id']}"), 404, "not-found")


async def test_only_someone_who_may_update_the_row_can_share_it(
    admin: Api, alice: Api, bob: Api, notes: None, db: Db
) -> None:
    editors = await group_with(admin, "editors", bob)
    hidden = await created(alice, "note", {"title": "hidden"})
    readable = await created(alice, "note", {"title": "readable", "permission": SHARED_READ})
    assert (await share(alice, "note", readable["id"], editors["id"])).status_code == 201
    shares_before = len(await db.rows("row_share"))
    audits = await db.audit_count()

    # Bob cannot see the first row at all, so he learns nothing about it.
    assert_problem(await share(bob, "note", hidden["id"], editors["id"]), 404, "not-found")
    # He may read the second but not update it.
    body = assert_problem(await share(bob, "note", readable["id"], editors["id"]), 403, "forbidden")
    assert (body["permission"], body["scope"], body["entity"]) == ("update", "row", "note")
    assert len(await db.rows("row_share")) == shares_before
    assert await db.audit_count() == audits


async def test_share_with_bad_references_is_422(admin: Api, alice: Api, notes: None, db: Db) -> None:
    editors = await group_with(admin, "editors")
    note = await created(alice, "note", {"title": "x"})
    missing = "01900000-0000-7000-8000-000000000000"
    cases = [
        ({"entity": "nothing", "row_id": note["id"], "usergroup_id": editors["id"]}, "entity"),
        ({"entity": "note", "row_id": missing, "usergroup_id": editors["id"]}, "row_id"),
        ({"entity": "note", "row_id": note["id"], "usergroup_id": missing}, "usergroup_id"),
        ({"entity": "note", "row_id": "not-a-uuid", "usergroup_id": editors["id"]}, "row_id"),
        ({"entity": "note", "row_id": note["id"]}, "usergroup_id"),
    ]
    for body, field in cases:
        problem = assert_problem(await alice.post("/api/row_share", body), 422, "validation")
        assert field in {e["field"] for e in problem["errors"]}, (body, problem)
    assert await db.rows("row_share", entity="note") == []


async def test_a_share_cannot_be_changed(admin: Api, alice: Api, notes: None) -> None:
    editors = await group_with(admin, "editors")
    note = await created(alice, "note", {"title": "x"})
    shared = (await share(alice, "note", note["id"], editors["id"])).json()
    assert_problem(await admin.patch(f"/api/row_share/{shared['id']}", {"entity": "folder"}), 405)
    body = assert_problem(await alice.patch(f"/api/row_share/{shared['id']}", {"entity": "folder"}), 403)
    assert (body["permission"], body["scope"]) == ("update", "table")


async def test_users_cannot_add_themselves_to_groups(admin: Api, alice: Api, db: Db) -> None:
    editors = await group_with(admin, "editors")
    me = await user_id(alice)
    for name in ("editors", "administrators", "users"):
        target = editors["id"] if name == "editors" else await group_id(admin, name)
        response = await alice.post(f"/api/usergroup/{target}/members", {"id": me})
        body = assert_problem(response, 403, "forbidden")
        assert body["permission"] == "update"
    members = db.platform.registry.snapshot.models["usergroup"].join_tables["members"]

    async def memberships() -> list[Any]:
        async with db.platform.db.read() as conn:
            return list((await conn.execute(select(members).where(members.c.target_id == uuid.UUID(me)))).all())

    assert await db.run(memberships) == []
    subject = await db.run(db.platform.auth.subject_for_user, uuid.UUID(me))
    assert not subject.is_admin
    assert (await alice.get("/api/user_account")).json()["meta"]["total"] == 1


async def test_users_cannot_create_rename_or_delete_groups(admin: Api, alice: Api, db: Db) -> None:
    editors = await group_with(admin, "editors")
    assert_problem(await alice.post("/api/usergroup", {"name": "mine"}), 403, "forbidden")
    assert_problem(await alice.patch(f"/api/usergroup/{editors['id']}", {"name": "mine"}), 403, "forbidden")
    assert_problem(await alice.delete(f"/api/usergroup/{editors['id']}"), 403, "forbidden")
    assert sorted(r["name"] for r in await db.rows("usergroup")) == ["administrators", "editors", "users"]


async def test_builtin_groups_cannot_be_deleted_or_renamed(admin: Api, db: Db) -> None:
    for name in ("administrators", "users"):
        gid = await group_id(admin, name)
        assert_problem(await admin.delete(f"/api/usergroup/{gid}"), 409, "system-group")
        assert_problem(await admin.patch(f"/api/usergroup/{gid}", {"name": f"{name}2"}), 409, "system-group")
        relabelled = await admin.patch(f"/api/usergroup/{gid}", {"label": f"The {name}"})
        assert relabelled.status_code == 200, relabelled.text
    assert sorted(r["name"] for r in await db.rows("usergroup")) == ["administrators", "users"]
    assert (await admin.get("/api/user_account")).status_code == 200


async def test_a_created_group_can_be_renamed_and_deleted(admin: Api, alice: Api, notes: None) -> None:
    editors = await group_with(admin, "editors", alice)
    renamed = await admin.patch(f"/api/usergroup/{editors['id']}", {"name": "writers"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "writers"
    assert (await admin.delete(f"/api/usergroup/{editors['id']}")).status_code == 204
    assert_problem(await admin.get(f"/api/usergroup/{editors['id']}"), 404, "not-found")


async def test_only_owner_or_admin_may_change_a_rows_permission(
    admin: Api, alice: Api, bob: Api, notes: None, db: Db
) -> None:
    editors = await group_with(admin, "editors", bob)
    editable = {**SHARED_READ, "group": ["peek", "read", "update"]}
    note = await created(alice, "note", {"title": "x", "permission": editable})
    await share(alice, "note", note["id"], editors["id"])
    audits = await db.audit_count()
    grab = {"guest": ["peek", "read"], "owner": ["all"], "group": ["all"]}
    body = assert_problem(await bob.patch(f"/api/note/{note['id']}", {"permission": grab}), 403, "forbidden")
    assert "permission" in body["detail"]
    (stored,) = await db.rows("note", id=note["id"])
    assert stored["version"] == 1
    assert await db.audit_count() == audits
    response = await admin.patch(f"/api/note/{note['id']}", {"permission": grab})
    assert response.status_code == 200 and response.json()["permission"]["guest"] == ["peek", "read"]


async def test_only_admin_may_change_a_rows_owner(admin: Api, alice: Api, bob: Api, notes: None, db: Db) -> None:
    note = await created(alice, "note", {"title": "x"})
    bob_id = await user_id(bob)
    audits = await db.audit_count()
    body = assert_problem(await alice.patch(f"/api/note/{note['id']}", {"owner_id": bob_id}), 403, "forbidden")
    assert "owner" in body["detail"]
    problem = assert_problem(await alice.post("/api/note", {"title": "y", "owner_id": bob_id}), 422, "validation")
    assert [e["field"] for e in problem["errors"]] == ["owner_id"]
    (stored,) = await db.rows("note", id=note["id"])
    assert str(stored["owner_id"]) == await user_id(alice)
    assert len(await db.rows("note")) == 1
    assert await db.audit_count() == audits

    response = await admin.patch(f"/api/note/{note['id']}", {"owner_id": bob_id})
    assert response.status_code == 200 and response.json()["owner_id"] == bob_id
    assert (await bob.get(f"/api/note/{note['id']}")).status_code == 200
    assert_problem(await alice.get(f"/api/note/{note['id']}"), 404, "not-found")


async def test_sharing_with_the_users_group_reaches_every_signed_in_user_but_no_guest(
    admin: Api, alice: Api, bob: Api, guest: Api, notes: None
) -> None:
    note = await created(alice, "note", {"title": "for everyone", "permission": SHARED_READ})
    assert (await share(alice, "note", note["id"], await group_id(admin, "users"))).status_code == 201
    assert (await bob.get(f"/api/note/{note['id']}")).json()["title"] == "for everyone"
    assert (await bob.get("/api/note")).json()["meta"]["total"] == 1
    assert_problem(await guest.get(f"/api/note/{note['id']}"), 401, "unauthorized")


async def test_group_named_by_a_definition_cannot_be_renamed_or_deleted(admin: Api, alice: Api, db: Db) -> None:
    editors = await group_with(admin, "editors", alice)
    definition = {"name": "memo", "columns": [{"name": "text", "type": "string"}], "groups": ["users", "editors"]}
    assert (await admin.post("/api/entity", definition)).status_code == 201
    for response in (
        await admin.patch(f"/api/usergroup/{editors['id']}", {"name": "writers"}),
        await admin.delete(f"/api/usergroup/{editors['id']}"),
    ):
        body = assert_problem(response, 409, "group-in-use")
        assert body["entities"] == ["memo"]
    (stored,) = await db.rows("usergroup", name="editors")
    assert stored["version"] == 1
    relabelled = await admin.patch(f"/api/usergroup/{editors['id']}", {"label": "Editors"})
    assert relabelled.status_code == 200, relabelled.text
