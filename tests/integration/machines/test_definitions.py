"""Saving a machine: a valid one is stored with version 1, an invalid one is refused naming each problem."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.machines.conftest import ORDER_FLOW, MachineProbe, created, machine


async def test_a_valid_machine_is_stored_with_its_first_version(
    admin: Api, order_entity: Any, sales: Any, probe: MachineProbe
) -> None:
    stored = await created(admin, "/api/state_machine", ORDER_FLOW)
    assert stored["definition_version"] == 1 and stored["auto_start"] is True
    assert stored["events"][0]["groups"] == ["sales"]
    (version,) = await probe.where("state_machine_version", machine_id=stored["id"])
    assert version["number"] == 1
    assert version["definition"]["initial_state"] == "pending"
    assert [e["name"] for e in version["definition"]["events"]] == ["confirm", "ship", "cancel"]
    read = await admin.get(f"/api/state_machine/{stored['id']}")
    assert read.status_code == 200 and read.json()["name"] == "order_flow"


def event(**fields: Any) -> dict[str, Any]:
    return {"name": "go", "src": ["pending"], "dst": "confirmed", **fields}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({"entity": "invoice"}, [("entity", "unknown_entity")], id="unknown entity"),
        pytest.param({"initial_state": "draft"}, [("initial_state", "unknown_state")], id="unknown initial state"),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="jump", src=["pending"], dst="nowhere")]},
            [("events[3].dst", "unknown_state")],
            id="unknown dst",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="jump", src=["limbo"], dst="cancelled")]},
            [("events[3].src[0]", "unknown_state")],
            id="unknown src",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="jump", src=[], dst="cancelled")]},
            [("events[3].src", "required")],
            id="empty src",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="ship", src=["pending"], dst="shipped")]},
            [("events[3].name", "duplicate")],
            id="duplicate event",
        ),
        pytest.param(
            {"events": ORDER_FLOW["events"][:2]},
            [("states[3]", "unreachable")],
            id="unreachable state",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="revive", src=["cancelled"], dst="pending")]},
            [("events[3].src[0]", "final_state")],
            id="event leaving a final state",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="hop", src=["pending", "pending"], dst="confirmed")]},
            [("events[3].src", "duplicate")],
            id="source listed twice",
        ),
        pytest.param(
            {"events": [event(name="confirm", guard={"field": "colour", "op": "equals", "value": "red"})]},
            [("events[0].guard.field", "invalid_guard"), ("states[2]", "unreachable"), ("states[3]", "unreachable")],
            id="guard naming an unknown field",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="hold", guard={"field": "total", "op": "sparkles"})]},
            [("events[3].guard.op", "invalid_guard")],
            id="guard with an unknown operator",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="hold", guard={"field": "total", "op": "changed"})]},
            [("events[3].guard.op", "invalid_guard")],
            id="guard using changed",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="hold", guard={"field": "total", "op": "gt", "value": "x"})]},
            [("events[3].guard.value", "invalid_guard")],
            id="guard value of the wrong type",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="hold", groups=["nobody"])]},
            [("events[3].groups", "unknown_group")],
            id="unknown group",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="trigger")]},
            [("events[3].name", "invalid_name")],
            id="reserved event name",
        ),
        pytest.param(
            {"events": [*ORDER_FLOW["events"], event(name="to_confirmed")]},
            [("events[3].name", "invalid_name")],
            id="event name with a reserved prefix",
        ),
        pytest.param(
            {"states": [*ORDER_FLOW["states"], {"name": "pending"}]},
            [("states[4].name", "duplicate")],
            id="duplicate state",
        ),
        pytest.param(
            {"states": [*ORDER_FLOW["states"], {"name": "On Hold"}]},
            [("states[4].name", "invalid_name"), ("states[4]", "unreachable")],
            id="invalid state name",
        ),
        pytest.param(
            {"states": [], "initial_state": "pending", "events": []},
            [("states", "required"), ("initial_state", "unknown_state")],
            id="no states",
        ),
    ],
)
async def test_an_invalid_machine_is_refused_naming_the_problem(
    admin: Api, order_entity: Any, sales: Any, probe: MachineProbe, changes: dict[str, Any], expected: list[Any]
) -> None:
    before = await probe.machine_state()
    body = assert_problem(await admin.post("/api/state_machine", machine(**changes)), 400, "invalid-definition")
    assert [(e["field"], e["code"]) for e in body["errors"]] == expected
    assert expected[0][0] in body["detail"]
    await before.check()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"events": [{"name": "confirm", "src": ["pending"]}]}, "events[0]", id="dst missing"),
        pytest.param({"events": [event(src="pending")]}, "events[0].src", id="src not a list"),
        pytest.param({"states": [{"name": "pending", "colour": "red"}]}, "states[0]", id="unknown state field"),
        pytest.param({"events": [event(when="always")]}, "events[0]", id="unknown event field"),
    ],
)
async def test_a_malformed_machine_is_refused(
    admin: Api, order_entity: Any, sales: Any, probe: MachineProbe, changes: dict[str, Any], field: str
) -> None:
    before = await probe.machine_state()
    body = assert_problem(await admin.post("/api/state_machine", machine(**changes)), 400, "invalid-definition")
    assert [e["field"] for e in body["errors"]] == [field]
    await before.check()


async def test_an_invalid_edit_is_refused_and_the_machine_stays(
    admin: Api, order_flow: dict[str, Any], probe: MachineProbe
) -> None:
    before = await probe.machine_state()
    events = [*ORDER_FLOW["events"], event(name="jump", src=["pending"], dst="nowhere")]
    response = await admin.patch(f"/api/state_machine/{order_flow['id']}", {"events": events})
    body = assert_problem(response, 400, "invalid-definition")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("events[3].dst", "unknown_state")]
    await before.check()


async def test_the_definition_version_is_not_writable(
    admin: Api, order_flow: dict[str, Any], probe: MachineProbe
) -> None:
    before = await probe.machine_state()
    response = await admin.patch(f"/api/state_machine/{order_flow['id']}", {"definition_version": 7})
    body = assert_problem(response, 400, "invalid-definition")
    assert body["errors"][0]["field"] == "definition_version"
    await before.check()


async def test_a_duplicate_machine_name_is_a_conflict(
    admin: Api, order_flow: dict[str, Any], probe: MachineProbe
) -> None:
    before = await probe.machine_state()
    assert_problem(await admin.post("/api/state_machine", ORDER_FLOW), 409, "duplicate")
    await before.check()


async def test_only_administrators_declare_machines(
    admin: Api, guest: Api, buyer: Api, order_entity: Any, sales: Any, probe: MachineProbe
) -> None:
    before = await probe.machine_state()
    assert_problem(await buyer.post("/api/state_machine", ORDER_FLOW), 403, "forbidden")
    assert_problem(await guest.post("/api/state_machine", ORDER_FLOW), 401, "unauthorized")
    await before.check()
