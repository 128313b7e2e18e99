"""The OpenAPI document follows entity definitions as they change, without a restart."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.integration.entities.conftest import create_entity, entity_columns

GADGET = {
    "name": "gadget",
    "columns": [
        {"name": "title", "type": "string", "required": True, "max_length": 40, "label": "Title"},
        {"name": "size", "type": "enum", "options": ["s", "m"], "default": "s"},
        {"name": "price", "type": "decimal"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "pin", "type": "password"},
    ],
}


async def _document(api: Api) -> dict[str, Any]:
    response = await api.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _value(schema: dict[str, Any]) -> dict[str, Any]:
    """The non-null alternative of an optional field's schema."""
    return next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)


def _schema(document: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rsplit("/", 1)[-1]
    return document["components"]["schemas"][name]  # type: ignore[no-any-return]


async def test_a_new_entity_appears_at_once(admin: Api) -> None:
    assert "/api/gadget" not in (await _document(admin))["paths"]
    await create_entity(admin, GADGET)
    document = await _document(admin)
    assert set(document["paths"]["/api/gadget"]) == {"get", "post"}
    assert {"get", "patch", "delete"} <= set(document["paths"]["/api/gadget/{id}"])

    post = document["paths"]["/api/gadget"]["post"]
    create = _schema(document, post["requestBody"]["content"]["application/json"]["schema"])
    assert create["required"] == ["title"]
    assert create["properties"]["title"]["maxLength"] == 40
    assert _value(create["properties"]["pin"])["writeOnly"] is True

    row = _schema(document, post["responses"]["201"]["content"]["application/json"]["schema"])
    fields = set(row["properties"])
    assert {"id", "version", "created_at", "updated_at", "owner_id", "permission"} <= fields
    assert {"title", "size", "price", "seen_at"} <= fields
    assert "pin" not in fields
    assert sorted(_value(row["properties"]["size"])["enum"]) == ["m", "s"]
    assert _value(row["properties"]["price"])["format"] == "decimal"
    assert "/api/{entity}" not in document["paths"]


async def test_a_new_column_appears_and_a_dropped_entity_disappears(admin: Api) -> None:
    entity = await create_entity(admin, GADGET)
    column = {"entity_id": entity["id"], "name": "weight", "type": "float"}
    assert (await admin.post("/api/entity_column", column)).status_code == 201
    document = await _document(admin)
    post = document["paths"]["/api/gadget"]["post"]
    assert "weight" in _schema(document, post["requestBody"]["content"]["application/json"]["schema"])["properties"]

    title = (await entity_columns(admin, entity["id"]))["title"]
    dropped = await admin.delete(f"/api/entity_column/{title['id']}", params={"allow_destructive": "true"})
    assert dropped.status_code == 204
    document = await _document(admin)
    create = _schema(
        document, document["paths"]["/api/gadget"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    assert "title" not in create["properties"]
    assert "required" not in create or "title" not in create["required"]

    gone = await admin.delete(f"/api/entity/{entity['id']}", params={"allow_destructive": "true"})
    assert gone.status_code == 204
    document = await _document(admin)
    assert "/api/gadget" not in document["paths"]
    assert not any(name.startswith("Gadget") for name in document["components"]["schemas"])


async def test_callers_see_only_entities_they_may_peek_at(admin: Api, guest: Api) -> None:
    await create_entity(admin, GADGET)
    await create_entity(
        admin,
        {
            "name": "notice",
            "columns": [{"name": "text", "type": "string"}],
            "permissions": {"table": {"guest": ["peek", "read"], "owner": ["all"]}, "row": {"owner": ["all"]}},
        },
    )
    seen_by_guest = (await _document(guest))["paths"]
    assert "/api/notice" in seen_by_guest
    assert "/api/gadget" not in seen_by_guest
    user = await admin.signup("someone@example.com")
    seen_by_user = (await _document(user))["paths"]
    assert "/api/notice" in seen_by_user and "/api/gadget" in seen_by_user
