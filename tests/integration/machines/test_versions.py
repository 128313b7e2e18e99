"""Versioned definitions: edits make new versions, running rows keep theirs until migrated."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.machines.conftest import ORDER_FLOW, MachineProbe, fire, new_order, object_state

#: Version 2: "confirmed" is split into "packing" and "ready"; ship leaves from "ready" only.
V2_STATES = [
    {"name": "pending"},
    {"name": "packing"},
    {"name": "ready"},
    {"name": "shipped", "final": True},
    {"name": "cancelled", "final": True},
]
V2_EVENTS = [
    {"name": "confirm", "src": ["pending"], "dst": "packing"},
    {"name": "pack", "src": ["packing"], "dst": "ready"},
    {"name": "ship", "src": ["ready"], "dst": "shipped"},
    {"name": "cancel", "src": ["pending", "packing", "ready"], "dst": "cancelled"},
]


async def edit(admin: Api, machine_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await admin.patch(f"/api/state_machine/{machine_id}", body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def migrate(api: Api, **attributes: Any) -> Any:
    return await api.post("/action/state_machine/migrate", {"attributes": attributes})


async def test_editing_events_makes_a_new_version(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    events = copy.deepcopy(ORDER_FLOW["events"])
    events[0]["guard"] = {"field": "total", "op": "gt", "value": 100}
    edited = await edit(admin, order_flow["id"], {"events": events})
    assert edited["definition_version"] == 2
    versions = await probe.where("state_machine_version", machine_id=order_flow["id"])
    assert [v["number"] for v in versions] == [1, 2]
    assert versions[0]["definition"]["events"][0]["guard"]["value"] == 0
    assert versions[1]["definition"]["events"][0]["guard"]["value"] == 100


async def test_edits_that_change_no_behaviour_keep_the_version(
    admin: Api, order_flow: Any, probe: MachineProbe
) -> None:
    assert (await edit(admin, order_flow["id"], {"label": "Orders"}))["definition_version"] == 1
    same = await edit(admin, order_flow["id"], {"events": ORDER_FLOW["events"], "states": ORDER_FLOW["states"]})
    assert same["definition_version"] == 1
    # Writing defaults out in full is the same definition.
    spelled = [{**s, "final": s.get("final", False)} for s in ORDER_FLOW["states"]]
    assert (await edit(admin, order_flow["id"], {"states": spelled}))["definition_version"] == 1
    assert len(await probe.where("state_machine_version", machine_id=order_flow["id"])) == 1


async def test_running_rows_keep_their_version_and_new_rows_take_the_latest(
    admin: Api, order_flow: Any, probe: MachineProbe
) -> None:
    old = await new_order(admin)
    old_view = await object_state(admin, old["id"])
    old_free = await object_state(admin, (await new_order(admin, total=0))["id"])
    await edit(admin, order_flow["id"], {"states": V2_STATES, "events": V2_EVENTS})
    new = await new_order(admin)
    new_view = await object_state(admin, new["id"])
    new_free = await object_state(admin, (await new_order(admin, total=0))["id"])
    assert (old_view["machine_version"], new_view["machine_version"]) == (1, 2)
    assert [e["name"] for e in new_view["events"]] == ["confirm", "pack", "ship", "cancel"]
    # The old row fires by version 1: confirm leads to "confirmed", which version 2 does not have.
    fired = await fire(admin, old_view["id"], "confirm")
    assert fired.status_code == 200, fired.text
    assert fired.json()["state"] == "confirmed" and fired.json()["available_events"] == ["ship", "cancel"]
    assert_problem(await fire(admin, old_view["id"], "pack"), 404, "not-found")
    assert (await fire(admin, new_view["id"], "confirm")).json()["state"] == "packing"
    (old_history,) = [t for t in await probe.where("state_transition", row_id=old["id"]) if t["event"] == "confirm"]
    assert old_history["machine_version"] == 1
    # Version 1 guards confirm (total > 0); version 2 does not.
    assert_problem(await fire(admin, old_free["id"], "confirm"), 409, "guard-failed")
    assert (await fire(admin, new_free["id"], "confirm")).status_code == 200


async def test_migration_can_take_one_old_version_at_a_time(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    first = await object_state(admin, (await new_order(admin))["id"])
    await edit(admin, order_flow["id"], {"label": "v1", "events": [*ORDER_FLOW["events"][1:], ORDER_FLOW["events"][0]]})
    second = await object_state(admin, (await new_order(admin))["id"])
    await edit(admin, order_flow["id"], {"states": V2_STATES, "events": V2_EVENTS})
    assert (first["machine_version"], second["machine_version"]) == (1, 2)
    response = await migrate(admin, machine="order_flow", from_version=2)
    assert response.json()[0]["attributes"] == {"machine": "order_flow", "to_version": 3, "migrated": 1}
    assert (await probe.where("object_state", id=first["id"]))[0]["machine_version"] == 1
    assert (await probe.where("object_state", id=second["id"]))[0]["machine_version"] == 3


async def test_migration_moves_rows_to_the_new_version(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    confirmed = await new_order(admin, customer="confirmed")
    await fire(admin, (await object_state(admin, confirmed["id"]))["id"], "confirm")
    pending = await new_order(admin, customer="pending")
    await edit(admin, order_flow["id"], {"states": V2_STATES, "events": V2_EVENTS})
    response = await migrate(admin, machine="order_flow", mapping={"confirmed": "packing"}, to_version=2)
    assert response.status_code == 200, response.text
    assert response.json()[0] == {
        "type": "state_machine_migration",
        "attributes": {"machine": "order_flow", "to_version": 2, "migrated": 2},
    }
    moved = await object_state(admin, confirmed["id"])
    assert (moved["state"], moved["machine_version"], moved["version"]) == ("packing", 2, 3)
    assert (await object_state(admin, pending["id"]))["state"] == "pending"
    last = (await probe.where("state_transition", row_id=confirmed["id"]))[-1]
    assert (last["event"], last["from_state"], last["to_state"], last["machine_version"]) == (
        "@migrate",
        "confirmed",
        "packing",
        2,
    )
    assert last["payload"] == {"from_version": 1}
    topics = [r["topic"] for r in await probe.where("outbox", row_id=confirmed["id"])][-2:]
    assert topics == ["state.exited", "state.entered"]
    assert (await fire(admin, moved["id"], "pack")).json()["state"] == "ready"
    again = await migrate(admin, machine="order_flow")
    assert again.json()[0]["attributes"]["migrated"] == 0


async def test_an_unmapped_state_refuses_the_whole_migration(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    confirmed = await new_order(admin)
    await fire(admin, (await object_state(admin, confirmed["id"]))["id"], "confirm")
    await new_order(admin)
    await edit(admin, order_flow["id"], {"states": V2_STATES, "events": V2_EVENTS})
    before = await probe.machine_state()
    body = assert_problem(await migrate(admin, machine="order_flow", to_version=2), 400, "invalid-migration")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("mapping", "unmapped_state")]
    assert "confirmed" in body["errors"][0]["message"]
    body = assert_problem(
        await migrate(admin, machine="order_flow", mapping={"confirmed": "boxed"}), 400, "invalid-migration"
    )
    assert {e["code"] for e in body["errors"]} == {"unknown_state", "unmapped_state"}
    await before.check()


@pytest.mark.parametrize(
    ("attributes", "status", "code"),
    [
        pytest.param({"machine": "nope"}, 404, "not-found", id="unknown machine"),
        pytest.param({"machine": "order_flow", "to_version": 9}, 404, "not-found", id="unknown version"),
        pytest.param({"machine": "order_flow", "to_version": 0}, 404, "not-found", id="version zero"),
        pytest.param({"machine": "order_flow", "to_version": "2"}, 422, "validation", id="version not a number"),
        pytest.param({"machine": "order_flow", "mapping": ["a"]}, 422, "validation", id="mapping not an object"),
        pytest.param({"mapping": {}}, 422, "validation", id="machine missing"),
        pytest.param({"machine": "order_flow", "force": True}, 422, "validation", id="unknown attribute"),
    ],
)
async def test_a_bad_migration_request_changes_nothing(
    admin: Api, order_flow: Any, probe: MachineProbe, attributes: dict[str, Any], status: int, code: str
) -> None:
    confirmed = await new_order(admin)
    await fire(admin, (await object_state(admin, confirmed["id"]))["id"], "confirm")
    await edit(admin, order_flow["id"], {"states": V2_STATES, "events": V2_EVENTS})
    before = await probe.machine_state()
    assert_problem(await migrate(admin, **attributes), status, code)
    await before.check()


async def test_only_administrators_migrate(
    admin: Api, guest: Api, seller: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await new_order(seller)
    await edit(admin, order_flow["id"], {"states": V2_STATES, "events": V2_EVENTS})
    before = await probe.machine_state()
    assert_problem(await migrate(seller, machine="order_flow"), 403, "forbidden")
    assert_problem(await migrate(guest, machine="order_flow"), 401, "unauthorized")
    await before.check()


async def test_a_machine_running_on_rows_cannot_move_to_another_entity(
    admin: Api, order_flow: Any, probe: MachineProbe
) -> None:
    await new_order(admin)
    ticket = {"name": "ticket", "columns": [{"name": "total", "type": "float"}]}
    assert (await admin.post("/api/entity", ticket)).status_code == 201
    before = await probe.machine_state()
    response = await admin.patch(f"/api/state_machine/{order_flow['id']}", {"entity": "ticket"})
    assert_problem(response, 409, "in-use")
    await before.check()
