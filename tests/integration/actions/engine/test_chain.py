"""Running a declared action: outcomes in order, in one transaction, as the caller; any failure undoes all."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.engine.conftest import (
    APPROVE,
    UNKNOWN_ID,
    action,
    call,
    declare,
    kinds,
    new_order,
    object_state,
    remember,
)
from tests.integration.machines.conftest import MachineProbe
from tests.integration.machines.test_start import share_for_reading


async def test_the_issue_example_runs_its_chain_in_one_transaction(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await declare(admin, APPROVE)
    order = await new_order(seller, total=30)
    response = await call(seller, "approve", {"order_id": order["id"], "note": "  rush  "})
    assert kinds(response) == ["order", "client.notify"]
    row, notice = response.json()
    assert (row["attributes"]["id"], row["attributes"]["status"]) == (order["id"], "paid")
    assert row["attributes"]["customer"] == "ACME ok" and row["attributes"]["version"] == 2
    # The first notification's condition held (a note was given); the second was skipped.
    assert notice["attributes"] == {"message": "Approved ACME ok: rush", "type": "success"}
    assert (await object_state(seller, order["id"]))["state"] == "confirmed"
    (stored,) = await probe.where("order", id=order["id"])
    (transition,) = [t for t in await probe.where("state_transition", row_id=order["id"]) if t["event"] == "confirm"]
    audit = [a for a in await probe.where("audit_log", row_id=order["id"]) if a["operation"] == "update"]
    # Row change, its audit record and the transition all carry the chain's one clock reading.
    assert stored["updated_at"] == transition["created_at"] == audit[0]["created_at"]
    assert str(transition["actor_id"]) == str(audit[0]["actor_id"]) == (await seller.me())["id"]
    topics = [r["topic"] for r in await probe.where("outbox", row_id=order["id"])]
    assert topics == ["state.entered", "state.exited", "state.entered", "event.fired"]
    # Without a note the other notification runs, reading the state.event outcome's result.
    other = await new_order(seller, customer="Bolt", total=5)
    response = await call(seller, "approve", {"order_id": other["id"]})
    assert response.json()[1]["attributes"]["message"] == "Approved Bolt ok, now confirmed"


async def test_a_failing_step_undoes_every_earlier_one(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await declare(admin, APPROVE)
    # total 0: the update and its audit record are written, then the confirm guard fails.
    order = await new_order(seller, total=0)
    before = await remember(probe)
    body = assert_problem(await call(seller, "approve", {"order_id": order["id"]}), 409, "guard-failed")
    assert (body["step"], body["outcome"]) == (1, "state.event")
    assert body["detail"].startswith("Step 2 (state.event) failed, nothing was changed:")
    assert body["rule"] == {"field": "total", "op": "gt", "value": 0}
    await before.check()


async def test_every_crud_method_runs_as_an_outcome(admin: Api, seller: Api, order_flow: Any) -> None:
    outcomes = [
        {"type": "order", "method": "create", "reference": "made", "attributes": {"customer": "{{ input.who }}"}},
        {"type": "order", "method": "get", "reference": "read", "attributes": {"id": "{{ made.id }}"}},
        {
            "type": "order",
            "method": "update",
            "reference": "changed",
            "attributes": {"id": "{{ read.id }}", "version": "{{ read.version }}", "total": 12.5},
        },
        {
            "type": "order",
            "method": "list",
            "reference": "found",
            "attributes": {"filter": {"field": "customer", "op": "equals", "value": "{{ input.who }}"}},
        },
        {"type": "order", "method": "delete", "reference": "gone", "attributes": {"id": "{{ changed.id }}"}},
        {
            "type": "client.notify",
            "attributes": {"message": "{{ found.meta.total }} {{ found.data[0].total }} {{ gone.deleted }}"},
        },
    ]
    body = action(
        name="roundtrip",
        instance_required=False,
        groups=[],
        in_fields=[{"name": "who", "type": "string", "required": True}],
        outcomes=outcomes,
    )
    await declare(admin, body)
    response = await call(seller, "roundtrip", {"who": "Cyd"})
    assert kinds(response) == ["order", "order", "order", "client.notify"]
    made, read, changed, notice = response.json()
    assert made["attributes"]["id"] == read["attributes"]["id"] == changed["attributes"]["id"]
    assert (changed["attributes"]["total"], changed["attributes"]["version"]) == (12.5, 2)
    assert notice["attributes"]["message"] == "1 12.5 True"
    assert_problem(await seller.get(f"/api/order/{made['attributes']['id']}"), 404)


async def test_outcomes_run_as_the_caller_without_elevation(
    admin: Api, seller: Api, buyer: Api, order_flow: Any, probe: MachineProbe
) -> None:
    rename = action(
        name="rename",
        instance_required=False,
        groups=[],
        in_fields=[{"name": "target", "type": "uuid", "required": True}],
        outcomes=[
            {"type": "order", "method": "create", "attributes": {"customer": "side effect"}},
            {"type": "order", "method": "update", "attributes": {"id": "{{ input.target }}", "customer": "renamed"}},
        ],
    )
    await declare(admin, rename)
    order = await new_order(seller)
    before = await remember(probe)
    # The buyer cannot even see the seller's order: as with the records API, it does not exist for them.
    body = assert_problem(await call(buyer, "rename", {"target": order["id"]}), 404, "not-found")
    assert body["step"] == 1
    await share_for_reading(admin, seller, order["id"])
    before = await remember(probe)
    body = assert_problem(await call(buyer, "rename", {"target": order["id"]}), 403, "forbidden")
    assert (body["step"], body["permission"]) == (1, "update")
    await before.check()
    # Declared by an administrator to run as the system, the same chain may change the order.
    await declare(admin, {**rename, "name": "rename_as_system", "run_as": "system"})
    response = await call(buyer, "rename_as_system", {"target": order["id"]})
    assert kinds(response) == ["order", "order"]
    assert (await seller.get(f"/api/order/{order['id']}")).json()["customer"] == "renamed"


async def test_groups_limit_who_may_call(
    admin: Api, seller: Api, buyer: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await declare(admin, APPROVE)
    order = await new_order(buyer, total=10)
    before = await remember(probe)
    body = assert_problem(await call(buyer, "approve", {"order_id": order["id"]}), 403, "forbidden")
    assert body["permission"] == "group" and body["groups"] == ["sales"]
    await before.check()
    # Administrators pass every group.
    assert kinds(await call(admin, "approve", {"order_id": order["id"]})) == ["order", "client.notify"]


async def test_the_action_condition_is_checked_before_anything_runs(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await declare(admin, action(condition={"field": "subject.total", "op": "gte", "value": 100}))
    order = await new_order(seller, total=30)
    before = await remember(probe)
    body = assert_problem(await call(seller, "approve", {"order_id": order["id"]}), 409, "action-condition")
    assert body["rule"] == {"field": "subject.total", "op": "gte", "value": 100}
    await before.check()
    await seller.patch(f"/api/order/{order['id']}", {"total": 150})
    assert kinds(await call(seller, "approve", {"order_id": order["id"]})) == ["order", "client.notify"]


async def test_an_action_calling_another_passes_inputs_and_gets_its_result(
    admin: Api, seller: Api, order_flow: Any
) -> None:
    await declare(admin, APPROVE)
    wrapper = action(
        name="approve_quietly",
        in_fields=[],
        outcomes=[
            {
                "type": "action",
                "reference": "inner",
                "attributes": {"name": "approve", "attributes": {"order_id": "{{ subject.id }}", "note": "via"}},
            },
            {"type": "client.store.set", "attributes": {"key": "last", "value": "{{ inner.message }}"}},
        ],
    )
    await declare(admin, wrapper)
    order = await new_order(seller)
    response = await call(seller, "approve_quietly", {"order_id": order["id"]})
    assert kinds(response) == ["order", "client.notify", "client.store.set"]
    assert response.json()[2]["attributes"] == {"key": "last", "value": "Approved ACME ok: via"}


async def test_an_action_calling_itself_stops_at_the_depth_limit(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    looping = action(
        name="loop",
        instance_required=False,
        groups=[],
        in_fields=[],
        outcomes=[
            {"type": "order", "method": "create", "attributes": {"customer": "again"}},
            {"type": "action", "attributes": {"name": "loop"}},
        ],
    )
    await declare(admin, looping)
    before = await remember(probe)
    body = assert_problem(await call(seller, "loop"), 400, "recursion-limit")
    assert body["action"] == "loop" and "levels deep" in body["detail"]
    await before.check()


@pytest.mark.parametrize(
    ("url", "body", "status", "code"),
    [
        pytest.param("/action/order/teleport", {"attributes": {}}, 404, "not-found", id="unknown action"),
        pytest.param("/action/invoice/approve", {"attributes": {}}, 404, "not-found", id="unknown entity"),
        pytest.param("/action/order/approve", {"attributes": []}, 422, "validation", id="attributes not an object"),
        pytest.param("/action/order/approve", {"inputs": {}}, 422, "validation", id="body without attributes"),
        pytest.param("/action/order/approve", [1], 422, "validation", id="body not an object"),
    ],
)
async def test_bad_calls_are_refused(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe, url: str, body: Any, status: int, code: str
) -> None:
    await declare(admin, APPROVE)
    before = await remember(probe)
    assert_problem(await seller.post(url, body), status, code)
    await before.check()


async def test_a_body_that_is_not_json_is_refused(admin: Api, seller: Api, order_flow: Any) -> None:
    await declare(admin, APPROVE)
    response = await seller.client.post(
        "/action/order/approve", content=b"{nope", headers={"Authorization": f"Bearer {seller.token}"}
    )
    assert_problem(response, 400, "invalid-body")


async def test_guests_and_callers_without_execute_are_refused(
    admin: Api, guest: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await declare(admin, action(groups=[]))
    order = await new_order(seller)
    before = await remember(probe)
    assert_problem(await call(guest, "approve", {"order_id": order["id"]}), 401, "unauthorized")
    found = await admin.get("/api/entity", params={"filter": '{"field": "name", "op": "equals", "value": "order"}'})
    table = {"owner": ["all"], "group": ["peek", "read", "create", "update"]}
    patched = await admin.patch(f"/api/entity/{found.json()['data'][0]['id']}", {"permissions": {"table": table}})
    assert patched.status_code == 200, patched.text
    before = await remember(probe)
    body = assert_problem(await call(seller, "approve", {"order_id": order["id"]}), 403, "forbidden")
    assert (body["permission"], body["scope"]) == ("execute", "table")
    await before.check()


async def test_a_row_deleted_between_save_and_run_is_a_clear_404(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    fetch = action(
        name="fetch",
        instance_required=False,
        groups=[],
        in_fields=[],
        outcomes=[{"type": "order", "method": "get", "attributes": {"id": UNKNOWN_ID}}],
    )
    await declare(admin, fetch)
    body = assert_problem(await call(seller, "fetch"), 404, "not-found")
    assert (body["step"], body["outcome"]) == (0, "order.get")
