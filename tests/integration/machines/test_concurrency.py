"""Real concurrent fires on one object state: exactly one wins, the others get 409, nothing is lost.

The requests run at the same time on the app's own loop (``Probe.concurrently`` and
``MachineProbe.together``), so on PostgreSQL they really do race for the object state's row
lock and on SQLite for the single writer.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import Api, assert_problem
from tests.integration.machines.conftest import MachineProbe, fire, new_order, object_state

CONFLICT_CODES = {"urn:stateyard:problem:invalid-transition", "urn:stateyard:problem:stale-version"}


async def history_matches_versions(probe: MachineProbe, order_id: str) -> dict[str, Any]:
    """The object state, after checking one history record (and three outbox rows) per version step."""
    (stored,) = await probe.where("object_state", row_id=order_id)
    fired = [t for t in await probe.where("state_transition", row_id=order_id) if t["event"] != "@start"]
    assert len(fired) == stored["version"] - 1
    # The records chain: each starts where the previous one ended, and the last ends in the stored state.
    states = ["pending"] + [t["to_state"] for t in fired]
    assert [t["from_state"] for t in fired] == states[:-1] and states[-1] == stored["state"]
    outbox = [r for r in await probe.where("outbox", row_id=order_id) if r["payload"]["event"] != "@start"]
    assert len(outbox) == 3 * len(fired)
    return stored


async def test_ship_and_cancel_fired_together_one_wins(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    order = await new_order(admin)
    view = await object_state(admin, order["id"])
    assert (await fire(admin, view["id"], "confirm")).status_code == 200
    # ship and cancel both end in a final state: whichever commits first, the others cannot follow.
    base = f"/api/event/order/{view['id']}"
    responses = await probe.together(admin, [(f"{base}/{'ship' if i % 2 else 'cancel'}", None) for i in range(16)])
    assert sorted(r.status_code for r in responses) == [200] + [409] * 15, [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    for response in responses:
        if response.status_code == 409:
            body = assert_problem(response, 409, "invalid-transition")
            assert body["current_state"] == winner["state"]
    stored = await history_matches_versions(probe, order["id"])
    assert (stored["state"], stored["version"]) == (winner["state"], 3)


async def test_the_same_event_with_the_same_version_fires_once(
    admin: Api, order_flow: Any, probe: MachineProbe
) -> None:
    order = await new_order(admin)
    view = await object_state(admin, order["id"])
    url = f"/api/event/order/{view['id']}/confirm"
    responses = await probe.concurrently(admin, "POST", url, [{"version": 1}] * 20)
    assert sorted(r.status_code for r in responses) == [200] + [409] * 19, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert assert_problem(response, 409)["type"] in CONFLICT_CODES
    stored = await history_matches_versions(probe, order["id"])
    assert (stored["state"], stored["version"]) == ("confirmed", 2)


async def test_cancels_without_a_version_still_cancel_once(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    order = await new_order(admin)
    view = await object_state(admin, order["id"])
    url = f"/api/event/order/{view['id']}/cancel"
    responses = await probe.concurrently(admin, "POST", url, [{"payload": {"n": n}} for n in range(12)])
    assert sorted(r.status_code for r in responses) == [200] + [409] * 11, [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "invalid-transition")
    stored = await history_matches_versions(probe, order["id"])
    assert (stored["state"], stored["version"]) == ("cancelled", 2)


async def test_events_on_different_rows_all_go_through(admin: Api, order_flow: Any, probe: MachineProbe) -> None:
    orders = [await new_order(admin, customer=f"C{i}") for i in range(6)]
    views = [await object_state(admin, o["id"]) for o in orders]
    responses = await probe.together(admin, [(f"/api/event/order/{v['id']}/confirm", None) for v in views])
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    for order in orders:
        assert (await history_matches_versions(probe, order["id"]))["state"] == "confirmed"
