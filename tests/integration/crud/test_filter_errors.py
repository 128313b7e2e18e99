"""A filter that cannot be used is a 400 naming the place in the JSON tree, never a silent full list."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api, assert_problem


def rule(field: str, op: str, *value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, **({"value": value[0]} if value else {})}


BAD_FILTERS = [
    ("not json", "filter", "not valid JSON"),
    ('{"field": "qty", "op": "equals", "value": 1', "filter", "not valid JSON"),
    ("[]", "filter", "expected an object"),
    ('"qty"', "filter", "expected an object"),
    (rule("qty", "about", 1), "filter.op", "unknown operator 'about'"),
    ({"field": "qty", "value": 1}, "filter.op", "operator"),
    ({"op": "equals", "value": 1}, "filter.field", "field name"),
    (rule("colour", "equals", "red"), "filter.field", "unknown field 'colour'"),
    (rule("qty", "equals"), "filter.value", "needs a value"),
    ({"field": "qty", "op": "equals", "value": 1, "extra": 2}, "filter", "unknown key"),
    (rule("qty", "equals", "abc"), "filter.value", "not a valid value for 'qty'"),
    (rule("qty", "gt", True), "filter.value", "not a valid value for 'qty'"),
    (rule("price", "lt", "cheap"), "filter.value", "not a valid value for 'price'"),
    (rule("active", "equals", "yes"), "filter.value", "not a valid value for 'active'"),
    (rule("due", "gte", "soon"), "filter.value", "not a valid value for 'due'"),
    (rule("seen_at", "lt", 5), "filter.value", "not a valid value for 'seen_at'"),
    (rule("seen_at", "gt", "0001-01-01T00:00:00+01:00"), "filter.value", "outside the representable range"),
    (rule("qty", "gt", 1e20), "filter.value", "64-bit integer range"),
    (rule("title", "equals", "a\u0000b"), "filter.value", "NUL"),
    (rule("ref", "equals", "nope"), "filter.value", "not a valid value for 'ref'"),
    (rule("id", "equals", "nope"), "filter.value", "not a valid value for 'id'"),
    (rule("qty", "equals", [1]), "filter.value", "plain value"),
    (rule("qty", "equals", {"a": 1}), "filter.value", "plain value"),
    (rule("qty", "in", 1), "filter.value", "needs an array"),
    (rule("qty", "not_in", "1,2"), "filter.value", "needs an array"),
    (rule("qty", "in", [[1]]), "filter.value", "plain values"),
    (rule("qty", "in", [1, "x"]), "filter.value", "not a valid value for 'qty'"),
    (rule("qty", "is_empty", None), "filter.value", "takes no value"),
    (rule("title", "regex", "a" * 201), "filter.value", "at most 200"),
    (rule("title", "regex", "(unclosed"), "filter.value", "invalid regular expression"),
    (rule("title", "regex", 5), "filter.value", "needs a string"),
    (rule("title", "contains", 5), "filter.value", "needs a string"),
    (rule("qty", "changed"), "filter.op", "'changed' applies only"),
    (rule("qty", "contains", "1"), "filter.op", "applies to text fields"),
    (rule("price", "starts_with", "1"), "filter.op", "applies to text fields"),
    (rule("due", "regex", "^2026"), "filter.op", "applies to text fields"),
    (rule("active", "gt", False), "filter.op", "cannot order"),
    (rule("ref", "lt", "00000000-0000-4000-8000-000000000001"), "filter.op", "cannot order"),
    (rule("pin", "equals", "secret"), "filter.field", "unknown field 'pin'"),
    (rule("secret", "is_empty"), "filter.field", "unknown field 'secret'"),
    (rule("meta", "equals", 1), "filter.field", "unknown field 'meta'"),
    (rule("permission", "equals", 1), "filter.field", "unknown field 'permission'"),
    ({"all": rule("qty", "equals", 1)}, "filter.all", "array"),
    ({"all": [], "any": []}, "filter", "takes no other keys"),
    ({"not": rule("qty", "equals", 1), "field": "qty"}, "filter", "takes no other keys"),
    ({"any": [rule("qty", "equals", 1), {"not": rule("qty", "bogus", 1)}]}, "filter.any[1].not.op", "unknown operator"),
    ({"all": [rule("qty", "equals", 1), rule("nope", "equals", 1)]}, "filter.all[1].field", "unknown field"),
]


def kind_of(path: str) -> str:
    """Which part of a rule a refusal is about: op, field, value, or the shape of the tree."""
    last = path.rsplit(".", 1)[-1]
    return last if last in ("op", "field", "value") else "shape"


@pytest.mark.parametrize("kind", ["shape", "op", "field", "value"])
async def test_bad_filters(admin: Api, gadget: Any, kind: str) -> None:
    cases = [case for case in BAD_FILTERS if kind_of(case[1]) == kind]
    assert cases
    wrong = []
    for condition, path, message in cases:
        raw = condition if isinstance(condition, str) else json.dumps(condition)
        body = assert_problem(await admin.get("/api/gadget", params={"filter": raw}), 400, "invalid-filter")
        found = (body["parameter"], body.get("path", "filter"), message in body["detail"], path in body["detail"])
        if found != ("filter", path, True, True):
            wrong.append(f"{condition}: {body}")
    assert not wrong, "\n".join(wrong)


async def test_filter_error_on_related_endpoint_too(admin: Api, library: Any) -> None:
    author = (await admin.post("/api/author", {"name": "A"})).json()
    response = await admin.get(
        f"/api/author/{author['id']}/books", params={"filter": json.dumps(rule("pages", "gt", "x"))}
    )
    assert assert_problem(response, 400, "invalid-filter")["path"] == "filter.value"


async def test_pattern_the_database_cannot_run_is_never_a_500(admin: Api, gadget: Any, backend: str) -> None:
    """Python's regex dialect is checked first; PostgreSQL's differs a little (no named groups)."""
    await admin.post("/api/gadget", {"title": "abc"})
    response = await admin.get("/api/gadget", params={"filter": json.dumps(rule("title", "regex", "(?P<x>a)"))})
    if backend == "postgresql":
        assert assert_problem(response, 400, "invalid-filter")["parameter"] == "filter"
    else:
        assert response.status_code == 200 and response.json()["meta"]["total"] == 1


async def test_catastrophic_pattern_is_bounded(admin: Api, gadget: Any) -> None:
    await admin.post("/api/gadget", {"title": "T", "notes": "a" * 40 + "!"})
    response = await admin.get("/api/gadget", params={"filter": json.dumps(rule("notes", "regex", "^(a+)+$"))})
    assert response.status_code == 200 and response.json()["data"] == []


EXTREME_VALUES = [
    rule("price", "gt", "1e9999999999"),
    rule("price", "lt", "1e30"),
    rule("price", "equals", "1e-30"),
    rule("weight", "gt", 1e308),
    rule("seen_at", "gt", "9999-12-31T23:59:59Z"),
    rule("due", "gt", "0001-01-01"),
    rule("title", "contains", "a\u0000b"),
    rule("title", "regex", "a\u0000"),
]


async def test_extreme_values_never_crash(admin: Api, gadget: Any) -> None:
    """Values beyond a column's range may be refused by PostgreSQL (numeric overflow, NUL bytes)."""
    await admin.post("/api/gadget", {"title": "T", "price": "5"})
    for condition in EXTREME_VALUES:
        response = await admin.get("/api/gadget", params={"filter": json.dumps(condition)})
        if response.status_code != 200:
            assert assert_problem(response, 400, "invalid-filter")["parameter"] == "filter", condition
