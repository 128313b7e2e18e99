"""Client directives: every type, checked when they run; cookies and headers also reach the HTTP answer."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.engine.conftest import action, call, declare, kinds, new_order, remember
from tests.integration.machines.conftest import MachineProbe

ALL_KINDS = [
    {"type": "client.notify", "attributes": {"type": "warning", "title": "Heads up", "message": "Hi {{ user.email }}"}},
    {"type": "client.redirect", "attributes": {"location": "/orders/{{ subject.id }}", "window": "new", "delay": 500}},
    {"type": "client.store.set", "attributes": {"key": "order", "value": "{{ subject }}"}},
    {
        "type": "client.cookie.set",
        "attributes": {
            "name": "last_order",
            "value": "{{ subject.id }}",
            "max_age": 3600,
            "secure": True,
            "same_site": "strict",
        },
    },
    {
        "type": "client.file.download",
        "attributes": {"name": "order.txt", "content_type": "text/plain", "content": "T0s="},
    },
    {"type": "client.file.download", "attributes": {"name": "report.pdf", "url": "https://example.com/r.pdf"}},
    {"type": "client.header.set", "attributes": {"name": "X-Order-Id", "value": "{{ subject.id }}"}},
]


async def test_every_directive_type_is_answered_in_order(admin: Api, seller: Api, order_flow: Any) -> None:
    await declare(admin, action(name="show", groups=[], in_fields=[], outcomes=ALL_KINDS))
    order = await new_order(seller)
    response = await call(seller, "show", {"order_id": order["id"]})
    assert kinds(response) == [o["type"] for o in ALL_KINDS]
    notify, redirect, store, cookie, inline, linked, header = (d["attributes"] for d in response.json())
    assert notify == {"message": "Hi seller@example.com", "type": "warning", "title": "Heads up"}
    assert redirect == {"location": f"/orders/{order['id']}", "window": "new", "delay": 500}
    assert store["key"] == "order" and store["value"]["id"] == order["id"] and store["value"]["customer"] == "ACME"
    assert cookie == {
        "name": "last_order",
        "value": order["id"],
        "secure": True,
        "same_site": "strict",
        "max_age": 3600,
    }
    assert base64.b64decode(inline["content"]) == b"OK" and inline["content_type"] == "text/plain"
    assert linked == {"name": "report.pdf", "url": "https://example.com/r.pdf"}
    assert header == {"name": "X-Order-Id", "value": order["id"]}
    # The cookie and the header are set for real, not only described.
    assert response.headers["x-order-id"] == order["id"]
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"last_order={order['id']};")
    for part in ("HttpOnly", "Max-Age=3600", "Path=/", "SameSite=strict", "Secure"):
        assert part in set_cookie, set_cookie
    assert response.cookies["last_order"] == order["id"]


async def test_numbers_in_text_attributes_are_written_out(admin: Api, seller: Api, order_flow: Any) -> None:
    count = {"type": "order", "method": "list", "reference": "found", "attributes": {}}
    notify = {"type": "client.notify", "attributes": {"message": "{{ found.meta.total }}", "title": "{{ 2.5 }}"}}
    header = {"type": "client.header.set", "attributes": {"name": "X-Total", "value": "{{ found.meta.total }}"}}
    body = action(name="count", instance_required=False, groups=[], in_fields=[], outcomes=[count, notify, header])
    await declare(admin, body)
    await new_order(seller)
    response = await call(seller, "count")
    assert response.json()[0]["attributes"] == {"message": "1", "title": "2.5"}
    assert response.headers["x-total"] == "1"


async def test_a_cookie_without_options_is_http_only_and_lax(admin: Api, seller: Api, order_flow: Any) -> None:
    cookie = {"type": "client.cookie.set", "attributes": {"name": "theme", "value": "dark", "http_only": False}}
    await declare(admin, action(name="theme", instance_required=False, groups=[], in_fields=[], outcomes=[cookie]))
    response = await call(seller, "theme")
    assert response.status_code == 200, response.text
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("theme=dark;") and "SameSite=lax" in set_cookie and "HttpOnly" not in set_cookie


@pytest.mark.parametrize(
    ("outcome", "value"),
    [
        pytest.param({"type": "client.cookie.set", "attributes": {"name": "x", "value": "{{ input.text }}"}}, "a;b"),
        pytest.param({"type": "client.header.set", "attributes": {"name": "X-A", "value": "{{ input.text }}"}}, "a\nb"),
        pytest.param({"type": "client.redirect", "attributes": {"location": "/", "delay": "{{ input.number }}"}}, "x"),
        pytest.param({"type": "client.notify", "attributes": {"message": "m", "type": "{{ input.text }}"}}, "shout"),
        pytest.param({"type": "client.notify", "attributes": {"message": "{{ input.text }}"}}, None),
    ],
)
async def test_a_directive_that_renders_invalid_is_refused_and_undoes_the_chain(
    admin: Api, seller: Api, order_flow: Any, probe: MachineProbe, outcome: dict[str, Any], value: str
) -> None:
    fields = [{"name": "text", "type": "string"}, {"name": "number", "type": "integer", "default": -1}]
    first = {"type": "order", "method": "create", "attributes": {"customer": "first"}}
    body = action(name="bad", instance_required=False, groups=[], in_fields=fields, outcomes=[first, outcome])
    await declare(admin, body)
    before = await remember(probe)
    response = await call(seller, "bad", {"text": value})
    problem = assert_problem(response, 422, "validation")
    assert (problem["step"], problem["outcome"]) == (1, outcome["type"])
    assert problem["errors"][0]["field"].startswith("outcomes[1].attributes")
    assert "set-cookie" not in response.headers and "x-a" not in response.headers
    await before.check()
