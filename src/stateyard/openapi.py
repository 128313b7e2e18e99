"""The OpenAPI document, including every entity's endpoints and fields.

Litestar describes the static routes; entities appear and change at run time, so their
paths and schemas are generated from the live registry (each entity's Structs, built with
``msgspec.defstruct``, give its JSON Schema) and merged in when the document is served.
A caller sees the entities whose table they may peek at, like everywhere else.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

import msgspec
from litestar import Request, Response, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

import stateyard
from stateyard.auth.access import table_allows
from stateyard.auth.permissions import Verb
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot

GENERIC_PREFIXES = ("/api/{entity}", "/action/{entity}")
#: The path parameter of the built-in actions every entity has (``/action/{entity}/import``).
_ENTITY_PARAMETER = {
    "name": "entity",
    "in": "path",
    "required": True,
    "description": "Any entity the caller may see.",
    "schema": {"type": "string"},
}
PROBLEM = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details; every error has this shape.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}


def _problems(*statuses: int) -> dict[str, Any]:
    return {
        str(s): {"description": "Problem", "content": {"application/problem+json": {"schema": PROBLEM}}}
        for s in statuses
    }


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(name: str, where: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


def entity_paths(model: Model) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) for one entity."""
    row, create, patch = model.structs
    (row_ref, create_ref, patch_ref), components = msgspec.json.schema_components(
        [row, create, patch], ref_template="#/components/schemas/{name}"
    )
    name = model.name
    tag = [name]
    list_params = [
        _param("filter", "query", "A condition in the shared condition language, as JSON."),
        _param("sort", "query", "Comma-separated fields; prefix with - for descending, e.g. -total,customer."),
        _param("page", "query", "Page number, from 1.", {"type": "integer", "minimum": 1}),
        _param("per_page", "query", "Rows per page.", {"type": "integer", "minimum": 1}),
        _param("fields", "query", "Comma-separated fields to return."),
        _param("include", "query", "Comma-separated relations to embed."),
    ]
    id_param = _param("id", "path", f"The {name} id (UUID).", {"type": "string", "format": "uuid"})
    page_schema = {
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": row_ref},
            "meta": {
                "type": "object",
                "properties": {k: {"type": "integer"} for k in ("total", "page", "per_page")},
            },
        },
    }
    paths: dict[str, Any] = {
        f"/api/{name}": {
            "get": {
                "tags": tag,
                "summary": f"List {name} rows you may read",
                "operationId": f"list_{name}",
                "parameters": list_params,
                "responses": {"200": _json(page_schema, "A page of rows"), **_problems(400, 401, 403, 404)},
            },
            "post": {
                "tags": tag,
                "summary": f"Create a {name}",
                "operationId": f"create_{name}",
                "requestBody": {"required": True, "content": {"application/json": {"schema": create_ref}}},
                "responses": {
                    "201": _json(row_ref, "The created row"),
                    **_problems(400, 401, 403, 409, 413, 422),
                },
            },
        },
        f"/api/{name}/{{id}}": {
            "parameters": [id_param],
            "get": {
                "tags": tag,
                "summary": f"Read one {name}",
                "operationId": f"get_{name}",
                "parameters": list_params[4:],
                "responses": {"200": _json(row_ref, "The row"), **_problems(401, 403, 404)},
            },
            "patch": {
                "tags": tag,
                "summary": f"Change a {name} (send version to refuse stale writes)",
                "operationId": f"update_{name}",
                "requestBody": {"required": True, "content": {"application/json": {"schema": patch_ref}}},
                "responses": {
                    "200": _json(row_ref, "The changed row"),
                    **_problems(400, 401, 403, 404, 409, 422),
                },
            },
            "delete": {
                "tags": tag,
                "summary": f"Delete a {name}",
                "operationId": f"delete_{name}",
                "responses": {"204": {"description": "Deleted"}, **_problems(401, 403, 404, 409)},
            },
        },
    }
    paths[f"/api/{name}/{{id}}/states"] = {
        "parameters": [id_param],
        "get": {
            "tags": tag,
            "summary": f"State machines running on a {name}, with each event and whether you may fire it now",
            "operationId": f"states_{name}",
            "responses": {"200": {"description": "Object states"}, **_problems(401, 403, 404)},
        },
        "post": {
            "tags": tag,
            "summary": f"Start a state machine on a {name}",
            "operationId": f"start_{name}",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"machine": {"type": "string"}},
                            "required": ["machine"],
                        }
                    }
                },
            },
            "responses": {"201": {"description": "The object state"}, **_problems(401, 403, 404, 409, 422)},
        },
    }
    paths[f"/api/{name}/{{id}}/history"] = {
        "parameters": [id_param],
        "get": {
            "tags": tag,
            "summary": f"Every state transition of a {name}, oldest first",
            "operationId": f"history_{name}",
            "responses": {"200": {"description": "Transitions"}, **_problems(401, 403, 404)},
        },
    }
    for rel in model.definition.relations:
        path = f"/api/{name}/{{id}}/{rel.name}"
        paths[path] = {
            "parameters": [id_param],
            "get": {
                "tags": tag,
                "summary": f"The {rel.target} rows linked through '{rel.name}' ({rel.type})",
                "operationId": f"related_{name}_{rel.name}",
                "responses": {"200": {"description": "Related rows"}, **_problems(401, 403, 404)},
            },
        }
        if rel.type == "many_to_many":
            paths[path]["post"] = {
                "tags": tag,
                "summary": f"Link a {rel.target}",
                "operationId": f"link_{name}_{rel.name}",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"id": {"type": "string", "format": "uuid"}},
                            }
                        }
                    },
                },
                "responses": {"204": {"description": "Linked"}, **_problems(401, 403, 404, 422)},
            }
    return paths, components


@lru_cache(maxsize=64)
def _dynamic(snapshot: Snapshot, visible: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    for name in sorted(visible):
        entity_path, entity_components = entity_paths(snapshot.models[name])
        paths.update(entity_path)
        components.update(entity_components)
    return paths, components


def _action_inputs(
    platform: Any, subject: Any, components: dict[str, Any]
) -> list[tuple[str, str, str | None, str | None, dict[str, Any]]]:
    """(entity, name, label, description, input schema) of every action the caller may call."""
    from stateyard.actions.engine import may_call_builtin
    from stateyard.actions.routes import declared_schema, may_call_declared

    found = []
    for action in platform.actions.all():
        if not may_call_builtin(subject, action):
            continue
        (schema,), defs = msgspec.json.schema_components(
            [action.performer.input], ref_template="#/components/schemas/{name}"
        )
        components.update(defs)
        found.append(
            (action.entity, action.name, action.label, action.description or action.performer.description, schema)
        )
    snapshot = platform.registry.snapshot
    for declared in platform.action_catalog.all():
        if may_call_declared(subject, snapshot, declared):
            found.append(
                (declared.entity, declared.name, declared.label, declared.description, declared_schema(declared))
            )
    return found


async def openapi_document(request: Request[Any, Any, Any], static: dict[str, Any]) -> dict[str, Any]:
    from stateyard.core.http import platform_of, subject_of

    platform = platform_of(request)
    subject = await subject_of(request)
    await platform.registry.refresh()
    snapshot = platform.registry.snapshot
    visible = frozenset(n for n, m in snapshot.models.items() if table_allows(subject, m, Verb.PEEK))
    paths, components = _dynamic(snapshot, visible)
    document = copy.deepcopy(static)
    document["paths"] = {p: item for p, item in document.get("paths", {}).items() if not p.startswith(GENERIC_PREFIXES)}
    document["paths"].update(paths)
    for entry in _action_inputs(platform, subject, components):
        entity, name, label, description, schema = entry
        if entity not in visible and entity != "*":
            continue
        every_entity = entity == "*"
        path = f"/action/{{entity}}/{name}" if every_entity else f"/action/{entity}/{name}"
        document["paths"][path] = {
            "post": {
                **({"parameters": [_ENTITY_PARAMETER]} if every_entity else {}),
                "tags": ["actions"],
                "summary": label or name,
                "description": description or "",
                "operationId": f"action_{entity.replace('*', 'any')}_{name}",
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {"schema": {"type": "object", "properties": {"attributes": schema}}},
                        "multipart/form-data": {"schema": schema},
                    },
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"type": {"type": "string"}, "attributes": {"type": "object"}},
                            },
                        },
                        "Client directives",
                    ),
                    **_problems(400, 401, 403, 404, 409, 413, 422),
                },
            }
        }
    document.setdefault("components", {}).setdefault("schemas", {}).update(components)
    document["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
    document["security"] = [{"bearer": []}, {}]
    return document


async def _serve_document(request: Request[Any, Any, Any]) -> Response[bytes] | None:
    """Answer ``/schema/openapi.json`` with the live document; let the UI routes through."""
    if not request.url.path.endswith("/openapi.json"):
        return None
    from stateyard.core.http import json_response

    document = await openapi_document(request, request.app.openapi_schema.to_schema())
    return json_response(document)


def openapi_config() -> OpenAPIConfig:
    # Litestar serves the UI and a static openapi.json; the router's hook swaps in the live document.
    router = Router("/schema", route_handlers=[], include_in_schema=False, before_request=_serve_document)
    return OpenAPIConfig(
        title="Stateyard",
        version=stateyard.__version__,
        description="Metadata-defined entities served as a permissioned, audited API.",
        openapi_router=router,
        render_plugins=[SwaggerRenderPlugin(path="/")],
    )
