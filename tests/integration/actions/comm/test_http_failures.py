"""Upstream failures are 502/504 problems and bad request attributes 400 (when saved) or 422 (when run), never a 500."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.comm.conftest import WebServer, declare, declared, free_port, new_order
from tests.integration.crud.conftest import Probe

URL_INPUT = [{"name": "url", "type": "string", "required": True, "max_length": 2000}]


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {"http_allow": ["127.0.0.1/32"]}


def update_then_fetch(**request: Any) -> list[dict[str, Any]]:
    attributes = {"method": "GET", "url": "{{ input.url }}", **request}
    return [
        {"type": "order", "method": "update", "attributes": {"id": "{{ subject.id }}", "status": "paid"}},
        {"type": "http.request", "reference": "resp", "attributes": attributes},
    ]


async def failing(admin: Api, probe: Probe, to: str, status: int, code: str, **request: Any) -> dict[str, Any]:
    """Run update-then-fetch with input ``to``: it must fail with this problem and change nothing."""
    await declared(admin, update_then_fetch(**request), in_fields=URL_INPUT)
    order = await new_order(admin)
    unchanged = await probe.unchanged("order")
    response = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"], "url": to}})
    body = assert_problem(response, status, code)
    assert body["step"] == 1 and body["outcome"] == "http.request"
    await unchanged.check()
    return body


async def test_a_server_that_does_not_answer_in_time_is_a_504(
    admin: Api, order_entity: Any, web: WebServer, probe: Probe
) -> None:
    started = time.monotonic()
    body = await failing(admin, probe, web.url("/slow"), 504, "upstream-timeout", timeout=0.2)
    assert "within 0.2 s" in body["detail"]
    assert time.monotonic() - started < 1.5


async def test_the_timeout_covers_every_redirect_hop(
    admin: Api, order_entity: Any, web: WebServer, probe: Probe
) -> None:
    await failing(admin, probe, web.url("/redirect?to=/slow"), 504, "upstream-timeout", timeout=0.2)
    assert [r["path"] for r in web.requests] == ["/redirect", "/slow"]


async def test_a_closed_port_is_a_502(admin: Api, order_entity: Any, probe: Probe) -> None:
    body = await failing(admin, probe, f"http://127.0.0.1:{free_port()}/", 502, "upstream-unreachable")
    assert "Could not connect" in body["detail"]


async def test_more_than_five_redirects_are_a_502(admin: Api, order_entity: Any, web: WebServer, probe: Probe) -> None:
    body = await failing(admin, probe, web.url("/hops/6"), 502, "too-many-redirects")
    assert "more than 5" in body["detail"]
    assert len(web.requests) == 6


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
async def test_an_answer_over_the_size_limit_is_a_502(
    admin: Api, order_entity: Any, web: WebServer, probe: Probe, path: str
) -> None:
    body = await failing(admin, probe, web.url(path), 502, "upstream-too-large")
    assert body["max_bytes"] == 5 * 1024 * 1024


@pytest.mark.parametrize(
    ("request_attributes", "field", "code"),
    [
        ({"timeout": 0}, "timeout", "range"),
        ({"timeout": 61}, "timeout", "range"),
        ({"method": "POST", "json": {"a": 1}, "form": {"a": "1"}}, "form", "conflict"),
        ({"headers": {"Host": "example.com"}}, "headers.Host", "forbidden"),
        ({"headers": {"Content-Length": "5"}}, "headers.Content-Length", "forbidden"),
        ({"headers": {"Bad Name": "x"}}, "headers.Bad Name", "invalid_name"),
        ({"headers": {"X-Note": "a\r\nX-Injected: 1"}}, "headers.X-Note", "invalid"),
        ({"url": "{{ input.url }}\r\nX-Injected: 1"}, "url", "invalid_url"),
        ({"url": "{{ input.url }}?q={{ 'x' * 9000 }}"}, "url", "too_long"),
    ],
)
async def test_invalid_request_attributes_are_a_422_and_send_nothing(
    admin: Api,
    order_entity: Any,
    web: WebServer,
    probe: Probe,
    request_attributes: dict[str, Any],
    field: str,
    code: str,
) -> None:
    body = await failing(admin, probe, web.url("/echo"), 422, "validation", **request_attributes)
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    assert web.requests == []


@pytest.mark.parametrize(
    ("attributes", "field", "code"),
    [
        ({"verb": "GET"}, "outcomes[0].attributes.verb", "unknown"),
        ({"method": "FETCH"}, "outcomes[0].attributes.method", "invalid"),
        ({"method": "get"}, "outcomes[0].attributes.method", "invalid"),
        ({"timeout": "soon"}, "outcomes[0].attributes.timeout", "invalid"),
        ({"headers": ["X-A: 1"]}, "outcomes[0].attributes.headers", "invalid"),
        ({"query": {"a": {"nested": 1}}}, "outcomes[0].attributes.query", "invalid"),
    ],
)
async def test_statically_wrong_attributes_are_refused_when_saved(
    admin: Api, order_entity: Any, probe: Probe, attributes: dict[str, Any], field: str, code: str
) -> None:
    unchanged = await probe.unchanged("action")
    outcome = {"type": "http.request", "attributes": {"method": "GET", "url": "https://example.com/", **attributes}}
    body = assert_problem(await declare(admin, [outcome]), 400, "invalid-definition")
    assert [(e["field"], e["code"]) for e in body["errors"]] == [(field, code)]
    await unchanged.check()


async def test_method_and_url_are_required_when_saved(admin: Api, order_entity: Any) -> None:
    body = assert_problem(await declare(admin, [{"type": "http.request"}]), 400, "invalid-definition")
    assert {e["field"] for e in body["errors"]} == {"outcomes[0].attributes.method", "outcomes[0].attributes.url"}
