"""``POST /action/<entity>/<name>`` and ``GET /actions``."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie, UploadFile
from litestar.params import FromPath

from stateyard.actions.directives import Directive
from stateyard.actions.engine import may_call_builtin
from stateyard.actions.inputs import FileValue
from stateyard.actions.schemas import ActionDef
from stateyard.auth.access import table_allows
from stateyard.auth.permissions import Subject, Verb
from stateyard.core.errors import FieldError, bad_request, invalid
from stateyard.core.http import json_body, json_response, platform_of, subject_of
from stateyard.entities.registry import Snapshot
from stateyard.entities.types import COLUMN_TYPES

AnyRequest = Request[Any, Any, Any]


async def _attributes(request: AnyRequest) -> dict[str, Any]:
    """Inputs from ``{"attributes": {...}}`` JSON, or from a multipart form (files as uploads)."""
    if request.content_type[0] == "multipart/form-data":
        form = await request.form()
        attributes: dict[str, Any] = {}
        for key, value in form.multi_items():
            if key in attributes:
                raise bad_request(f"Form field '{key}' is given more than once.", parameter=key)
            if isinstance(value, UploadFile):
                data = await value.read()
                attributes[key] = FileValue(
                    name=value.filename or key, content_type=value.content_type or "application/octet-stream", data=data
                )
            else:
                attributes[key] = _form_value(value)
        return attributes
    body = await json_body(request, required=False)
    if body is None:
        return {}
    if not isinstance(body, dict) or set(body) - {"attributes"}:
        raise invalid([FieldError("body", "invalid", 'send {"attributes": {...}}')])
    attributes = body.get("attributes", {})
    if not isinstance(attributes, dict):
        raise invalid([FieldError("attributes", "type", "expected an object of named inputs")])
    return attributes


def _form_value(value: str) -> Any:
    """Form fields are text; JSON literals (numbers, true, objects) are taken as such."""
    try:
        return msgspec.json.decode(value)
    except msgspec.DecodeError:
        return value


def _response(directives: list[Directive]) -> Response[bytes]:
    response = json_response(directives)
    cookies = []
    for directive in directives:
        attributes = directive.attributes
        if directive.type == "client.cookie.set":
            cookies.append(
                Cookie(
                    key=attributes["name"],
                    value=attributes["value"],
                    max_age=attributes.get("max_age"),
                    path=attributes.get("path", "/"),
                    httponly=attributes.get("http_only", True),
                    secure=attributes.get("secure", False),
                    samesite=attributes.get("same_site", "lax"),
                )
            )
        elif directive.type == "client.header.set":
            response.headers[attributes["name"]] = attributes["value"]
    if cookies:
        response.cookies = cookies
    return response


@post("/action/{entity:str}/{name:str}", name="actions:call", status_code=200)
async def call_action(request: AnyRequest, entity: FromPath[str], name: FromPath[str]) -> Response[bytes]:
    platform = platform_of(request)
    subject = await subject_of(request)
    attributes = await _attributes(request)
    token = None if subject.anonymous else platform.auth.claims_for(request.headers.get("authorization"))
    directives = await platform.engine.call(subject, entity, name, attributes, token=token)
    return _response(directives)


def declared_schema(action: ActionDef) -> dict[str, Any]:
    """JSON Schema of a declared action's inputs (its in-fields, and the instance id)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    if action.instance_required:
        properties[f"{action.entity}_id"] = {"type": "string", "format": "uuid"}
        required.append(f"{action.entity}_id")
    for field in action.in_fields:
        if field.type == "file":
            schema: dict[str, Any] = {"type": "string", "format": "binary", "description": "an upload or a data URL"}
        else:
            (schema,), _ = msgspec.json.schema_components([COLUMN_TYPES[field.type].annotation(field.as_column())])
        if field.label:
            schema["title"] = field.label
        properties[field.name] = schema
        if field.required and field.default is None:
            required.append(field.name)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def may_call_declared(subject: Subject, snapshot: Snapshot, action: ActionDef) -> bool:
    model = snapshot.get(action.entity)
    if model is None or not table_allows(subject, model, Verb.EXECUTE):
        return False
    if action.groups and not subject.is_admin:
        return bool(subject.group_ids & ({snapshot.group_id(g) for g in action.groups} - {None}))
    return True


def listed_actions(platform: Any, subject: Subject) -> list[dict[str, Any]]:
    snapshot = platform.registry.snapshot
    listed = [
        {
            "entity": a.entity,
            "name": a.name,
            "label": a.label,
            "description": a.description or a.performer.description,
            "kind": "built-in",
            "access": a.access,
            "url": f"/action/{a.entity}/{a.name}",
            "input_schema": a.input_schema(),
        }
        for a in platform.actions.all()
        if may_call_builtin(subject, a)
    ]
    listed += [
        {
            "entity": a.entity,
            "name": a.name,
            "label": a.label,
            "description": a.description,
            "kind": "declared",
            "instance_required": a.instance_required,
            "url": f"/action/{a.entity}/{a.name}",
            "input_schema": declared_schema(a),
        }
        for a in platform.action_catalog.all()
        if may_call_declared(subject, snapshot, a)
    ]
    return listed


@get("/actions", name="actions:list")
async def list_actions(request: AnyRequest) -> Response[bytes]:
    platform = platform_of(request)
    return json_response(listed_actions(platform, await subject_of(request)))


ROUTES = [call_action, list_actions]
