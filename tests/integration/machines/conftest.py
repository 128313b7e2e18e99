"""The order machine of the issue, the people who use it, and probes of what a request left behind.

``seller`` is in the ``sales`` group (only its members may ``confirm``), ``buyer`` is not; both
own the orders they create. :class:`MachineProbe` reads the database past the API on the app's
own event loop (see the records suite's ``Probe``) and remembers every table a transition
touches, so that each refusal can be checked to have written nothing.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from stateyard.platform import Platform
from tests.conftest import Api
from tests.integration.crud.conftest import Probe, Unchanged

ORDER_FLOW: dict[str, Any] = {
    "name": "order_flow",
    "entity": "order",
    "initial_state": "pending",
    "states": [
        {"name": "pending"},
        {"name": "confirmed"},
        {"name": "shipped", "final": True},
        {"name": "cancelled", "final": True},
    ],
    "events": [
        {
            "name": "confirm",
            "src": ["pending"],
            "dst": "confirmed",
            "guard": {"field": "total", "op": "gt", "value": 0},
            "groups": ["sales"],
        },
        {"name": "ship", "src": ["confirmed"], "dst": "shipped"},
        {"name": "cancel", "src": ["pending", "confirmed"], "dst": "cancelled"},
    ],
    "auto_start": True,
}

#: A second machine on orders, started by hand: payment runs beside the order flow.
PAYMENT: dict[str, Any] = {
    "name": "payment",
    "entity": "order",
    "initial_state": "unpaid",
    "states": [{"name": "unpaid"}, {"name": "paid", "final": True}],
    "events": [
        {
            "name": "pay",
            "src": ["unpaid"],
            "dst": "paid",
            "guard": {"field": "payload.amount", "op": "gte", "value": 1},
        }
    ],
}

#: Everything a transition, a start or a migration may write.
MACHINE_TABLES = ("order", "object_state", "state_transition", "outbox", "state_machine", "state_machine_version")


def machine(**changes: Any) -> dict[str, Any]:
    """A deep copy of ORDER_FLOW with some top-level fields replaced."""
    return {**copy.deepcopy(ORDER_FLOW), **changes}


async def created(api: Api, url: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(url, body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def new_order(api: Api, total: float = 10, customer: str = "ACME") -> dict[str, Any]:
    return await created(api, "/api/order", {"customer": customer, "total": total})


async def states_of(api: Api, order_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/order/{order_id}/states")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def object_state(api: Api, order_id: str, name: str = "order_flow") -> dict[str, Any]:
    return next(s for s in await states_of(api, order_id) if s["machine"] == name)


async def fire(api: Api, object_state_id: str, event: str, body: Any = None, entity: str = "order") -> Any:
    return await api.post(f"/api/event/{entity}/{object_state_id}/{event}", body)


async def add_member(admin: Api, group: dict[str, Any], member: Api) -> None:
    response = await admin.post(f"/api/usergroup/{group['id']}/members", {"id": (await member.me())["id"]})
    assert response.status_code == 204, response.text


class MachineProbe(Probe):
    async def where(self, entity: str, **equals: Any) -> list[dict[str, Any]]:
        """Stored rows of ``entity`` whose columns equal the given values (ids as strings or UUIDs)."""
        table = self.platform.registry.snapshot.models[entity].table
        clauses = [
            table.c[k] == (uuid.UUID(v) if k.endswith("id") and isinstance(v, str) else v) for k, v in equals.items()
        ]

        async def run() -> list[dict[str, Any]]:
            async with self.platform.db.read() as conn:
                stmt = select(table).where(*clauses).order_by(table.c.created_at, table.c.id)
                return [dict(r) for r in (await conn.execute(stmt)).mappings()]

        return await self.call(run)

    async def together(self, api: Api, posts: list[tuple[str, Any]]) -> list[httpx.Response]:
        """POST to each (url, body) at the same time, on the app's loop; answers in the same order."""

        async def run() -> list[httpx.Response]:
            async with self._direct(api) as raw:
                return list(await asyncio.gather(*(raw.post(url, json=body) for url, body in posts)))

        return await self.call(run)

    async def machine_state(self) -> Unchanged:
        """Remember every table a machine writes (and the audit log)."""
        return await self.unchanged(*MACHINE_TABLES)


@pytest.fixture
def probe(client: AsyncTestClient[Any], platform: Platform) -> MachineProbe:
    return MachineProbe(client, platform)


@pytest.fixture
async def sales(admin: Api) -> dict[str, Any]:
    return await created(admin, "/api/usergroup", {"name": "sales"})


@pytest.fixture
async def order_flow(admin: Api, order_entity: dict[str, Any], sales: dict[str, Any]) -> dict[str, Any]:
    return await created(admin, "/api/state_machine", ORDER_FLOW)


@pytest.fixture
async def seller(admin: Api, sales: dict[str, Any]) -> Api:
    api = await admin.as_guest().signup("seller@example.com")
    await add_member(admin, sales, api)
    return api


@pytest.fixture
async def buyer(admin: Api) -> Api:
    return await admin.as_guest().signup("buyer@example.com")
