"""A row's permission as sent by a client: the readable lists, or an in-range number."""

from __future__ import annotations

from stateyard.auth.permissions import MAX_PERMISSION, spec
from tests.conftest import Api, assert_problem
from tests.integration.auth.support import Db, created


async def test_bad_permission_values_are_422_and_change_nothing(alice: Api, notes: None, db: Db) -> None:
    note = await created(alice, "note", {"title": "x"})
    audits = await db.audit_count()
    for bad in (
        MAX_PERMISSION + 1,
        2**40,
        -1,
        True,
        "all",
        None,
        [],
        {"owner": ["write"]},
        {"owner": "all"},
        {"boss": []},
    ):
        for response in (
            await alice.patch(f"/api/note/{note['id']}", {"permission": bad}),
            await alice.post("/api/note", {"title": "y", "permission": bad}),
        ):
            body = assert_problem(response, 422, "validation")
            assert [e["field"] for e in body["errors"]] == ["permission"], (bad, body)
    assert [(r["title"], r["version"]) for r in await db.rows("note")] == [("x", 1)]
    assert await db.audit_count() == audits


async def test_numeric_permission_in_range_is_accepted(alice: Api, notes: None) -> None:
    note = await created(alice, "note", {"title": "x"})
    value = spec(guest=["peek"], owner=["all"])
    response = await alice.patch(f"/api/note/{note['id']}", {"permission": value})
    assert response.status_code == 200, response.text
    assert response.json()["permission"]["guest"] == ["peek"]
