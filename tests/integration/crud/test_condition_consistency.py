"""A condition selects the same rows as a list filter (SQL) and as a guard (Python ``evaluate``).

Transitions are guarded in Python and lists are filtered in SQL; if the two disagreed, a row
could pass a guard yet be missing from the list that claims to show every row passing it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from stateyard.expressions import conditions
from tests.conftest import Api
from tests.integration.crud.conftest import Probe

UUID_A = "00000000-0000-4000-8000-00000000000a"
UUID_B = "00000000-0000-4000-8000-00000000000b"

ROWS: list[dict[str, Any]] = [
    {
        "title": "Anvil",
        "code": "ANV-1",
        "notes": "heavy iron",
        "qty": 10,
        "price": "5.00",
        "weight": 2.5,
        "active": True,
        "kind": "tool",
        "contact": "a@example.com",
        "ref": UUID_A,
        "due": "2026-01-10",
        "seen_at": "2026-01-01T10:00:00Z",
    },
    {
        "title": "bolt",
        "code": "BOL-2",
        "notes": "small",
        "qty": 0,
        "price": "0.10",
        "weight": 0.0,
        "active": False,
        "kind": "part",
        "due": "2026-02-01",
        "seen_at": "2026-01-02T00:00:00Z",
    },
    {"title": "Crane", "qty": None, "active": None, "kind": None},
    {
        "title": "Drill 50%",
        "code": "DRI-50",
        "notes": "",
        "qty": 50,
        "price": "99.99",
        "weight": 3.0,
        "kind": "tool",
        "contact": "d@example.org",
        "ref": UUID_B,
    },
    {
        "title": "Eel_toy",
        "notes": "100% fun",
        "qty": 100,
        "price": "12.00",
        "kind": "toy",
        "due": "2026-01-10",
        "seen_at": "2025-12-31T23:59:59.500Z",
    },
    {"title": "ünïcode ß", "notes": "back\\slash", "qty": 7, "price": "0.00", "weight": 1e-9, "kind": "part"},
]

# Values each field is compared with: some stored, some not, and null.
VALUES: dict[str, list[Any]] = {
    "title": ["Anvil", "anvil", "ünïcode ß", "C", None],
    "notes": ["", "small", "zzz", None],
    "code": ["ANV-1", "B", None],
    "qty": [0, 10, 7.0, 99, None],
    "price": ["5", 12, "0.10", 0.1, None],
    "weight": [0, 2.5, 1e-9, None],
    "active": [True, False, None],
    "kind": ["tool", "part", "toy", None],
    "contact": ["A@Example.com", "b@example.com", None],
    "ref": [UUID_A, UUID_B, None],
    "due": ["2026-01-10", "2026-01-31", None],
    "seen_at": ["2026-01-01T10:00:00Z", "2026-01-01T12:00:00+02:00", "2025-12-31T23:59:59.5", None],
}
TEXTS = ["il", "IL", "%", "_", "ß", "\\", "e", "", "o"]
PATTERNS = ["^[A-Z]", "ß$", "[0-9]+", "^$", "o{2}", "e.*n", "^(a|b)"]


def rule(field: str, op: str, *value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, **({"value": value[0]} if value else {})}


def family(field: str, name: str) -> list[dict[str, Any]]:
    """Rules of one operator family on one field, each also negated (where SQL nulls bite)."""
    values = VALUES.get(field, [])
    if name == "equality":
        found = [rule(field, op, v) for v in values for op in ("equals", "not_equals")]
    elif name == "order":
        found = [rule(field, op, v) for v in values for op in ("gt", "gte", "lt", "lte")]
    elif name == "lists":
        chosen = [[], *([v] for v in values), values[:2], [values[0], None]]
        found = [rule(field, op, c) for c in chosen for op in ("in", "not_in")]
    elif name == "contains":
        found = [rule(field, op, t) for t in TEXTS for op in ("contains", "not_contains")]
    elif name == "affix":
        found = [rule(field, op, t) for t in TEXTS for op in ("starts_with", "ends_with")]
    elif name == "regex":
        found = [rule(field, "regex", p) for p in PATTERNS]
    else:
        assert name == "empty"
        found = [rule(field, "is_empty"), rule(field, "is_not_empty")]
    return [*found, *({"not": r} for r in found)]


FAMILIES = [
    ("title", "equality"),
    ("title", "order"),
    ("title", "lists"),
    ("title", "contains+regex"),
    ("title", "affix"),
    ("notes", "equality+empty"),
    ("notes", "order"),
    ("notes", "lists"),
    ("notes", "contains+regex"),
    ("notes", "affix"),
    ("kind", "equality+empty+lists"),
    ("kind", "order"),
    ("contact", "equality+contains"),
    ("qty", "equality+empty"),
    ("qty", "order"),
    ("qty", "lists"),
    ("price", "equality+lists"),
    ("price", "order"),
    ("weight", "equality+order"),
    ("active", "equality+empty+lists"),
    ("ref", "equality+empty+lists"),
    ("due", "equality+empty+lists"),
    ("due", "order"),
    ("seen_at", "equality+lists"),
    ("seen_at", "order"),
]


@pytest.fixture
async def stored(admin: Api, gadget: Any, probe: Probe) -> list[dict[str, Any]]:
    for row in ROWS:
        response = await admin.post("/api/gadget", row)
        assert response.status_code == 201, response.text
    return await probe.rows("gadget")


async def check_agreement(
    api: Api, probe: Probe, stored: list[dict[str, Any]], candidates: list[dict[str, Any]]
) -> None:
    fields = probe.platform.registry.snapshot.models["gadget"].condition_fields
    params = [{"filter": json.dumps(c), "per_page": "100"} for c in candidates]
    responses = await probe.get_many(api, "/api/gadget", params)
    titles = {row["id"]: row["title"] for row in stored}
    disagreements = []
    for condition, response in zip(candidates, responses, strict=True):
        assert response.status_code == 200, f"{condition}: {response.text}"
        in_sql = sorted(titles[uuid.UUID(row["id"])] for row in response.json()["data"])
        bound = conditions.bind(conditions.parse(condition), fields)
        in_python = sorted(row["title"] for row in stored if conditions.evaluate(bound, row))
        if in_sql != in_python:
            disagreements.append(f"{condition}: sql={in_sql} python={in_python}")
    assert not disagreements, "\n".join(disagreements)


@pytest.mark.parametrize(("field", "name"), FAMILIES)
async def test_family_agrees(admin: Api, probe: Probe, stored: list[dict[str, Any]], field: str, name: str) -> None:
    candidates = [c for part in name.split("+") for c in family(field, part)]
    await check_agreement(admin, probe, stored, candidates)


async def test_row_fields_agree(admin: Api, probe: Probe, stored: list[dict[str, Any]]) -> None:
    first = str(stored[0]["id"])
    me = (await admin.me())["id"]
    candidates = [
        rule("id", "equals", first),
        rule("id", "in", [first, str(stored[1]["id"])]),
        rule("owner_id", "equals", me),
        rule("owner_id", "not_equals", None),
        rule("version", "gte", 1),
        rule("created_at", "lt", "2026-01-01T00:00:01Z"),
    ]
    await check_agreement(admin, probe, stored, [*candidates, *({"not": c} for c in candidates)])


async def test_mixed_groups_agree(admin: Api, probe: Probe, stored: list[dict[str, Any]]) -> None:
    candidates = [
        {"all": [rule("kind", "equals", "tool"), {"not": rule("qty", "gt", 20)}]},
        {"any": [rule("notes", "is_empty"), rule("price", "lt", 1)]},
        {"not": {"all": [rule("active", "equals", True), rule("title", "contains", "n")]}},
        {"any": [{"not": rule("ref", "in", [UUID_A])}, rule("due", "is_not_empty")]},
        {"not": {"not": {"not": rule("contact", "ends_with", ".com")}}},
        {"all": []},
        {"any": []},
        {"not": {"any": []}},
    ]
    await check_agreement(admin, probe, stored, candidates)
