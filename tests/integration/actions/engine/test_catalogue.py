"""``GET /actions`` and the OpenAPI document: the actions a caller may run, with their inputs as JSON Schema."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.integration.actions.engine.conftest import APPROVE, action, declare

INPUTS = [
    {"name": "note", "type": "string", "label": "Note", "max_length": 20, "trim": True},
    {"name": "count", "type": "integer", "required": True, "min": 1},
    {"name": "kind", "type": "enum", "options": ["a", "b"], "required": True, "default": "a"},
    {"name": "sheet", "type": "file"},
]


def listed(response: Any) -> dict[tuple[str, str], dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {(a["entity"], a["name"]): a for a in response.json()}


async def test_declared_actions_are_listed_with_their_input_schema(admin: Api, seller: Api, order_flow: Any) -> None:
    await declare(admin, action(in_fields=INPUTS))
    found = listed(await seller.get("/actions"))[("order", "approve")]
    assert {k: found[k] for k in ("label", "kind", "instance_required", "url")} == {
        "label": "Approve order",
        "kind": "declared",
        "instance_required": True,
        "url": "/action/order/approve",
    }
    schema = found["input_schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    # The instance is required; an input with a default is not.
    assert schema["required"] == ["order_id", "count"]
    properties = schema["properties"]
    assert properties["order_id"] == {"type": "string", "format": "uuid"}
    assert properties["note"] == {"type": "string", "maxLength": 20, "title": "Note"}
    assert properties["count"] == {"type": "integer", "minimum": 1}
    assert properties["kind"]["enum"] == ["a", "b"]
    assert properties["sheet"]["format"] == "binary"


async def test_the_list_holds_what_the_caller_may_run(
    admin: Api, guest: Api, seller: Api, buyer: Api, order_flow: Any
) -> None:
    await declare(admin, APPROVE)
    await declare(admin, action(name="open_to_all", groups=[]))
    for_seller = listed(await seller.get("/actions"))
    for_buyer = listed(await buyer.get("/actions"))
    for_guest = listed(await guest.get("/actions"))
    for_admin = listed(await admin.get("/actions"))
    # approve is limited to sales; administrators pass every group.
    assert ("order", "approve") in for_seller and ("order", "approve") in for_admin
    assert ("order", "approve") not in for_buyer and ("order", "open_to_all") in for_buyer
    # Guests see what guests may call: signing up and in, not the order actions.
    assert ("user_account", "signin") in for_guest and ("order", "open_to_all") not in for_guest
    assert ("user_account", "signout") not in for_guest and ("user_account", "signout") in for_buyer
    # Built-in actions for administrators only are listed for them alone, each with its schema.
    assert ("state_machine", "migrate") in for_admin and ("state_machine", "migrate") not in for_seller
    migrate = for_admin[("state_machine", "migrate")]
    assert migrate["kind"] == "built-in" and migrate["access"] == "admin"
    assert migrate["input_schema"]["required"] == ["machine"]
    assert set(migrate["input_schema"]["properties"]) == {"machine", "mapping", "to_version", "from_version"}


async def test_each_action_is_in_the_openapi_document(admin: Api, seller: Api, buyer: Api, order_flow: Any) -> None:
    await declare(admin, action(in_fields=INPUTS))
    document = (await seller.get("/schema/openapi.json")).json()
    operation = document["paths"]["/action/order/approve"]["post"]
    assert operation["summary"] == "Approve order" and operation["operationId"] == "action_order_approve"
    schema = operation["requestBody"]["content"]["application/json"]["schema"]["properties"]["attributes"]
    assert schema["required"] == ["order_id", "count"] and "note" in schema["properties"]
    assert operation["requestBody"]["content"]["multipart/form-data"]["schema"] == schema
    assert {"200", "404", "409", "422"} <= set(operation["responses"])
    assert "/action/state_machine/migrate" in (await admin.get("/schema/openapi.json")).json()["paths"]
    # Callers who may not run it do not see it.
    assert "/action/order/approve" not in (await buyer.get("/schema/openapi.json")).json()["paths"]
    assert "/action/state_machine/migrate" not in document["paths"]
