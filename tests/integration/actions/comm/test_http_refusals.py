"""Outbound HTTP refuses internal addresses, after DNS and on every redirect hop, unless allowed.

Each refusal is a 422 naming the address and why, the chain is rolled back, and the local
server shows that no request reached it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from tests.conftest import Api, assert_problem
from tests.integration.actions.comm.conftest import WebServer, declared, new_order
from tests.integration.crud.conftest import Probe

ALLOW_LOOPBACK = {"http_allow": ["127.0.0.1/32"]}
URL_INPUT = [{"name": "url", "type": "string", "required": True, "max_length": 2000}]
UPDATE_THEN_FETCH = [
    {"type": "order", "method": "update", "attributes": {"id": "{{ subject.id }}", "status": "paid"}},
    {"type": "http.request", "reference": "resp", "attributes": {"method": "GET", "url": "{{ input.url }}"}},
]


async def refused(admin: Api, probe: Probe, url: str) -> dict[str, Any]:
    """Call the update-then-fetch action with ``url``: it must be refused and change nothing."""
    await declared(admin, UPDATE_THEN_FETCH, in_fields=URL_INPUT)
    order = await new_order(admin)
    unchanged = await probe.unchanged("order")
    response = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"], "url": url}})
    body = assert_problem(response, 422, "outbound-refused")
    assert body["step"] == 1 and body["errors"][0]["field"] == "url"
    await unchanged.check()
    return body


@pytest.mark.parametrize(
    ("host", "address", "reason"),
    [
        ("127.0.0.1", "127.0.0.1", "loopback"),
        ("127.8.9.10", "127.8.9.10", "loopback"),
        ("localhost", "127.0.0.1", "loopback"),
        ("LocalHost", "127.0.0.1", "loopback"),
        ("[::1]", "::1", "loopback"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "loopback"),
        ("[::ffff:7f00:1]", "::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "0.0.0.0", "unspecified"),
        ("2130706433", "127.0.0.1", "loopback"),
    ],
)
async def test_the_local_server_is_unreachable_without_the_allow_list(
    admin: Api, order_entity: Any, web: WebServer, probe: Probe, host: str, address: str, reason: str
) -> None:
    body = await refused(admin, probe, web.url("/json", host=host))
    ((shown, why),) = [(a["address"], a["reason"]) for a in body["addresses"]]
    assert (ipaddress.ip_address(shown), why) == (ipaddress.ip_address(address), reason)
    assert shown in body["detail"] and "STATEYARD_HTTP_ALLOW" in body["detail"]
    assert web.requests == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/", "private"),
        ("https://172.16.5.4/", "private"),
        ("http://192.168.1.1:8080/admin", "private"),
        ("http://100.64.0.1/", "carrier-grade NAT"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://[fd00::1]/", "private"),
        ("http://[fe80::1]/", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://[64:ff9b::a00:1]/", "private"),
    ],
)
async def test_internal_networks_are_refused_before_any_connection(
    admin: Api, order_entity: Any, probe: Probe, url: str, reason: str
) -> None:
    body = await refused(admin, probe, url)
    assert body["addresses"][0]["reason"] == reason


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::1]:{port}/json",
        "http://[::ffff:10.0.0.1]/",
    ],
)
@pytest.mark.parametrize("code", ["302", "307"])
@pytest.mark.parametrize("overrides", [ALLOW_LOOPBACK])
async def test_a_redirect_from_an_allowed_server_to_a_refused_address_is_refused(
    admin: Api, order_entity: Any, web: WebServer, probe: Probe, target: str, code: str
) -> None:
    target = target.format(port=web.port)
    body = await refused(admin, probe, web.url(f"/redirect?code={code}&to={target}"))
    assert body["url"] == target
    assert [r["path"] for r in web.requests] == ["/redirect"]


@pytest.mark.parametrize("overrides", [{"http_allow": ["10.0.0.0/8"]}])
async def test_allowing_one_network_does_not_allow_others(
    admin: Api, order_entity: Any, web: WebServer, probe: Probe
) -> None:
    body = await refused(admin, probe, web.url("/json"))
    assert body["addresses"] == [{"address": "127.0.0.1", "reason": "loopback"}]
    assert web.requests == []


async def test_only_http_and_https_urls_are_accepted(admin: Api, order_entity: Any, probe: Probe) -> None:
    await declared(admin, UPDATE_THEN_FETCH, in_fields=URL_INPUT)
    order = await new_order(admin)
    unchanged = await probe.unchanged("order")
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/", "gopher://127.0.0.1:70/", "//127.0.0.1/", "http://"):
        response = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"], "url": url}})
        body = assert_problem(response, 422, "validation")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [("url", "invalid_url")], url
    await unchanged.check()


@pytest.mark.parametrize("overrides", [ALLOW_LOOPBACK])
@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("file:///etc/passwd", "only http and https URLs are allowed (scheme: file)"),
        ("gopher://127.0.0.1:70/_x", "only http and https URLs are allowed (scheme: gopher)"),
        ("http://127.0.0.1:99999/", "port 99999 is out of range"),
    ],
)
async def test_a_redirect_to_an_unusable_url_is_not_followed(
    admin: Api, order_entity: Any, web: WebServer, probe: Probe, target: str, reason: str
) -> None:
    await declared(admin, UPDATE_THEN_FETCH, in_fields=URL_INPUT)
    order = await new_order(admin)
    unchanged = await probe.unchanged("order")
    url = web.url(f"/redirect?to={target}")
    response = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"], "url": url}})
    body = assert_problem(response, 502, "upstream-error")
    assert reason in body["detail"]
    assert [r["path"] for r in web.requests] == ["/redirect"]
    await unchanged.check()
