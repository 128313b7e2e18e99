"""An import is the caller's creates (and, for an upsert, updates): same permissions, owner and audit."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import (
    Probe,
    audits,
    counts,
    created,
    csv_bytes,
    define,
    import_json,
    json_bytes,
    listed,
    result,
    row_errors,
    upload,
)

LEDGER = {
    "name": "ledger",
    "columns": [{"name": "code", "type": "string", "unique": True}, {"name": "amount", "type": "integer"}],
    "permissions": {"table": {"owner": ["all"], "group": ["peek", "read"]}},
}
#: Users may add rows but not change any, not even their own.
JOURNAL = {
    "name": "journal",
    "columns": [{"name": "code", "type": "string", "unique": True}, {"name": "amount", "type": "integer"}],
    "permissions": {
        "table": {"owner": ["all"], "group": ["peek", "read", "create"]},
        "row": {"owner": ["peek", "read"], "group": []},
    },
}
#: Customers every user may see but only their owner may refer to.
SHOP = {
    "name": "shop",
    "columns": [{"name": "name", "type": "string"}],
    "permissions": {
        "table": {"owner": ["all"], "group": ["peek", "read", "create", "update", "delete", "refer"]},
        "row": {"owner": ["all"], "group": ["peek", "read"]},
    },
    "row_groups": ["users"],
}
VAULT = {
    "name": "vault",
    "columns": [
        {"name": "label", "type": "string", "unique": True},
        {"name": "pin", "type": "password"},
        {"name": "note", "type": "encrypted"},
    ],
}


async def test_guests_are_401_and_write_nothing(guest: Api, item: Any, probe: Probe) -> None:
    unchanged = await probe.unchanged("item")
    assert_problem(await upload(guest, "item", "items.csv", csv_bytes([["code"], ["A-1"]])), 401, "unauthorized")
    assert_problem(await import_json(guest, "item", "items.csv", csv_bytes([["code"], ["A-1"]])), 401, "unauthorized")
    await unchanged.check()


async def test_users_without_create_permission_are_403(admin: Api, alice: Api, probe: Probe) -> None:
    await define(admin, LEDGER)
    unchanged = await probe.unchanged("ledger")
    body = assert_problem(await upload(alice, "ledger", "l.csv", csv_bytes([["code"], ["L-1"]])), 403, "forbidden")
    assert (body["permission"], body["scope"]) == ("create", "table")
    # A dry run asks the same permission: it tells what a real run would write.
    assert_problem(await upload(alice, "ledger", "l.csv", csv_bytes([["code"], ["L-1"]]), dry_run=True), 403)
    await unchanged.check()


async def test_a_users_import_is_owned_by_that_user_and_audited_per_row_with_the_actor(
    admin: Api, alice: Api, bob: Api, item: Any, probe: Probe
) -> None:
    data = csv_bytes([["code", "name"], ["A-1", "one"], ["A-2", "two"], ["A-3", "three"]])
    report = result(await upload(alice, "item", "items.csv", data))
    assert report["imported"] == 3
    alice_id = (await alice.me())["id"]
    rows = await listed(alice, "item")
    assert [r["code"] for r in rows] == ["A-1", "A-2", "A-3"]
    assert {r["owner_id"] for r in rows} == {alice_id}
    assert {r["version"] for r in rows} == {1}
    # Default row permission: nobody else sees them.
    assert await listed(bob, "item") == []
    assert len(await listed(admin, "item")) == 3
    records = await audits(probe, "item")
    assert len(records) == 3
    by_row = {str(r["row_id"]): r for r in records}
    for row in rows:
        record = by_row[row["id"]]
        assert record["operation"] == "create"
        assert str(record["actor_id"]) == alice_id and str(record["owner_id"]) == alice_id
        assert record["before"] is None and record["after"]["code"] == row["code"]
    # Alice reads the history of her own rows through the API too.
    only_items = '{"field": "entity", "op": "equals", "value": "item"}'
    history = await alice.get("/api/audit_log", params={"per_page": 100, "filter": only_items})
    assert history.status_code == 200 and history.json()["meta"]["total"] == 3


async def test_only_administrators_set_owners_from_a_file(
    admin: Api, alice: Api, bob: Api, item: Any, probe: Probe
) -> None:
    bob_id = (await bob.me())["id"]
    data = csv_bytes([["code", "owner_id"], ["A-1", bob_id], ["A-2", ""]])
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(alice, "item", "items.csv", data), 422, "import-invalid")
    assert row_errors(body) == [(2, "owner_id", "forbidden")]
    await unchanged.check()
    result(await upload(admin, "item", "items.csv", data))
    owners = {r["code"]: r["owner_id"] for r in await listed(admin, "item")}
    assert owners == {"A-1": bob_id, "A-2": (await admin.me())["id"]}
    assert [r["code"] for r in await listed(bob, "item")] == ["A-1"]


async def test_a_row_permission_in_the_file_applies_like_in_a_create(alice: Api, bob: Api, item: Any) -> None:
    public = {"guest": [], "owner": ["all"], "group": ["peek", "read"]}
    records = [{"code": "A-1", "permission": public}, {"code": "A-2"}]
    result(await upload(alice, "item", "items.json", json_bytes(records)))
    rows = await listed(alice, "item")
    assert rows[0]["permission"]["group"] == ["peek", "read"] and rows[1]["permission"]["group"] == []


async def test_references_need_the_refer_permission(admin: Api, alice: Api, bob: Api, item: Any, probe: Probe) -> None:
    await define(admin, SHOP)
    response = await admin.post(
        "/api/entity_relation",
        {
            "entity_id": (await listed(admin, "entity", filter='{"field": "name", "op": "equals", "value": "item"}'))[
                0
            ]["id"],
            "name": "shop",
            "type": "belongs_to",
            "target": "shop",
        },
    )
    assert response.status_code == 201, response.text
    mine = await created(alice, "shop", {"name": "Alice's"})
    visible = await created(bob, "shop", {"name": "Bob's"})
    hidden = await created(
        bob, "shop", {"name": "Bob's private", "permission": {"guest": [], "owner": ["all"], "group": []}}
    )
    # What a create answers: 403 for a row seen but not referable.
    assert_problem(await alice.post("/api/item", {"code": "X", "shop_id": visible["id"]}), 403)
    data = csv_bytes(
        [
            ["code", "shop_id"],
            ["A-1", mine["id"]],
            ["A-2", visible["id"]],
            ["A-3", hidden["id"]],
            ["A-4", str(uuid.uuid4())],
        ]
    )
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(alice, "item", "items.csv", data), 422, "import-invalid")
    assert row_errors(body) == [(3, "shop_id", "forbidden"), (4, "shop_id", "not_found"), (5, "shop_id", "not_found")]
    await unchanged.check()
    report = result(await upload(alice, "item", "items.csv", data, on_error="skip"))
    assert (report["imported"], report["failed"]) == (1, 3)


async def test_upserts_need_the_update_permission_on_the_table(admin: Api, alice: Api, probe: Probe) -> None:
    await define(admin, JOURNAL)
    data = csv_bytes([["code", "amount"], ["J-1", "1"]])
    unchanged = await probe.unchanged("journal")
    body = assert_problem(await upload(alice, "journal", "j.csv", data, mode="upsert", key="code"), 403, "forbidden")
    assert (body["permission"], body["scope"]) == ("update", "table")
    await unchanged.check()
    assert result(await upload(alice, "journal", "j.csv", data))["imported"] == 1


async def test_upserts_update_only_rows_the_caller_may_update(
    admin: Api, alice: Api, bob: Api, item: Any, probe: Probe
) -> None:
    await created(alice, "item", {"code": "A-1", "quantity": 1})
    await created(bob, "item", {"code": "B-1", "quantity": 1})
    shared = await created(
        bob,
        "item",
        {"code": "B-2", "quantity": 1, "permission": {"guest": [], "owner": ["all"], "group": ["peek", "read"]}},
    )
    assert shared["code"] == "B-2"
    data = csv_bytes([["code", "quantity"], ["A-1", "5"], ["B-1", "5"], ["B-2", "5"], ["N-1", "5"]])
    unchanged = await probe.unchanged("item")
    body = assert_problem(
        await upload(alice, "item", "items.csv", data, mode="upsert", key="code"), 422, "import-invalid"
    )
    assert row_errors(body) == [(3, "code", "forbidden"), (4, "code", "forbidden")]
    await unchanged.check()
    report = result(await upload(alice, "item", "items.csv", data, mode="upsert", key="code", on_error="skip"))
    assert counts(report) == {"rows": 4, "imported": 1, "updated": 1, "unchanged": 0, "failed": 2, "skipped": 0}
    quantities = {r["code"]: r["quantity"] for r in await listed(admin, "item")}
    assert quantities == {"A-1": 5, "B-1": 1, "B-2": 1, "N-1": 5}
    # An administrator may update every row.
    report = result(await upload(admin, "item", "items.csv", data, mode="upsert", key="code"))
    assert (report["updated"], report["unchanged"]) == (2, 2)


async def test_passwords_are_hashed_secrets_encrypted_and_the_audit_masks_them(
    admin: Api, alice: Api, probe: Probe
) -> None:
    await define(admin, VAULT)
    data = csv_bytes([["label", "pin", "note"], ["V-1", "correct horse", "the code is 1234"], ["V-2", "", ""]])
    result(await upload(alice, "vault", "v.csv", data))
    stored = {r["label"]: r for r in await probe.rows("vault")}
    assert stored["V-1"]["pin"].startswith("$argon2") and "1234" not in str(stored["V-1"]["note"])
    assert stored["V-2"]["pin"] is None and stored["V-2"]["note"] is None
    shown = {r["label"]: r for r in await listed(alice, "vault")}
    assert "pin" not in shown["V-1"] and shown["V-1"]["note"] == "the code is 1234"
    after = {r["after"]["label"]: r["after"] for r in await audits(probe, "vault")}
    assert after["V-1"]["pin"] == "[hidden]" and after["V-1"]["note"] == "[hidden]"
    # A re-run finds the same values (compared in clear) and changes nothing.
    report = result(await upload(alice, "vault", "v.csv", data, mode="upsert", key="label"))
    assert (report["updated"], report["unchanged"]) == (0, 2)
    changed = csv_bytes([["label", "pin"], ["V-1", "another pin"]])
    assert result(await upload(alice, "vault", "v.csv", changed, mode="upsert", key="label"))["updated"] == 1
    assert (await probe.rows("vault"))[0]["pin"] != stored["V-1"]["pin"]


@pytest.mark.parametrize("entity", ["user_account", "usergroup"])
async def test_users_cannot_import_into_platform_entities(alice: Api, probe: Probe, entity: str) -> None:
    unchanged = await probe.unchanged(entity)
    response = await upload(alice, entity, "x.json", json_bytes([{"name": "x"}]))
    assert response.status_code in (400, 403, 405), response.text
    await unchanged.check()


@pytest.mark.parametrize("overrides", [{"import_batch_size": 1}])
async def test_shares_are_checked_like_creates_before_anything_is_written(
    admin: Api, alice: Api, bob: Api, item: Any, probe: Probe
) -> None:
    users = (await listed(admin, "usergroup", filter='{"field": "name", "op": "equals", "value": "users"}'))[0]
    readable = {"guest": [], "owner": ["all"], "group": ["peek", "read"]}
    mine = await created(alice, "item", {"code": "A-1", "permission": readable})
    other = await created(alice, "item", {"code": "A-2", "permission": readable})
    theirs = await created(bob, "item", {"code": "B-1"})
    shares = [{"entity": "item", "row_id": row["id"], "usergroup_id": users["id"]} for row in (mine, theirs, other)]
    unchanged = await probe.unchanged("row_share", "item")
    body = assert_problem(await upload(alice, "row_share", "shares.json", json_bytes(shares)), 422, "import-invalid")
    assert [(e["row"], e["code"]) for e in body["errors"]] == [(2, "not_found")]
    await unchanged.check()
    report = result(await upload(alice, "row_share", "shares.json", json_bytes(shares), on_error="skip"))
    assert (report["imported"], report["failed"]) == (2, 1)
    assert sorted(r["code"] for r in await listed(bob, "item")) == ["A-1", "A-2", "B-1"]
