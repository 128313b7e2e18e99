"""``POST /action/<entity>/<name>`` and ``GET /actions``."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from stateyard.actions.registry import Action, ActionCall, decode_input
from stateyard.auth.permissions import Subject
from stateyard.core.errors import FieldError, ProblemError, forbidden, invalid, unauthorized
from stateyard.core.http import json_body, json_response, platform_of, subject_of

AnyRequest = Request[Any, Any, Any]


def may_call(subject: Subject, action: Action) -> bool:
    if action.access == "guest":
        return True
    if action.access == "user":
        return not subject.anonymous
    return subject.is_admin


def require_call(subject: Subject, action: Action) -> None:
    if may_call(subject, action):
        return
    what = f"the '{action.name}' action on '{action.entity}'"
    if subject.anonymous:
        raise unauthorized(f"Sign in to call {what}.")
    raise forbidden(f"Only administrators may call {what}.")


@post("/action/{entity:str}/{name:str}", name="actions:call", status_code=200)
async def call_action(request: AnyRequest, entity: FromPath[str], name: FromPath[str]) -> Response[bytes]:
    platform = platform_of(request)
    subject = await subject_of(request)
    await platform.registry.model(entity)
    action = platform.actions.get(entity, name)
    require_call(subject, action)
    body = await json_body(request)
    if not isinstance(body, dict) or set(body) - {"attributes"}:
        raise invalid([FieldError("body", "invalid", 'send {"attributes": {...}}')])
    data = decode_input(action.performer.input, body.get("attributes", {}))
    call = ActionCall(subject=subject, entity=entity, action=name, platform=platform)
    directives = await action.performer.run(call, data)
    return json_response(directives)


@get("/actions", name="actions:list")
async def list_actions(request: AnyRequest) -> Response[bytes]:
    platform = platform_of(request)
    subject = await subject_of(request)
    listed = [
        {
            "entity": a.entity,
            "name": a.name,
            "label": a.label,
            "description": a.description or a.performer.description,
            "access": a.access,
            "url": f"/action/{a.entity}/{a.name}",
            "input_schema": a.input_schema(),
        }
        for a in platform.actions.all()
        if may_call(subject, a)
    ]
    return json_response(listed)


ROUTES = [call_action, list_actions]
__all__ = ["ROUTES", "ProblemError"]
