"""Pointing at another row needs the 'refer' permission on it; an unseen row does not exist."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.auth.support import Db, created, user_id

PEEK_READ = {"guest": [], "owner": ["all"], "group": ["peek", "read"]}
MISSING = "01900000-0000-7000-8000-000000000000"


async def shared_folder(admin: Api, owner: Api, member: Api, group_verbs: list[str]) -> dict[str, Any]:
    """A folder of ``owner`` shared with a group holding ``member``, granting ``group_verbs``."""
    group = await created(admin, "usergroup", {"name": "team"})
    await admin.post(f"/api/usergroup/{group['id']}/members", {"id": await user_id(member)})
    permission = {**PEEK_READ, "group": group_verbs}
    folder = await created(owner, "folder", {"name": "shared", "permission": permission})
    response = await owner.post(
        "/api/row_share", {"entity": "folder", "row_id": folder["id"], "usergroup_id": group["id"]}
    )
    assert response.status_code == 201, response.text
    return folder


async def test_belongs_to_a_row_one_may_peek_but_not_refer_to_is_403(
    admin: Api, alice: Api, bob: Api, notes: None, db: Db
) -> None:
    folder = await shared_folder(admin, alice, bob, ["peek", "read"])
    assert (await bob.get(f"/api/folder/{folder['id']}")).status_code == 200
    audits = await db.audit_count()
    body = assert_problem(await bob.post("/api/note", {"title": "n", "folder_id": folder["id"]}), 403, "forbidden")
    assert (body["permission"], body["scope"], body["entity"]) == ("refer", "row", "folder")
    own = await created(bob, "note", {"title": "own"})
    audits = await db.audit_count()
    body = assert_problem(await bob.patch(f"/api/note/{own['id']}", {"folder_id": folder["id"]}), 403, "forbidden")
    assert body["permission"] == "refer"
    link = await bob.post(f"/api/note/{own['id']}/tags", {"id": folder["id"]})
    assert assert_problem(link, 403, "forbidden")["permission"] == "refer"
    assert [r["title"] for r in await db.rows("note")] == ["own"]
    (stored,) = await db.rows("note", id=own["id"])
    assert stored["folder_id"] is None and stored["version"] == 1
    assert await db.audit_count() == audits


async def test_belongs_to_a_row_one_cannot_see_is_422_not_found(alice: Api, bob: Api, notes: None, db: Db) -> None:
    hidden = await created(alice, "folder", {"name": "alice's"})
    own = await created(bob, "note", {"title": "own"})
    audits = await db.audit_count()
    for folder_id in (hidden["id"], MISSING):
        body = assert_problem(await bob.post("/api/note", {"title": "n", "folder_id": folder_id}), 422, "validation")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [("folder_id", "not_found")]
        body = assert_problem(await bob.patch(f"/api/note/{own['id']}", {"folder_id": folder_id}), 422, "validation")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [("folder_id", "not_found")]
        link = assert_problem(await bob.post(f"/api/note/{own['id']}/tags", {"id": folder_id}), 422, "validation")
        assert [(e["field"], e["code"]) for e in link["errors"]] == [("id", "not_found")]
    unseen = assert_problem(await bob.post("/api/note", {"title": "n", "folder_id": hidden["id"]}), 422)
    absent = assert_problem(await bob.post("/api/note", {"title": "n", "folder_id": MISSING}), 422)
    assert unseen["errors"][0]["message"].replace(hidden["id"], "?") == absent["errors"][0]["message"].replace(
        MISSING, "?"
    )
    assert [r["title"] for r in await db.rows("note")] == ["own"]
    assert await db.audit_count() == audits


async def test_refer_granted_through_a_group_lets_members_point_at_the_row(
    admin: Api, alice: Api, bob: Api, notes: None
) -> None:
    folder = await shared_folder(admin, alice, bob, ["peek", "refer"])
    note = await created(bob, "note", {"title": "n", "folder_id": folder["id"]})
    assert note["folder_id"] == folder["id"]
    assert (await bob.post(f"/api/note/{note['id']}/tags", {"id": folder["id"]})).status_code == 204
    # Bob may point at the folder and peek at it, but reading it still needs 'read'.
    shown = (await bob.get(f"/api/note/{note['id']}", params={"include": "folder"})).json()
    assert shown["folder"] == {"id": folder["id"]}
    body = assert_problem(await bob.get(f"/api/folder/{folder['id']}"), 403, "forbidden")
    assert body["permission"] == "read"


async def test_owners_refer_to_their_own_rows(alice: Api, notes: None) -> None:
    folder = await created(alice, "folder", {"name": "mine"})
    note = await created(alice, "note", {"title": "n", "folder_id": folder["id"]})
    assert note["folder_id"] == folder["id"]
