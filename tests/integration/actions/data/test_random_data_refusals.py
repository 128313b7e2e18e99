from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.data.conftest import call, declare, define
from tests.integration.crud.conftest import Probe


@pytest.mark.parametrize(
    ("attributes", "field", "code"),
    [
        ({"count": 0}, "count", "invalid"),
        ({"count": 10_001}, "count", "invalid"),
        ({"count": "5"}, "count", "invalid"),
        ({"count": 2.5}, "count", "invalid"),
        ({}, "count", "required"),
        ({"count": 1, "rows": 2}, "rows", "unknown"),
        ({"count": 1, "seed": "abc"}, "seed", "invalid"),
    ],
)
async def test_bad_inputs_are_422_naming_the_field(
    admin: Api, item: dict, probe: Probe, attributes: dict[str, Any], field: str, code: str
) -> None:
    unchanged = await probe.unchanged("item")
    response = await admin.post("/action/item/random_data", {"attributes": attributes})
    body = assert_problem(response, 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    await unchanged.check()


async def test_unknown_entities_are_404(admin: Api, item: dict, probe: Probe) -> None:
    unchanged = await probe.unchanged("item")
    assert_problem(await call(admin, "nothing", "random_data", count=1), 404, "not-found")
    assert_problem(await call(admin, "item", "random_data", count=1, entity="nothing"), 404, "not-found")
    await unchanged.check()


async def test_guests_are_401(guest: Api, item: dict, probe: Probe) -> None:
    unchanged = await probe.unchanged("item")
    assert_problem(await call(guest, "item", "random_data", count=1), 401, "unauthorized")
    await unchanged.check()


async def test_callers_without_create_permission_are_403(guest: Api, admin: Api, probe: Probe) -> None:
    table = {"owner": ["all"], "group": ["peek", "read"]}
    await define(
        admin,
        {"name": "ledger", "columns": [{"name": "amount", "type": "integer"}], "permissions": {"table": table}},
    )
    alice = await guest.signup("alice@example.com")
    unchanged = await probe.unchanged("ledger")
    assert_problem(await call(alice, "ledger", "random_data", count=3), 403, "forbidden")
    assert_problem(await call(alice, "user_account", "random_data", count=1, entity="ledger"), 403, "forbidden")
    await unchanged.check()


async def test_platform_entities_are_refused(admin: Api, probe: Probe) -> None:
    unchanged = await probe.unchanged("user_account", "usergroup", "entity")
    for entity in ("user_account", "usergroup", "entity"):
        body = assert_problem(await call(admin, entity, "random_data", count=1), 400, "system-entity")
        assert entity in body["detail"]
    assert_problem(await call(admin, "audit_log", "random_data", count=1), 405, "read-only")
    await unchanged.check()


async def test_a_required_relation_without_rows_to_refer_to_is_422(admin: Api, shelf: dict, probe: Probe) -> None:
    relation = {"name": "shelf", "type": "belongs_to", "target": "shelf", "required": True}
    await define(admin, {"name": "box", "columns": [], "relations": [relation]})
    unchanged = await probe.unchanged("box")
    body = assert_problem(await call(admin, "box", "random_data", count=2), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("shelf_id", "not_found")]
    await unchanged.check()


async def test_required_columns_that_cannot_be_made_up_are_422(admin: Api, probe: Probe) -> None:
    columns = [
        {"name": "code", "type": "string", "required": True, "pattern": "^[A-Z]{3}-[0-9]+$"},
        {"name": "hint", "type": "string", "pattern": "^[0-9]+$"},
        {"name": "word", "type": "string", "required": True, "pattern": "^[a-z ]+$"},
    ]
    await define(admin, {"name": "coded", "columns": columns})
    body = assert_problem(await call(admin, "coded", "random_data", count=1), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("code", "unsupported")]
    assert await probe.count("coded") == 0
    optional = [dict(columns[0], required=False, default="ABC-1"), *columns[1:]]
    await define(admin, {"name": "coded_too", "columns": optional})
    await call(admin, "coded_too", "random_data", count=3)
    rows = await probe.rows("coded_too")
    assert len(rows) == 3
    # An optional column whose pattern made-up words cannot match is left to its default (or empty).
    assert {r["code"] for r in rows} == {"ABC-1"} and {r["hint"] for r in rows} == {None}
    assert all(r["word"] and set(r["word"]) <= set("abcdefghijklmnopqrstuvwxyz ") for r in rows)


async def test_a_failing_later_step_undoes_the_rows(admin: Api, item: dict, probe: Probe) -> None:
    await declare(
        admin,
        {
            "name": "fill_then_fail",
            "entity": "item",
            "outcomes": [
                {"type": "random.data", "reference": "made", "attributes": {"count": 5}},
                {"type": "item", "method": "create", "attributes": {"title": "x"}},
            ],
        },
    )
    unchanged = await probe.unchanged("item")
    body = assert_problem(await call(admin, "item", "fill_then_fail"), 422, "validation")
    assert body["step"] == 1
    await unchanged.check()


async def test_a_declared_step_runs_as_the_caller(guest: Api, admin: Api, probe: Probe) -> None:
    table = {"owner": ["all"], "group": ["peek", "read", "execute"]}
    await define(
        admin,
        {"name": "ledger", "columns": [{"name": "amount", "type": "integer"}], "permissions": {"table": table}},
    )
    await declare(
        admin,
        {"name": "fill", "entity": "ledger", "outcomes": [{"type": "random.data", "attributes": {"count": 2}}]},
    )
    alice = await guest.signup("alice@example.com")
    unchanged = await probe.unchanged("ledger")
    body = assert_problem(await call(alice, "ledger", "fill"), 403, "forbidden")
    assert body["step"] == 0
    await unchanged.check()
    assert (await call(admin, "ledger", "fill")).status_code == 200
    assert await probe.count("ledger") == 2
