"""Malformed, empty and oversized bodies, unknown entities and routes: each a problem+json."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from stateyard.config import Settings
from tests.conftest import Api, assert_problem
from tests.integration.crud.conftest import Probe

BODY_LIMIT = 2048
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The harness's settings with a small body limit, so an oversized body stays cheap to send."""
    return msgspec.structs.replace(settings, max_body_bytes=BODY_LIMIT)


@pytest.fixture
async def row(admin: Api, gadget: Any) -> dict[str, Any]:
    return (await admin.post("/api/gadget", {"title": "T"})).json()  # type: ignore[no-any-return]


MALFORMED = [b"not json", b'{"title": "T"', b"{'title': 'T'}", b'{"title": "T"} trailing', b"\xff\xfe", b"NaN"]
NOT_OBJECTS: list[Any] = [[{"title": "T"}], "T", 5, None, True]


async def test_malformed_json(admin: Api, row: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    for raw in MALFORMED:
        body = assert_problem(await admin.post("/api/gadget", content=raw, headers=JSON), 400, "invalid-body")
        assert "not valid JSON" in body["detail"], raw
        patched = await admin.patch(f"/api/gadget/{row['id']}", content=raw, headers=JSON)
        assert_problem(patched, 400, "invalid-body")
    await state.check()


async def test_body_that_is_not_an_object(admin: Api, row: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    for value in NOT_OBJECTS:
        raw = msgspec.json.encode(value)
        body = assert_problem(await admin.post("/api/gadget", content=raw, headers=JSON), 400, "invalid-body")
        assert "JSON object" in body["detail"], value
        patched = await admin.patch(f"/api/gadget/{row['id']}", content=raw, headers=JSON)
        assert_problem(patched, 400, "invalid-body")
    await state.check()


async def test_empty_body(admin: Api, row: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    for raw in (b"", b"   \n"):
        assert_problem(await admin.post("/api/gadget", content=raw, headers=JSON), 400, "invalid-body")
        patched = await admin.patch(f"/api/gadget/{row['id']}", content=raw, headers=JSON)
        assert_problem(patched, 400, "invalid-body")
    await state.check()


async def test_body_over_the_limit(admin: Api, row: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    big = {"title": "T", "notes": "x" * BODY_LIMIT}
    body = assert_problem(await admin.post("/api/gadget", big), 413, "too-large")
    assert str(BODY_LIMIT) in body["detail"]
    assert_problem(await admin.patch(f"/api/gadget/{row['id']}", big), 413, "too-large")
    await state.check()


async def test_body_just_under_the_limit(admin: Api, gadget: Any) -> None:
    overhead = len(msgspec.json.encode({"title": "T", "notes": ""}))
    response = await admin.post("/api/gadget", {"title": "T", "notes": "x" * (BODY_LIMIT - overhead)})
    assert response.status_code == 201, response.text


async def test_unknown_entity(admin: Api) -> None:
    some_id = "0190c6d8-0000-7000-8000-000000000000"
    for response in (
        await admin.get("/api/nothing"),
        await admin.post("/api/nothing", {"a": 1}),
        await admin.get(f"/api/nothing/{some_id}"),
        await admin.patch(f"/api/nothing/{some_id}", {"a": 1}),
        await admin.delete(f"/api/nothing/{some_id}"),
        await admin.get(f"/api/nothing/{some_id}/rel"),
    ):
        body = assert_problem(response, 404, "not-found")
        assert "nothing" in body["detail"]


async def test_unknown_route(admin: Api) -> None:
    for response in (await admin.get("/nowhere"), await admin.post("/api", {}), await admin.get("/api/a/b/c/d/e")):
        body = assert_problem(response, 404, "not-found")
        assert "No endpoint" in body["detail"]


async def test_wrong_method(admin: Api, row: dict[str, Any], probe: Probe) -> None:
    state = await probe.unchanged("gadget")
    client = admin.client
    headers = {"Authorization": f"Bearer {admin.token}"}
    for response in (
        await client.put(f"/api/gadget/{row['id']}", json={"title": "X"}, headers=headers),
        await client.put("/api/gadget", json={"title": "X"}, headers=headers),
        await client.delete("/api/gadget", headers=headers),
        await client.patch("/api/gadget", json={"title": "X"}, headers=headers),
    ):
        body = assert_problem(response, 405, "method-not-allowed")
        assert "not allowed" in body["detail"]
    await state.check()
