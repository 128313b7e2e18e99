from __future__ import annotations

from tests.conftest import Api, assert_problem
from tests.integration.actions.data.conftest import call, define, result_of
from tests.integration.crud.conftest import Probe

SLOT = {
    "name": "slot",
    "columns": [
        {"name": "size", "type": "enum", "options": ["s", "m", "l"], "unique": True},
        {"name": "number", "type": "integer", "min": 1, "max": 4, "unique": True},
        {"name": "label", "type": "string", "max_length": 2, "unique": True},
    ],
}

PAIR = {
    "name": "pair",
    "columns": [
        {"name": "side", "type": "enum", "options": ["left", "right", "middle"], "required": True},
        {"name": "level", "type": "integer", "min": 1, "max": 3, "required": True},
        {"name": "tag", "type": "string", "unique": True},
    ],
    "indexes": [{"columns": ["side", "level"], "unique": True}],
}


async def test_small_unique_spaces_are_sampled_around_stored_values(admin: Api, probe: Probe) -> None:
    await define(admin, SLOT)
    stored = await admin.post("/api/slot", {"size": "m", "number": 3, "label": "ab"})
    assert stored.status_code == 201, stored.text
    result_of(await call(admin, "slot", "random_data", count=2, seed=5), "random_data")
    rows = await probe.rows("slot")
    assert sorted(r["size"] for r in rows) == ["l", "m", "s"]
    assert len({r["number"] for r in rows}) == 3 and all(1 <= r["number"] <= 4 for r in rows)
    assert len({r["label"] for r in rows}) == 3 and all(1 <= len(r["label"]) <= 2 for r in rows)


async def test_no_unused_value_left_is_422_and_nothing_is_created(admin: Api, probe: Probe) -> None:
    await define(admin, SLOT)
    result_of(await call(admin, "slot", "random_data", count=3), "random_data")
    unchanged = await probe.unchanged("slot")
    body = assert_problem(await call(admin, "slot", "random_data", count=1), 422, "validation")
    assert body["errors"][0]["field"] == "size" and body["errors"][0]["code"] == "unique"
    assert "only 0 unused" in body["errors"][0]["message"]
    await unchanged.check()


async def test_more_rows_than_a_unique_space_holds_is_422(admin: Api, probe: Probe) -> None:
    await define(admin, SLOT)
    body = assert_problem(await call(admin, "slot", "random_data", count=4), 422, "validation")
    assert [e["field"] for e in body["errors"]] == ["size"]
    assert await probe.count("slot") == 0


async def test_unique_indexes_over_several_columns_get_unused_combinations(admin: Api, probe: Probe) -> None:
    await define(admin, PAIR)
    stored = await admin.post("/api/pair", {"side": "left", "level": 1, "tag": "first"})
    assert stored.status_code == 201, stored.text
    result_of(await call(admin, "pair", "random_data", count=8, seed=11), "random_data")
    rows = await probe.rows("pair")
    assert len({(r["side"], r["level"]) for r in rows}) == 9
    assert len({r["tag"] for r in rows}) == 9
    body = assert_problem(await call(admin, "pair", "random_data", count=1), 422, "validation")
    assert {e["field"] for e in body["errors"]} == {"side", "level"}
    assert await probe.count("pair") == 9


async def test_large_unique_spaces_avoid_values_of_an_earlier_run(admin: Api, item: dict, probe: Probe) -> None:
    for _ in range(2):
        result_of(await call(admin, "item", "random_data", count=20, seed=9), "random_data")
    rows = await probe.rows("item")
    assert len(rows) == 40
    assert len({r["code"] for r in rows}) == 40 and len({r["contact"] for r in rows}) == 40
