"""Table permissions declared on an entity: public tables for guests, tables users may not create in."""

from __future__ import annotations

from tests.conftest import Api, assert_problem
from tests.integration.auth.support import Db, created

PUBLIC_POST = {
    "name": "post",
    "columns": [{"name": "title", "type": "string", "required": True}],
    "permissions": {
        "table": {"guest": ["peek", "read"], "owner": ["all"], "group": ["peek", "read", "create"]},
        "row": {"guest": ["peek", "read"], "owner": ["all"]},
    },
}

CATALOG = {
    "name": "catalog_item",
    "columns": [{"name": "label", "type": "string", "required": True}],
    "permissions": {
        "table": {"owner": ["all"], "group": ["peek", "read"]},
        "row": {"owner": ["all"], "group": ["peek", "read"]},
    },
    "row_groups": ["users"],
}


async def test_guests_list_only_rows_whose_row_permission_lets_guests_read(admin: Api, alice: Api, guest: Api) -> None:
    assert (await admin.post("/api/entity", PUBLIC_POST)).status_code == 201
    public = await created(alice, "post", {"title": "hello world"})
    private = {"guest": [], "owner": ["all"], "group": []}
    draft = await created(alice, "post", {"title": "draft", "permission": private})
    teaser = {"guest": ["peek"], "owner": ["all"], "group": []}
    peek_only = await created(alice, "post", {"title": "teaser", "permission": teaser})
    assert peek_only["permission"]["guest"] == ["peek"]

    listed = await guest.get("/api/post")
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["data"]] == [public["id"]]
    assert listed.json()["meta"]["total"] == 1
    one = await guest.get(f"/api/post/{public['id']}")
    assert one.status_code == 200 and one.json()["title"] == "hello world"
    assert_problem(await guest.get(f"/api/post/{draft['id']}"), 404, "not-found")
    body = assert_problem(await guest.get(f"/api/post/{peek_only['id']}"), 401, "unauthorized")
    assert (body["permission"], body["scope"]) == ("read", "row")


async def test_guests_may_read_a_public_table_but_not_write_to_it(admin: Api, alice: Api, guest: Api, db: Db) -> None:
    assert (await admin.post("/api/entity", PUBLIC_POST)).status_code == 201
    post = await created(alice, "post", {"title": "hello"})
    audits = await db.audit_count()
    body = assert_problem(await guest.post("/api/post", {"title": "spam"}), 401, "unauthorized")
    assert (body["permission"], body["scope"], body["entity"]) == ("create", "table", "post")
    body = assert_problem(await guest.patch(f"/api/post/{post['id']}", {"title": "spam"}), 401, "unauthorized")
    assert (body["permission"], body["scope"]) == ("update", "table")
    assert [r["title"] for r in await db.rows("post")] == ["hello"]
    assert await db.audit_count() == audits


async def test_table_without_group_create_refuses_users_with_403(admin: Api, alice: Api, guest: Api, db: Db) -> None:
    assert (await admin.post("/api/entity", CATALOG)).status_code == 201
    item = await created(admin, "catalog_item", {"label": "widget"})
    audits = await db.audit_count()
    body = assert_problem(await alice.post("/api/catalog_item", {"label": "mine"}), 403, "forbidden")
    assert (body["permission"], body["scope"], body["entity"]) == ("create", "table", "catalog_item")
    assert "create" in body["detail"]
    body = assert_problem(await alice.patch(f"/api/catalog_item/{item['id']}", {"label": "x"}), 403, "forbidden")
    assert (body["permission"], body["scope"]) == ("update", "table")
    body = assert_problem(await alice.delete(f"/api/catalog_item/{item['id']}"), 403, "forbidden")
    assert (body["permission"], body["scope"]) == ("delete", "table")
    # Reading is granted to the users group, on the table and (through row_groups) on each row.
    listed = (await alice.get("/api/catalog_item")).json()
    assert [r["label"] for r in listed["data"]] == ["widget"]
    assert_problem(await guest.get("/api/catalog_item"), 401, "unauthorized")
    assert [r["label"] for r in await db.rows("catalog_item")] == ["widget"]
    assert await db.audit_count() == audits


async def test_table_permission_change_takes_effect_without_restart(admin: Api, alice: Api) -> None:
    created_entity = (await admin.post("/api/entity", CATALOG)).json()
    assert_problem(await alice.post("/api/catalog_item", {"label": "no"}), 403, "forbidden")
    permissions = {**CATALOG["permissions"], "table": {"owner": ["all"], "group": ["peek", "read", "create"]}}
    response = await admin.patch(f"/api/entity/{created_entity['id']}", {"permissions": permissions})
    assert response.status_code == 200, response.text
    assert (await alice.post("/api/catalog_item", {"label": "yes"})).status_code == 201
