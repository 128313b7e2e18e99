"""In-fields are checked like entity columns, normalised, and refused all at once before anything runs."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.engine.conftest import action, call, declare, kinds, remember
from tests.integration.machines.conftest import MachineProbe

FIELDS = [
    {"name": "email", "type": "email", "required": True, "trim": True, "lowercase": True},
    {"name": "code", "type": "string", "trim": True, "min_length": 2, "max_length": 6, "pattern": "^[A-Z]+$"},
    {"name": "count", "type": "integer", "min": 1, "max": 5, "default": 1},
    {"name": "kind", "type": "enum", "options": ["a", "b"]},
    {"name": "when", "type": "date"},
    {"name": "sheet", "type": "file", "accept": ["text/csv"], "max_size": 16},
]
#: Writes an order first: a refusal must come before it.
INTAKE = action(
    name="intake",
    instance_required=False,
    groups=[],
    in_fields=FIELDS,
    outcomes=[
        {"type": "order", "method": "create", "attributes": {"customer": "{{ input.email }}"}},
        {
            "type": "client.store.set",
            "attributes": {
                "key": "seen",
                "value": {
                    "email": "{{ input.email }}",
                    "code": "{{ input.code }}",
                    "count": "{{ input.count }}",
                    "when": "{{ input.when }}",
                    "sheet": "{{ input.sheet.name if input.sheet else None }}",
                    "size": "{{ input.sheet.size if input.sheet else 0 }}",
                    "type": "{{ input.sheet.content_type if input.sheet else None }}",
                },
            },
        },
    ],
)


def seen(response: Any) -> dict[str, Any]:
    assert kinds(response) == ["order", "client.store.set"]
    return response.json()[1]["attributes"]["value"]  # type: ignore[no-any-return]


async def test_good_inputs_are_normalised_and_typed(admin: Api, seller: Api, order_flow: Any) -> None:
    await declare(admin, INTAKE)
    sheet = {"name": "rows.csv", "content_type": "text/csv", "content": base64.b64encode(b"a,b\n1,2\n").decode()}
    response = await call(seller, "intake", {"email": "  Ann@Example.COM ", "code": " AB ", "sheet": sheet})
    assert seen(response) == {
        "email": "ann@example.com",
        "code": "AB",
        "count": 1,
        "when": None,
        "sheet": "rows.csv",
        "size": 8,
        "type": "text/csv",
    }
    data_url = "data:text/csv;base64," + base64.b64encode(b"x").decode()
    response = await call(
        seller, "intake", {"email": "b@example.com", "count": 5, "when": "2026-02-03", "sheet": data_url}
    )
    assert seen(response) | {"email": None} == {
        "email": None,
        "code": None,
        "count": 5,
        "when": "2026-02-03",
        "sheet": "upload",
        "size": 1,
        "type": "text/csv",
    }


async def test_a_multipart_form_uploads_the_file(admin: Api, seller: Api, order_flow: Any) -> None:
    await declare(admin, INTAKE)
    response = await seller.client.post(
        "/action/order/intake",
        data={"email": "c@example.com", "count": "3"},
        files={"sheet": ("people.csv", b"n\n1\n", "text/csv")},
        headers={"Authorization": f"Bearer {seller.token}"},
    )
    assert seen(response) | {"when": None} == {
        "email": "c@example.com",
        "code": None,
        "count": 3,
        "when": None,
        "sheet": "people.csv",
        "size": 4,
        "type": "text/csv",
    }


async def test_every_bad_input_is_named_at_once_and_nothing_runs(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await declare(admin, INTAKE)
    before = await remember(probe)
    attributes = {
        "email": "not mail",
        "code": " abc ",
        "count": 9,
        "kind": "c",
        "when": "yesterday",
        "sheet": "data:text/plain;base64,eA==",
        "extra": 1,
    }
    body = assert_problem(await call(seller, "intake", attributes), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("extra", "unknown"),
        ("email", "format"),
        ("code", "pattern"),
        ("count", "max"),
        ("kind", "enum"),
        ("when", "format"),
        ("sheet", "content_type"),
    ]
    body = assert_problem(await call(seller, "intake", {"code": "A", "count": "two"}), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("email", "required"),
        ("code", "min_length"),
        ("count", "type"),
    ]
    body = assert_problem(await call(seller, "intake", {"email": None, "sheet": {"content": "%%%"}}), 422)
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("email", "required"), ("sheet", "format")]
    await before.check()


@pytest.mark.parametrize(
    "sheet",
    [
        pytest.param({"name": "big.csv", "content_type": "text/csv", "content": base64.b64encode(b"x" * 17).decode()}),
        pytest.param("data:text/csv;base64," + base64.b64encode(b"y" * 40).decode()),
    ],
)
async def test_an_oversize_file_is_413(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe, sheet: Any
) -> None:
    await declare(admin, INTAKE)
    before = await remember(probe)
    body = assert_problem(await call(seller, "intake", {"email": "d@example.com", "sheet": sheet}), 413, "too-large")
    assert body["field"] == "sheet"
    await before.check()
