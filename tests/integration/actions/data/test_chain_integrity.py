"""A step that breaks a database constraint answers 409 and undoes the chain (it was a 500)."""

from __future__ import annotations

from tests.conftest import Api, assert_problem
from tests.integration.actions.data.conftest import call, declare, define
from tests.integration.crud.conftest import Probe


async def test_a_unique_value_taken_by_a_step_is_409_and_undoes_the_chain(admin: Api, probe: Probe) -> None:
    await define(admin, {"name": "uniq", "columns": [{"name": "code", "type": "string", "unique": True}]})
    assert (await admin.post("/api/uniq", {"code": "taken"})).status_code == 201
    create = {"type": "uniq", "method": "create", "attributes": {"code": "{{ input.code }}"}}
    await declare(
        admin,
        {
            "name": "two",
            "entity": "uniq",
            "in_fields": [{"name": "code", "type": "string", "required": True}],
            "outcomes": [{"type": "uniq", "method": "create", "attributes": {"code": "fresh"}}, create],
        },
    )
    unchanged = await probe.unchanged("uniq")
    body = assert_problem(await call(admin, "uniq", "two", code="taken"), 409, "duplicate")
    assert body["step"] == 1 and body["errors"] == [
        {"field": "code", "code": "unique", "message": "another uniq already has this value"}
    ]
    await unchanged.check()
    assert (await call(admin, "uniq", "two", code="new")).status_code == 200
    assert sorted(r["code"] for r in await probe.rows("uniq")) == ["fresh", "new", "taken"]
