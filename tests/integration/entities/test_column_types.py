"""Every column type: created live, values accepted, stored and returned as declared."""

from __future__ import annotations

from stateyard.platform import Platform
from tests.conftest import Api, assert_problem
from tests.integration.entities.conftest import Probe, create_entity

ALL_TYPES = {
    "name": "gadget",
    "columns": [
        {"name": "title", "type": "string"},
        {"name": "notes", "type": "text"},
        {"name": "count", "type": "integer"},
        {"name": "weight", "type": "float"},
        {"name": "price", "type": "decimal", "precision": 10, "scale": 2},
        {"name": "active", "type": "boolean"},
        {"name": "born", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "extra", "type": "json"},
        {"name": "size", "type": "enum", "options": ["s", "m", "l"]},
        {"name": "contact", "type": "email"},
        {"name": "homepage", "type": "url"},
        {"name": "ref", "type": "uuid"},
        {"name": "pin", "type": "password"},
        {"name": "secret", "type": "encrypted"},
    ],
}

GOOD = {
    "title": "Widget",
    "notes": "long text\nwith lines",
    "count": 42,
    "weight": 1.5,
    "price": "12.30",
    "active": True,
    "born": "2024-02-29",
    "seen_at": "2024-05-01T12:30:00+02:00",
    "extra": {"tags": ["a", "b"], "n": 1},
    "size": "m",
    "contact": "Someone@Example.COM",
    "homepage": "https://example.com/x?y=1",
    "ref": "6f1c7a2e-8d6b-4a8e-9a57-3f5d2b9c1e00",
    "pin": "correct horse",
    "secret": "the launch code",
}


async def test_created_entity_has_its_table_at_once(admin: Api, probe: Probe) -> None:
    await create_entity(admin, ALL_TYPES)
    columns = (await probe.tables())["gadget"]
    assert {c["name"] for c in ALL_TYPES["columns"]} <= set(columns)
    assert {"id", "version", "created_at", "updated_at", "owner_id", "permission"} <= set(columns)
    created = await admin.post("/api/gadget", {})
    assert created.status_code == 201, created.text


async def test_values_round_trip(admin: Api) -> None:
    await create_entity(admin, ALL_TYPES)
    created = await admin.post("/api/gadget", GOOD)
    assert created.status_code == 201, created.text
    row = (await admin.get(f"/api/gadget/{created.json()['id']}")).json()
    assert row["title"] == "Widget"
    assert row["notes"] == GOOD["notes"]
    assert row["count"] == 42
    assert row["weight"] == 1.5
    assert row["price"] == "12.30"
    assert row["active"] is True
    assert row["born"] == "2024-02-29"
    assert row["seen_at"] == "2024-05-01T10:30:00Z"
    assert row["extra"] == {"tags": ["a", "b"], "n": 1}
    assert row["size"] == "m"
    assert row["contact"] == "someone@example.com"
    assert row["homepage"] == "https://example.com/x?y=1"
    assert row["ref"] == GOOD["ref"]
    assert row["secret"] == "the launch code"
    assert "pin" not in row
    assert created.json() == row


async def test_decimal_keeps_its_scale(admin: Api) -> None:
    await create_entity(admin, ALL_TYPES)
    for given, shown in (("12.3", "12.30"), (7, "7.00"), ("-0.01", "-0.01"), ("99999999.99", "99999999.99")):
        created = await admin.post("/api/gadget", {"price": given})
        assert created.status_code == 201, created.text
        assert created.json()["price"] == shown
        assert (await admin.get(f"/api/gadget/{created.json()['id']}")).json()["price"] == shown


async def test_datetime_without_offset_is_utc(admin: Api) -> None:
    await create_entity(admin, ALL_TYPES)
    created = await admin.post("/api/gadget", {"seen_at": "2024-05-01T12:30:00"})
    assert created.json()["seen_at"] == "2024-05-01T12:30:00Z"
    zulu = await admin.post("/api/gadget", {"seen_at": "2024-12-31T23:59:59.250Z"})
    assert zulu.json()["seen_at"] == "2024-12-31T23:59:59.250000Z"


BAD = [
    ("title", 5, "type"),
    ("notes", ["x"], "type"),
    ("count", "7", "type"),
    ("count", 1.5, "type"),
    ("count", True, "type"),
    ("weight", "heavy", "type"),
    ("price", "abc", "type"),
    ("price", "1.234", "scale"),
    ("price", "123456789.00", "precision"),
    ("price", "NaN", "type"),
    ("active", "yes", "type"),
    ("born", "2023-02-30", "format"),
    ("born", 20240101, "type"),
    ("seen_at", "yesterday", "format"),
    ("size", "xl", "enum"),
    ("contact", "not-an-email", "format"),
    ("homepage", "ftp://example.com", "format"),
    ("homepage", "javascript:alert(1)", "format"),
    ("ref", "not-a-uuid", "format"),
    ("pin", "short", "min_length"),
    ("secret", 12, "type"),
]


async def test_bad_values_are_refused_with_a_code_per_field(admin: Api) -> None:
    await create_entity(admin, ALL_TYPES)
    for field, value, code in BAD:
        response = await admin.post("/api/gadget", {field: value})
        body = assert_problem(response, 422, "validation")
        assert body["errors"] == [{"field": field, "code": code, "message": body["errors"][0]["message"]}], (
            field,
            value,
            body,
        )
    everything_bad = {field: value for field, value, _ in BAD}
    body = assert_problem(await admin.post("/api/gadget", everything_bad), 422, "validation")
    assert {e["field"] for e in body["errors"]} == set(everything_bad)
    assert (await admin.get("/api/gadget")).json()["meta"]["total"] == 0


async def test_password_is_hashed_and_never_returned(admin: Api, platform: Platform, probe: Probe) -> None:
    await create_entity(admin, ALL_TYPES)
    created = await admin.post("/api/gadget", {"pin": "correct horse"})
    row_id = created.json()["id"]
    stored = await probe.row("gadget", row_id)
    assert stored["pin"] != "correct horse"
    assert stored["pin"].startswith("$argon2")
    assert platform.crypto.verify_password(stored["pin"], "correct horse")
    assert "pin" not in (await admin.get(f"/api/gadget/{row_id}")).json()
    assert all("pin" not in r for r in (await admin.get("/api/gadget")).json()["data"])
    asked = await admin.get(f"/api/gadget/{row_id}", params={"fields": "pin,title"})
    assert assert_problem(asked, 400, "invalid-fields")["parameter"] == "fields"


async def test_secret_and_json_columns_cannot_be_filtered_or_sorted(admin: Api) -> None:
    await create_entity(admin, ALL_TYPES)
    for field in ("pin", "secret", "extra"):
        condition = f'{{"field": "{field}", "op": "equals", "value": "x"}}'
        assert_problem(await admin.get("/api/gadget", params={"filter": condition}), 400, "invalid-filter")
        assert_problem(await admin.get("/api/gadget", params={"sort": field}), 400, "invalid-sort")


async def test_encrypted_is_stored_encrypted(admin: Api, platform: Platform, probe: Probe) -> None:
    await create_entity(admin, ALL_TYPES)
    created = await admin.post("/api/gadget", {"secret": "the launch code"})
    stored = await probe.row("gadget", created.json()["id"])
    assert "launch" not in stored["secret"]
    assert platform.crypto.decrypt(stored["secret"]) == "the launch code"
