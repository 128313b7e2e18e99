"""List filters: every operator and group, on rows that include nulls, empty text and LIKE wildcards."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api
from tests.integration.crud.conftest import filter_param

STOCK = [
    {
        "title": "Anvil",
        "code": "ANV-1",
        "notes": "heavy iron",
        "qty": 10,
        "price": "5.00",
        "weight": 2.5,
        "kind": "tool",
        "contact": "a@example.com",
        "ref": "00000000-0000-4000-8000-000000000001",
        "due": "2026-01-10",
        "seen_at": "2026-01-01T10:00:00Z",
    },
    {
        "title": "bolt",
        "code": "BOL-2",
        "notes": "small",
        "qty": 0,
        "price": "0.10",
        "weight": 0.01,
        "active": False,
        "kind": "part",
        "due": "2026-02-01",
        "seen_at": "2026-01-02T00:00:00Z",
    },
    {
        "title": "Crane",
        "notes": None,
        "qty": None,
        "price": None,
        "weight": None,
        "active": None,
        "kind": None,
    },
    {"title": "Drill 50%", "code": "DRI-50", "notes": "", "qty": 50, "price": "99.99", "weight": 3.0, "kind": "tool"},
    {"title": "Eel_toy", "notes": "100% fun", "qty": 100, "price": "12.00", "kind": "toy", "due": "2026-01-10"},
]
ALL = {"Anvil", "bolt", "Crane", "Drill 50%", "Eel_toy"}


@pytest.fixture
async def stock(admin: Api, gadget: Any) -> None:
    for row in STOCK:
        response = await admin.post("/api/gadget", row)
        assert response.status_code == 201, response.text


async def titles(api: Api, condition: Any) -> set[str]:
    response = await api.get("/api/gadget", params={**filter_param(condition), "per_page": "100"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["total"] == len(body["data"])
    return {row["title"] for row in body["data"]}


def rule(field: str, op: str, *value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, **({"value": value[0]} if value else {})}


OPERATOR_CASES = [
    (rule("qty", "equals", 10), {"Anvil"}),
    (rule("qty", "equals", None), {"Crane"}),
    (rule("title", "equals", "anvil"), set()),
    (rule("kind", "equals", "tool"), {"Anvil", "Drill 50%"}),
    (rule("active", "equals", False), {"bolt"}),
    (rule("active", "equals", True), {"Anvil", "Drill 50%", "Eel_toy"}),
    (rule("price", "equals", "5"), {"Anvil"}),
    (rule("price", "equals", 12), {"Eel_toy"}),
    (rule("due", "equals", "2026-01-10"), {"Anvil", "Eel_toy"}),
    (rule("ref", "equals", "00000000-0000-4000-8000-000000000001"), {"Anvil"}),
    (rule("contact", "equals", "A@Example.com"), {"Anvil"}),
    (rule("qty", "not_equals", 10), ALL - {"Anvil"}),
    (rule("qty", "not_equals", None), ALL - {"Crane"}),
    (rule("kind", "not_equals", "tool"), {"bolt", "Crane", "Eel_toy"}),
    (rule("qty", "gt", 10), {"Drill 50%", "Eel_toy"}),
    (rule("qty", "gte", 10), {"Anvil", "Drill 50%", "Eel_toy"}),
    (rule("qty", "lt", 10), {"bolt"}),
    (rule("qty", "lte", 10), {"Anvil", "bolt"}),
    (rule("qty", "gt", None), set()),
    (rule("price", "gt", "5.00"), {"Drill 50%", "Eel_toy"}),
    (rule("weight", "lt", 2.5), {"bolt"}),
    (rule("due", "lt", "2026-02-01"), {"Anvil", "Eel_toy"}),
    (rule("seen_at", "gt", "2026-01-01T11:00:00+02:00"), {"Anvil", "bolt"}),
    (rule("seen_at", "gte", "2026-01-01T10:00:00Z"), {"Anvil", "bolt"}),
    (rule("seen_at", "gt", "2026-01-01T10:00:00"), {"bolt"}),
    (rule("title", "lt", "C"), {"Anvil"}),
    (rule("title", "contains", "il"), {"Anvil", "Drill 50%"}),
    (rule("title", "contains", "IL"), set()),
    (rule("notes", "contains", "%"), {"Eel_toy"}),
    (rule("title", "contains", "_"), {"Eel_toy"}),
    (rule("notes", "not_contains", "i"), {"bolt", "Crane", "Drill 50%", "Eel_toy"}),
    (rule("notes", "not_contains", "%"), ALL - {"Eel_toy"}),
    (rule("title", "starts_with", "B"), set()),
    (rule("title", "starts_with", "b"), {"bolt"}),
    (rule("title", "starts_with", "Eel_"), {"Eel_toy"}),
    (rule("title", "ends_with", "%"), {"Drill 50%"}),
    (rule("notes", "ends_with", "n"), {"Eel_toy", "Anvil"}),
    (rule("notes", "is_empty"), {"Crane", "Drill 50%"}),
    (rule("notes", "is_not_empty"), {"Anvil", "bolt", "Eel_toy"}),
    (rule("qty", "is_empty"), {"Crane"}),
    (rule("code", "is_not_empty"), {"Anvil", "bolt", "Drill 50%"}),
    (rule("due", "is_empty"), {"Crane", "Drill 50%"}),
    (rule("qty", "in", [0, 50]), {"bolt", "Drill 50%"}),
    (rule("qty", "in", [0, None]), {"bolt", "Crane"}),
    (rule("qty", "in", []), set()),
    (rule("kind", "in", ["toy", "part"]), {"bolt", "Eel_toy"}),
    (rule("qty", "not_in", [0, 50]), {"Anvil", "Crane", "Eel_toy"}),
    (rule("qty", "not_in", [0, None]), {"Anvil", "Drill 50%", "Eel_toy"}),
    (rule("qty", "not_in", []), ALL),
    (rule("title", "regex", "^[A-Z][a-z]+$"), {"Anvil", "Crane"}),
    (rule("title", "regex", "[0-9]+%"), {"Drill 50%"}),
    (rule("notes", "regex", "^$"), {"Drill 50%"}),
    (rule("code", "regex", "-[0-9]{2}$"), {"Drill 50%"}),
]


FAMILIES = {
    "equality": ("equals", "not_equals"),
    "order": ("gt", "gte", "lt", "lte"),
    "text": ("contains", "not_contains", "starts_with", "ends_with"),
    "emptiness": ("is_empty", "is_not_empty"),
    "lists": ("in", "not_in"),
    "regex": ("regex",),
}


async def wrong_answers(api: Api, cases: list[tuple[dict[str, Any], set[str]]]) -> list[str]:
    wrong = []
    for condition, expected in cases:
        found = await titles(api, condition)
        if found != expected:
            wrong.append(f"{condition}: got {sorted(found)}, expected {sorted(expected)}")
    return wrong


@pytest.mark.parametrize("family", FAMILIES)
async def test_operators(admin: Api, stock: None, family: str) -> None:
    cases = [(c, e) for c, e in OPERATOR_CASES if c["op"] in FAMILIES[family]]
    assert {c["op"] for c, _ in cases} == set(FAMILIES[family])
    assert not await wrong_answers(admin, cases)


GROUP_CASES = [
    ({"all": [rule("kind", "equals", "tool"), rule("qty", "gt", 20)]}, {"Drill 50%"}),
    ({"any": [rule("kind", "equals", "part"), rule("qty", "gte", 100)]}, {"bolt", "Eel_toy"}),
    ({"all": []}, ALL),
    ({"any": []}, set()),
    ({"not": rule("kind", "equals", "tool")}, {"bolt", "Crane", "Eel_toy"}),
    ({"not": rule("qty", "gt", 5)}, {"bolt", "Crane"}),
    ({"not": rule("qty", "in", [0, 10])}, {"Crane", "Drill 50%", "Eel_toy"}),
    ({"not": rule("notes", "contains", "i")}, {"bolt", "Crane", "Drill 50%", "Eel_toy"}),
    ({"not": rule("notes", "starts_with", "s")}, ALL - {"bolt"}),
    ({"not": rule("code", "regex", "^A")}, ALL - {"Anvil"}),
    ({"not": {"not": rule("qty", "equals", 10)}}, {"Anvil"}),
    (
        {
            "any": [
                {"all": [rule("kind", "equals", "tool"), {"not": rule("qty", "lt", 20)}]},
                rule("title", "equals", "bolt"),
            ]
        },
        {"Drill 50%", "bolt"},
    ),
]


async def test_groups(admin: Api, stock: None) -> None:
    assert not await wrong_answers(admin, GROUP_CASES)


async def test_filter_on_row_fields(admin: Api, stock: None) -> None:
    me = (await admin.me())["id"]
    assert await titles(admin, rule("owner_id", "equals", me)) == ALL
    assert await titles(admin, rule("version", "equals", 1)) == ALL
    assert await titles(admin, rule("created_at", "lte", "2026-01-01T00:00:00Z")) == ALL
    first = (await admin.get("/api/gadget", params={"sort": "title", "per_page": "1"})).json()["data"][0]
    assert await titles(admin, rule("id", "equals", first["id"])) == {first["title"]}


async def test_filter_sees_only_permitted_rows(admin: Api, stock: None) -> None:
    user = await admin.signup("viewer@example.com")
    await user.post("/api/gadget", {"title": "Mine", "qty": 10})
    assert await titles(user, rule("qty", "equals", 10)) == {"Mine"}
    assert await titles(user, {"all": []}) == {"Mine"}
