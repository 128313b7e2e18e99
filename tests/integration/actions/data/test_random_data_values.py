from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from tests.conftest import Api
from tests.integration.actions.data.conftest import ITEM, call, define, result_of
from tests.integration.crud.conftest import Probe

SHELF_FLOW = {
    "name": "shelf_flow",
    "entity": "shelf",
    "initial_state": "empty",
    "states": [{"name": "empty"}, {"name": "full", "final": True}],
    "events": [{"name": "fill", "src": ["empty"], "dst": "full"}],
    "auto_start": True,
}


def _fits_item(row: dict[str, Any]) -> None:
    assert 2 <= len(row["title"]) <= 12
    assert row["code"] and len(row["code"]) <= 16
    assert len(row["notes"]) <= 50
    assert 5 <= row["qty"] <= 9
    assert Decimal(1) <= row["price"] <= Decimal(20) and row["price"] == row["price"].quantize(Decimal("0.01"))
    assert -1.5 <= row["weight"] <= 1.5
    assert isinstance(row["active"], bool)
    assert row["kind"] in ("tool", "toy", "part")
    assert "@" in row["contact"] and row["contact"] == row["contact"].lower()
    assert row["site"].startswith("https://")
    assert isinstance(row["ref"], uuid.UUID)
    assert isinstance(row["due"], dt.date)
    assert row["seen_at"].tzinfo is not None
    assert isinstance(row["meta"], dict)
    # Secrets are made up only when required; the optional relation stays empty without shelves.
    assert row["secret"] is None and row["pin"] is None and row["shelf_id"] is None


async def test_rows_fit_every_columns_type_and_options(admin: Api, item: dict, probe: Probe) -> None:
    audit_before = await probe.count("audit_log")
    answer = result_of(await call(admin, "item", "random_data", count=40, seed=7), "random_data")
    rows = await probe.rows("item")
    assert answer == {"entity": "item", "created": 40, "ids": [str(r["id"]) for r in rows]}
    for row in rows:
        _fits_item(row)
    assert len({r["code"] for r in rows}) == 40
    assert len({r["contact"] for r in rows}) == 40
    created = [a for a in await probe.rows("audit_log") if a["entity"] == "item"]
    assert len(created) == 40 and await probe.count("audit_log") == audit_before + 40


async def test_the_answer_lists_the_first_hundred_ids(admin: Api, shelf: dict, probe: Probe) -> None:
    answer = result_of(await call(admin, "shelf", "random_data", count=130, seed=1), "random_data")
    assert answer["created"] == 130 and len(answer["ids"]) == 100
    assert answer["ids"] == [str(r["id"]) for r in await probe.rows("shelf")][:100]


async def test_the_entity_attribute_names_another_entity(admin: Api, item: dict, probe: Probe) -> None:
    response = await call(admin, "item", "random_data", count=3, entity="shelf")
    assert result_of(response, "random_data")["entity"] == "shelf"
    assert await probe.count("shelf") == 3 and await probe.count("item") == 0


async def test_a_seed_makes_the_same_values(admin: Api, probe: Probe) -> None:
    plain = [c for c in ITEM["columns"] if not c.get("unique")]
    for name in ("first", "second"):
        await define(admin, {"name": name, "columns": plain})
        result_of(await call(admin, name, "random_data", count=10, seed=42), "random_data")
    skip = {"id", "created_at", "updated_at"}

    def values(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k not in skip} for r in rows]

    first, second = values(await probe.rows("first")), values(await probe.rows("second"))
    assert first == second
    assert len({r["title"] for r in first}) > 1


async def test_belongs_to_picks_rows_the_caller_may_refer_to(guest: Api, admin: Api, item: dict, probe: Probe) -> None:
    alice = await guest.signup("alice@example.com")
    bob = await guest.signup("bob@example.com")
    mine = (await alice.post("/api/shelf", {"label": "mine"})).json()
    await bob.post("/api/shelf", {"label": "bob's"})
    result_of(await call(alice, "item", "random_data", count=15, seed=3), "random_data")
    rows = await probe.rows("item")
    assert len(rows) == 15
    assert {str(r["shelf_id"]) for r in rows} == {mine["id"]}
    assert {str(r["owner_id"]) for r in rows} == {(await alice.me())["id"]}


async def test_required_secrets_are_made_up(admin: Api, probe: Probe) -> None:
    columns = [
        {"name": "pin", "type": "password", "required": True, "min_length": 20},
        {"name": "token", "type": "encrypted", "required": True, "max_length": 30},
    ]
    await define(admin, {"name": "vault", "columns": columns})
    result_of(await call(admin, "vault", "random_data", count=2), "random_data")
    for row in await probe.rows("vault"):
        assert row["pin"].startswith("$argon2") and row["token"]
    shown = (await admin.get("/api/vault")).json()["data"]
    assert len(shown) == 2 and all(8 <= len(r["token"]) <= 30 for r in shown)


async def test_auto_started_machines_start_on_made_up_rows(admin: Api, shelf: dict, probe: Probe) -> None:
    response = await admin.post("/api/state_machine", SHELF_FLOW)
    assert response.status_code == 201, response.text
    result_of(await call(admin, "shelf", "random_data", count=4), "random_data")
    states = [s for s in await probe.rows("object_state") if s["entity"] == "shelf"]
    assert len(states) == 4 and {s["state"] for s in states} == {"empty"}
