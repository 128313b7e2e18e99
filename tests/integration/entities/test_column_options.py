"""Column options (required, unique, indexed, default, lengths, bounds, pattern) hold on live tables."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.entities.conftest import Probe, create_entity

PRODUCT = {
    "name": "product",
    "columns": [
        {
            "name": "sku",
            "type": "string",
            "required": True,
            "unique": True,
            "max_length": 12,
            "pattern": "^[A-Z]{3}-[0-9]+$",
        },
        {"name": "title", "type": "string", "min_length": 2, "max_length": 40, "indexed": True},
        {"name": "stock", "type": "integer", "min": 0, "max": 1000, "default": 10},
        {"name": "rating", "type": "float", "min": 0, "max": 5},
        {"name": "price", "type": "decimal", "min": 0, "max": 9999, "default": "1.50"},
        {"name": "kind", "type": "enum", "options": ["tool", "toy"], "default": "tool"},
        {"name": "listed", "type": "boolean", "default": True},
    ],
}


async def _create(admin: Api, **values: Any) -> Any:
    return await admin.post("/api/product", {"sku": "ABC-1", **values})


async def test_defaults_fill_missing_values(admin: Api) -> None:
    await create_entity(admin, PRODUCT)
    row = (await _create(admin)).json()
    assert (row["stock"], row["price"], row["kind"], row["listed"]) == (10, "1.50", "tool", True)
    assert row["title"] is None and row["rating"] is None
    explicit = (await _create(admin, sku="ABC-2", stock=3, kind="toy", listed=False, price=None)).json()
    assert (explicit["stock"], explicit["kind"], explicit["listed"], explicit["price"]) == (3, "toy", False, None)


async def test_required_column_must_be_given_and_not_null(admin: Api) -> None:
    await create_entity(admin, PRODUCT)
    missing = assert_problem(await admin.post("/api/product", {"title": "Hammer"}), 422, "validation")
    assert [(e["field"], e["code"]) for e in missing["errors"]] == [("sku", "required")]
    null = assert_problem(await admin.post("/api/product", {"sku": None}), 422, "validation")
    assert [(e["field"], e["code"]) for e in null["errors"]] == [("sku", "required")]
    row = (await _create(admin)).json()
    cleared = await admin.patch(f"/api/product/{row['id']}", {"sku": None})
    assert [(e["field"], e["code"]) for e in assert_problem(cleared, 422, "validation")["errors"]] == [
        ("sku", "required")
    ]
    assert (await admin.get(f"/api/product/{row['id']}")).json()["sku"] == "ABC-1"


async def test_unique_column_refuses_a_second_equal_value(admin: Api, probe: Probe) -> None:
    await create_entity(admin, PRODUCT)
    assert (await _create(admin)).status_code == 201
    body = assert_problem(await _create(admin), 409, "duplicate")
    assert [e["field"] for e in body["errors"]] == ["sku"]
    other = (await _create(admin, sku="ABC-2")).json()
    body = assert_problem(await admin.patch(f"/api/product/{other['id']}", {"sku": "ABC-1"}), 409, "duplicate")
    assert [e["field"] for e in body["errors"]] == ["sku"]
    assert sorted(r["sku"] for r in await probe.rows("product")) == ["ABC-1", "ABC-2"]


async def test_unique_and_indexed_create_database_indexes(admin: Api, probe: Probe) -> None:
    await create_entity(admin, PRODUCT)
    found = await probe.indexes("product")
    assert found["uq_product_sku"] is True
    assert found["ix_product_title"] is False


BAD = [
    ({"sku": "ABC-1234567890"}, "sku", "max_length"),
    ({"sku": "abc-1"}, "sku", "pattern"),
    ({"title": "x"}, "title", "min_length"),
    ({"title": "x" * 41}, "title", "max_length"),
    ({"stock": -1}, "stock", "min"),
    ({"stock": 1001}, "stock", "max"),
    ({"rating": 5.01}, "rating", "max"),
    ({"rating": -0.5}, "rating", "min"),
    ({"price": "-0.01"}, "price", "min"),
    ({"price": "10000"}, "price", "max"),
]


async def test_constraints_refuse_values_with_their_code(admin: Api, probe: Probe) -> None:
    await create_entity(admin, PRODUCT)
    for values, field, code in BAD:
        body = assert_problem(await _create(admin, **values), 422, "validation")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)], values
    assert await probe.rows("product") == []


async def test_bounds_are_inclusive(admin: Api) -> None:
    await create_entity(admin, PRODUCT)
    for i, values in enumerate(
        [{"stock": 0, "rating": 0, "price": "0"}, {"stock": 1000, "rating": 5, "price": "9999", "title": "ab"}]
    ):
        response = await _create(admin, sku=f"ABC-{i}", **values)
        assert response.status_code == 201, response.text


async def test_patch_checks_the_same_constraints(admin: Api) -> None:
    await create_entity(admin, PRODUCT)
    row = (await _create(admin)).json()
    body = assert_problem(await admin.patch(f"/api/product/{row['id']}", {"stock": 5000, "title": "x"}), 422)
    assert {(e["field"], e["code"]) for e in body["errors"]} == {("stock", "max"), ("title", "min_length")}
    assert (await admin.get(f"/api/product/{row['id']}")).json()["version"] == 1
