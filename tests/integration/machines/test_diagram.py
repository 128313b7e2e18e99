"""GET /api/state_machine/<name>/diagram: Mermaid or DOT, with counts of the rows the caller may read."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.machines.conftest import fire, new_order, object_state
from tests.integration.machines.test_versions import V2_EVENTS, V2_STATES, edit

URL = "/api/state_machine/order_flow/diagram"


async def test_mermaid_is_the_default(admin: Api, order_flow: Any) -> None:
    response = await admin.get(URL)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/vnd.mermaid")
    lines = response.text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    [*] --> pending" in lines
    assert "    pending --> confirmed : confirm" in lines
    assert "    pending --> cancelled : cancel" in lines and "    confirmed --> cancelled : cancel" in lines
    assert "    shipped --> [*]" in lines and "    cancelled --> [*]" in lines


async def test_dot_by_name_or_id(admin: Api, order_flow: Any) -> None:
    for url in (URL, f"/api/state_machine/{order_flow['id']}/diagram"):
        response = await admin.get(url, params={"format": "dot"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/vnd.graphviz")
        assert response.text.startswith('digraph "order_flow" {')
        assert '    "confirmed" -> "shipped" [label="ship"];' in response.text
        assert '    "shipped" [label="shipped", peripheries=2];' in response.text


async def test_counts_only_rows_the_caller_may_read(admin: Api, seller: Api, buyer: Api, order_flow: Any) -> None:
    for _ in range(2):
        await new_order(seller)
    theirs = await new_order(buyer)
    await fire(admin, (await object_state(admin, theirs["id"]))["id"], "cancel")
    everything = await admin.get(URL, params={"counts": "true"})
    assert "    pending : pending (2)" in everything.text and "    cancelled : cancelled (1)" in everything.text
    assert "    confirmed : confirmed (0)" in everything.text
    mine = await seller.get(URL, params={"counts": "true", "format": "dot"})
    assert '"pending" [label="pending (2)"];' in mine.text
    assert '"cancelled" [label="cancelled (0)", peripheries=2];' in mine.text
    assert "(" not in (await seller.get(URL, params={"counts": "false"})).text


async def test_an_older_version_can_be_drawn(admin: Api, order_flow: Any) -> None:
    await edit(admin, order_flow["id"], {"states": V2_STATES, "events": V2_EVENTS})
    assert "packing --> ready : pack" in (await admin.get(URL)).text
    old = await admin.get(URL, params={"version": "1"})
    assert "pending --> confirmed : confirm" in old.text and "packing" not in old.text


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        pytest.param({"format": "png"}, 400, "bad-request", id="unknown format"),
        pytest.param({"version": "one"}, 400, "bad-request", id="version not a number"),
        pytest.param({"version": "7"}, 404, "not-found", id="unknown version"),
        pytest.param({"colour": "red"}, 400, "unknown-parameter", id="unknown parameter"),
        pytest.param({"counts": "maybe"}, 400, "bad-request", id="counts neither true nor false"),
    ],
)
async def test_bad_diagram_requests(
    admin: Api, order_flow: Any, params: dict[str, str], status: int, code: str
) -> None:
    assert_problem(await admin.get(URL, params=params), status, code)


async def test_diagram_refusals(admin: Api, guest: Api, order_flow: Any) -> None:
    assert_problem(await admin.get("/api/state_machine/nope/diagram"), 404, "not-found")
    assert_problem(await guest.get(URL), 401, "unauthorized")
    assert_problem(await admin.get(f"/api/order/{order_flow['id']}/diagram"), 404, "not-found")
