"""http.request against a real local server (allowed by STATEYARD_HTTP_ALLOW): its answer feeds later outcomes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import Api
from tests.integration.actions.comm.conftest import WebServer, declared, new_order

URL_INPUT = [{"name": "url", "type": "string", "required": True, "max_length": 2000}]


@pytest.fixture
def overrides() -> dict[str, Any]:
    return {"http_allow": ["127.0.0.1/32"]}


async def fetch(admin: Api, request: dict[str, Any], url: str) -> Any:
    """Declare ``fetch`` (one http.request outcome, its value as a notification) and call it."""
    outcomes = [
        {"type": "http.request", "reference": "resp", "attributes": {"url": "{{ input.url }}", **request}},
        {"type": "client.store.set", "attributes": {"key": "resp", "value": "{{ resp }}"}},
    ]
    await declared(admin, outcomes, name="fetch", instance_required=False, in_fields=URL_INPUT)
    response = await admin.post("/action/order/fetch", {"attributes": {"url": url}})
    assert response.status_code == 200, response.text
    return response.json()[0]["attributes"]["value"]


async def test_a_json_answer_is_used_by_the_next_outcomes(admin: Api, order_entity: Any, web: WebServer) -> None:
    outcomes = [
        {"type": "http.request", "reference": "resp", "attributes": {"method": "GET", "url": web.url("/json")}},
        {
            "type": "order",
            "method": "update",
            "reference": "updated",
            "attributes": {
                "id": "{{ subject.id }}",
                "customer": "{{ resp.body.name }}",
                "total": "{{ resp.body.price }}",
            },
        },
        {
            "type": "client.notify",
            "attributes": {"message": "{{ resp.status }} {{ resp.headers['x-served-by'] }} {{ resp.body.tags|join }}"},
        },
    ]
    await declared(admin, outcomes)
    order = await new_order(admin, "Before", 1)
    called = await admin.post("/action/order/notify", {"attributes": {"order_id": order["id"]}})
    assert called.status_code == 200, called.text
    assert called.json()[1]["attributes"]["message"] == "200 test ab"
    row = (await admin.get(f"/api/order/{order['id']}")).json()
    assert (row["customer"], row["total"], row["version"]) == ("Widget", 12.5, 2)
    assert [(r["method"], r["path"]) for r in web.requests] == [("GET", "/json")]


async def test_the_request_carries_method_headers_query_and_json(admin: Api, order_entity: Any, web: WebServer) -> None:
    request = {
        "method": "POST",
        "headers": {"X-Api-Key": "k-1", "Accept": "application/json"},
        "query": {"q": "blue widgets", "page": 2, "tag": ["a", "b"]},
        "json": {"order": {"total": 3.5, "items": [1, 2]}, "note": None},
    }
    value = await fetch(admin, request, web.url("/echo"))
    seen = value["body"]
    assert value["status"] == 200 and value["headers"]["content-type"] == "application/json"
    # Key order is not kept (PostgreSQL stores definitions as jsonb), values and repeats are.
    assert value["url"].startswith(web.url("/echo?"))
    assert parse_qs(urlsplit(value["url"]).query) == {"q": ["blue widgets"], "page": ["2"], "tag": ["a", "b"]}
    assert seen["method"] == "POST" and seen["path"] == "/echo"
    assert seen["query"] == {"q": "blue widgets", "page": "2", "tag": ["a", "b"]}
    assert seen["headers"]["x-api-key"] == "k-1" and seen["headers"]["content-type"] == "application/json"
    assert json.loads(seen["body"]) == {"order": {"total": 3.5, "items": [1, 2]}, "note": None}


async def test_a_form_body_is_url_encoded(admin: Api, order_entity: Any, web: WebServer) -> None:
    value = await fetch(admin, {"method": "PUT", "form": {"name": "A&B", "qty": 3}}, web.url("/echo"))
    assert value["body"]["method"] == "PUT"
    assert value["body"]["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(value["body"]["body"]) == {"name": ["A&B"], "qty": ["3"]}
    assert "A%26B" in value["body"]["body"]


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/text", 200, "plain words"),
        ("/bad-json", 200, "{not json"),
        ("/status/404", 404, {"error": "as asked"}),
        ("/status/500", 500, {"error": "as asked"}),
    ],
)
async def test_text_and_error_answers_are_values_not_failures(
    admin: Api, order_entity: Any, web: WebServer, path: str, status: int, body: Any
) -> None:
    value = await fetch(admin, {"method": "GET"}, web.url(path))
    assert (value["status"], value["body"]) == (status, body)


async def test_a_head_request_has_headers_and_an_empty_body(admin: Api, order_entity: Any, web: WebServer) -> None:
    head = await fetch(admin, {"method": "HEAD"}, web.url("/json"))
    assert head["status"] == 200 and head["body"] == "" and head["headers"]["x-served-by"] == "test"
    assert web.requests[0]["method"] == "HEAD"


async def test_the_url_query_and_the_query_attribute_are_merged(admin: Api, order_entity: Any, web: WebServer) -> None:
    value = await fetch(admin, {"method": "DELETE", "query": {"b": "2"}}, web.url("/echo?a=1"))
    assert value["body"]["method"] == "DELETE" and value["body"]["query"] == {"a": "1", "b": "2"}


async def test_redirects_are_followed_hop_by_hop(admin: Api, order_entity: Any, web: WebServer) -> None:
    value = await fetch(admin, {"method": "POST", "json": {"keep": 1}}, web.url("/hops/5"))
    assert value["body"] == {"arrived": True, "method": "POST", "body": '{"keep":1}'}
    assert value["url"] == web.url("/hops/0")
    assert [r["path"] for r in web.requests] == [f"/hops/{n}" for n in range(5, -1, -1)]


async def test_a_302_after_a_post_continues_as_a_get(admin: Api, order_entity: Any, web: WebServer) -> None:
    target = web.url("/echo")
    value = await fetch(admin, {"method": "POST", "json": {"x": 1}}, web.url(f"/redirect?to={target}&code=302"))
    assert value["body"]["method"] == "GET" and value["body"]["body"] == ""


@pytest.mark.parametrize("overrides", [{"http_allow": ["localhost"]}, {"http_allow": ["127.0.0.0/8", "::1"]}])
async def test_the_allow_list_names_hosts_or_networks(admin: Api, order_entity: Any, web: WebServer) -> None:
    value = await fetch(admin, {"method": "GET"}, web.url("/json", host="localhost"))
    assert value["body"]["name"] == "Widget"
