"""Declared actions over the order machine of the state machine suite.

``seller`` is in ``sales``, ``buyer`` is not; both own the orders they create. ``APPROVE`` is
the issue's example: it updates its order, fires ``confirm`` and notifies, in one transaction.
:func:`remember` keeps every table a chain may write, so that a refusal can be checked to have
written nothing (the audit log included).
"""

from __future__ import annotations

import copy
from typing import Any

from tests.conftest import Api
from tests.integration.crud.conftest import Unchanged
from tests.integration.machines.conftest import (
    MachineProbe,
    buyer,
    created,
    new_order,
    object_state,
    order_flow,
    probe,
    sales,
    seller,
)

#: Fixtures of the machine suite, and its helpers, for the tests here.
__all__ = ["buyer", "new_order", "object_state", "order_flow", "probe", "sales", "seller"]

UNKNOWN_ID = "0190c6d8-0000-7000-8000-000000000000"

APPROVE: dict[str, Any] = {
    "name": "approve",
    "entity": "order",
    "label": "Approve order",
    "instance_required": True,
    "in_fields": [{"name": "note", "type": "string", "max_length": 20, "trim": True}],
    "groups": ["sales"],
    "outcomes": [
        {
            "type": "order",
            "method": "update",
            "reference": "updated",
            "attributes": {"id": "{{ subject.id }}", "status": "paid", "customer": "{{ subject.customer }} ok"},
        },
        {"type": "state.event", "reference": "fired", "attributes": {"machine": "order_flow", "event": "confirm"}},
        {
            "type": "client.notify",
            "condition": {"field": "input.note", "op": "is_not_empty"},
            "attributes": {"type": "success", "message": "Approved {{ updated.customer }}: {{ input.note }}"},
        },
        {
            "type": "client.notify",
            "condition": {"field": "input.note", "op": "is_empty"},
            "attributes": {"message": "Approved {{ updated.customer }}, now {{ fired.state }}"},
        },
    ],
}

#: Everything a chain over orders may write (the audit log is always remembered too).
CHAIN_TABLES = ("order", "object_state", "state_transition", "outbox", "action")


def action(**changes: Any) -> dict[str, Any]:
    """A deep copy of APPROVE with some top-level fields replaced."""
    return {**copy.deepcopy(APPROVE), **changes}


async def declare(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    return await created(api, "/api/action", body)


async def call(api: Api, name: str, attributes: Any = None, entity: str = "order") -> Any:
    return await api.post(f"/action/{entity}/{name}", {"attributes": attributes if attributes is not None else {}})


async def remember(probe: MachineProbe) -> Unchanged:
    return await probe.unchanged(*CHAIN_TABLES)


def kinds(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [d["type"] for d in response.json()]
