from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from stateyard.core.clock import FrozenClock
from tests.conftest import Api, assert_problem
from tests.integration.crud.conftest import Probe

FULL = {
    "title": "Hammer",
    "code": "HAM-1",
    "notes": "heavy",
    "qty": 3,
    "price": "12.50",
    "weight": 1.25,
    "active": False,
    "kind": "part",
    "contact": "Shop@Example.com",
    "site": "https://example.com/hammer",
    "ref": "6f1c2a5e-98c4-4b63-9a6d-2f7b7c1f0e11",
    "due": "2026-02-03",
    "seen_at": "2026-01-02T03:04:05+02:00",
    "meta": {"tags": ["a", "b"], "n": 1},
    "secret": "s3cret",
    "pin": "pin-code-123",
}


def parse_utc(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.utcoffset() == dt.timedelta(0), text
    return moment


async def test_create_returns_row_with_row_fields(admin: Api, gadget: Any, clock: FrozenClock) -> None:
    response = await admin.post("/api/gadget", FULL)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    row = response.json()
    assert str(uuid.UUID(row["id"])) == row["id"]
    assert row["version"] == 1
    assert parse_utc(row["created_at"]) == clock.now() == parse_utc(row["updated_at"])
    assert row["owner_id"] == (await admin.me())["id"]
    assert set(row["permission"]) == {"guest", "owner", "group"}
    assert "read" in row["permission"]["owner"]


async def test_create_stores_typed_values(admin: Api, gadget: Any) -> None:
    row = (await admin.post("/api/gadget", FULL)).json()
    assert row["title"] == "Hammer" and row["qty"] == 3 and row["weight"] == 1.25
    assert row["price"] == "12.50"
    assert row["active"] is False and row["kind"] == "part"
    assert row["contact"] == "shop@example.com"
    assert row["ref"] == FULL["ref"] and row["due"] == "2026-02-03"
    assert parse_utc(row["seen_at"]) == dt.datetime(2026, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    assert row["meta"] == {"tags": ["a", "b"], "n": 1}
    assert row["secret"] == "s3cret"
    assert "pin" not in row


async def test_get_returns_the_created_row(admin: Api, gadget: Any) -> None:
    created = (await admin.post("/api/gadget", FULL)).json()
    fetched = await admin.get(f"/api/gadget/{created['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == created


async def test_defaults_applied_when_omitted(admin: Api, gadget: Any) -> None:
    row = (await admin.post("/api/gadget", {"title": "Bare"})).json()
    assert row["qty"] == 1 and row["active"] is True and row["kind"] == "tool"
    assert row["notes"] is None and row["price"] is None and row["meta"] is None


async def test_explicit_null_overrides_default_of_optional_column(admin: Api, gadget: Any) -> None:
    row = (await admin.post("/api/gadget", {"title": "Bare", "qty": None})).json()
    assert row["qty"] is None


async def test_client_supplied_id_is_kept(admin: Api, gadget: Any, probe: Probe) -> None:
    chosen = str(uuid.uuid4())
    response = await admin.post("/api/gadget", {"id": chosen, "title": "Mine"})
    assert response.status_code == 201, response.text
    assert response.json()["id"] == chosen
    assert (await admin.get(f"/api/gadget/{chosen}")).json()["title"] == "Mine"
    assert [str(r["id"]) for r in await probe.rows("gadget")] == [chosen]


async def test_reusing_an_existing_id_is_a_conflict(admin: Api, gadget: Any, probe: Probe) -> None:
    chosen = str(uuid.uuid4())
    assert (await admin.post("/api/gadget", {"id": chosen, "title": "One"})).status_code == 201
    again = await admin.post("/api/gadget", {"id": chosen, "title": "Two"})
    assert [e["field"] for e in assert_problem(again, 409, "duplicate")["errors"]] == ["id"]
    assert await probe.count("gadget") == 1


async def test_password_is_stored_hashed(admin: Api, gadget: Any, probe: Probe) -> None:
    await admin.post("/api/gadget", FULL)
    (stored,) = await probe.rows("gadget")
    assert stored["pin"] and stored["pin"] != FULL["pin"]
    assert stored["secret"] and stored["secret"] != FULL["secret"]


async def test_create_writes_one_audit_entry(admin: Api, gadget: Any, probe: Probe) -> None:
    before = await probe.count("audit_log")
    row = (await admin.post("/api/gadget", FULL)).json()
    entries = [e for e in await probe.rows("audit_log") if str(e["row_id"]) == row["id"]]
    assert await probe.count("audit_log") == before + 1
    assert [e["operation"] for e in entries] == ["create"]
    assert entries[0]["after"]["pin"] == "[hidden]" and entries[0]["after"]["secret"] == "[hidden]"


async def test_user_creates_own_row(admin: Api, gadget: Any) -> None:
    user = await admin.signup("maker@example.com")
    response = await user.post("/api/gadget", {"title": "Mine"})
    assert response.status_code == 201, response.text
    assert response.json()["owner_id"] == (await user.me())["id"]


async def test_admin_may_set_owner(admin: Api, gadget: Any) -> None:
    user = await admin.signup("owner@example.com")
    owner = (await user.me())["id"]
    response = await admin.post("/api/gadget", {"title": "Given", "owner_id": owner})
    assert response.status_code == 201, response.text
    assert response.json()["owner_id"] == owner
    assert (await user.get(f"/api/gadget/{response.json()['id']}")).status_code == 200
