"""The row an action works on: ``attributes.<entity>_id``, loaded as ``subject`` if the caller may execute it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.engine.conftest import UNKNOWN_ID, action, call, declare, kinds, new_order, remember
from tests.integration.machines.conftest import MachineProbe, created
from tests.integration.machines.test_start import share_for_reading

SHOW = action(
    name="show",
    groups=[],
    in_fields=[],
    outcomes=[{"type": "client.notify", "attributes": {"message": "{{ subject.customer }} owes {{ subject.total }}"}}],
)


async def test_the_instance_is_the_subject_of_the_templates(admin: Api, seller: Api, order_flow: Any) -> None:
    await declare(admin, SHOW)
    order = await new_order(seller, customer="Dora", total=7)
    response = await call(seller, "show", {"order_id": order["id"]})
    assert kinds(response) == ["client.notify"]
    assert response.json()[0]["attributes"]["message"] == "Dora owes 7.0"


@pytest.mark.parametrize(
    ("attributes", "status", "code", "field"),
    [
        pytest.param({}, 422, "validation", "order_id", id="missing"),
        pytest.param({"order_id": None}, 422, "validation", "order_id", id="null"),
        pytest.param({"order_id": 12}, 422, "validation", "order_id", id="not a string"),
        pytest.param({"order_id": "not-a-uuid"}, 404, "not-found", None, id="not a uuid"),
        pytest.param({"order_id": UNKNOWN_ID}, 404, "not-found", None, id="no such row"),
        pytest.param({"order_id": UNKNOWN_ID, "colour": "red"}, 422, "validation", "colour", id="unknown input"),
    ],
)
async def test_a_bad_instance_is_refused(
    admin: Api,
    seller: Api,
    order_flow: Any,
    probe: MachineProbe,
    attributes: dict[str, Any],
    status: int,
    code: str,
    field: str | None,
) -> None:
    await declare(admin, SHOW)
    before = await remember(probe)
    body = assert_problem(await call(seller, "show", attributes), status, code)
    if field is not None:
        assert [e["field"] for e in body["errors"]] == [field]
    await before.check()


async def test_an_instance_of_another_entity_is_not_found(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await declare(admin, SHOW)
    await created(admin, "/api/entity", {"name": "invoice", "columns": [{"name": "number", "type": "string"}]})
    invoice = await created(seller, "/api/invoice", {"number": "I-1"})
    before = await remember(probe)
    assert_problem(await call(seller, "show", {"order_id": invoice["id"]}), 404, "not-found")
    # An invoice_id is not an input of an order action either.
    body = assert_problem(await call(seller, "show", {"invoice_id": invoice["id"]}), 422, "validation")
    assert {e["field"] for e in body["errors"]} == {"invoice_id", "order_id"}
    await before.check()


async def test_an_action_on_no_row_refuses_a_row_id(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    """A row id given to an action that acts on no row is a caller's mistake: refused, not silently ignored."""
    greet = action(
        name="greet",
        instance_required=False,
        groups=[],
        in_fields=[],
        outcomes=[{"type": "client.notify", "attributes": {"message": "hello"}}],
    )
    await declare(admin, greet)
    order = await new_order(seller)
    before = await remember(probe)
    body = assert_problem(await call(seller, "greet", {"order_id": order["id"]}), 422, "validation")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("order_id", "unknown")]
    await before.check()
    assert kinds(await call(seller, "greet", {})) == ["client.notify"]


async def test_the_caller_needs_execute_on_the_instance(
    admin: Api, seller: Api, buyer: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await declare(admin, SHOW)
    order = await new_order(seller)
    before = await remember(probe)
    # Not even visible to the buyer: the same 404 as a row that does not exist.
    body = assert_problem(await call(buyer, "show", {"order_id": order["id"]}), 404, "not-found")
    assert order["id"] in body["detail"]
    await share_for_reading(admin, seller, order["id"])
    before = await remember(probe)
    body = assert_problem(await call(buyer, "show", {"order_id": order["id"]}), 403, "forbidden")
    assert (body["permission"], body["scope"]) == ("execute", "row")
    await before.check()
