"""Event endpoints and the per-row ``states``/``history`` endpoints, and machine diagrams."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from litestar import Request, Response, post
from litestar.params import FromPath
from sqlalchemy import select

from stateyard.auth.access import require_row, require_table
from stateyard.auth.permissions import Subject, Verb
from stateyard.core.errors import bad_request, not_found
from stateyard.core.http import json_body, json_response, platform_of, subject_of
from stateyard.crud.hooks import Reply
from stateyard.machines import diagram as diagrams
from stateyard.machines.catalog import MachineInfo

if TYPE_CHECKING:
    from stateyard.platform import Platform

AnyRequest = Request[Any, Any, Any]


@post("/api/event/{entity:str}/{object_state_id:str}/{event:str}", name="machines:fire", status_code=200)
async def fire_event(
    request: AnyRequest, entity: FromPath[str], object_state_id: FromPath[str], event: FromPath[str]
) -> Response[bytes]:
    platform = platform_of(request)
    subject = await subject_of(request)
    body = await json_body(request, required=False)
    result = await platform.machines.fire(subject, entity, object_state_id, event, body)
    return json_response(result)


def register_endpoints(platform: Platform) -> None:
    machines = platform.machines

    async def list_states(subject: Subject, entity: str, raw_id: str, params: dict[str, str], body: Any) -> Reply:
        _no_params(params)
        return Reply(await machines.describe(subject, entity, raw_id))

    async def start_machine(subject: Subject, entity: str, raw_id: str, params: dict[str, str], body: Any) -> Reply:
        _no_params(params)
        return Reply(await machines.start(subject, entity, raw_id, body), status=201)

    async def history(subject: Subject, entity: str, raw_id: str, params: dict[str, str], body: Any) -> Reply:
        _no_params(params)
        return Reply(await machines.history(subject, entity, raw_id))

    async def diagram(subject: Subject, entity: str, raw_id: str, params: dict[str, str], body: Any) -> Reply:
        fmt = params.pop("format", "mermaid")
        counts_wanted = _flag(params.pop("counts", "false"), "counts")
        raw_version = params.pop("version", None)
        _no_params(params)
        if fmt not in diagrams.FORMATS:
            raise bad_request(f"Unknown diagram format '{fmt}'; use mermaid or dot.", parameter="format")
        info = _machine(platform, raw_id)
        snapshot = platform.registry.snapshot
        model = snapshot.models["state_machine"]
        require_table(subject, model, Verb.READ)
        async with platform.db.read() as conn:
            row = await platform.store.load(conn, model, info.id)
            if row is None:
                raise not_found(f"There is no state machine '{raw_id}'.")
            await require_row(conn, snapshot, subject, model, row, Verb.READ)
            try:
                version = int(raw_version) if raw_version is not None else info.definition_version
            except ValueError:
                raise bad_request(
                    f"'version' must be a whole number, got {raw_version!r}.", parameter="version"
                ) from None
            compiled = await platform.catalog.compiled(conn, snapshot, info, version)
            counts = await machines.counts(conn, snapshot, subject, info) if counts_wanted else None
        draw = diagrams.mermaid if fmt == "mermaid" else diagrams.dot
        return Reply(draw(info.name, compiled.definition, counts), media_type=diagrams.FORMATS[fmt])

    platform.hooks.endpoint("*", "states", "GET", list_states)
    platform.hooks.endpoint("*", "states", "POST", start_machine)
    platform.hooks.endpoint("*", "history", "GET", history)
    platform.hooks.endpoint("state_machine", "diagram", "GET", diagram)


def _machine(platform: Platform, raw: str) -> MachineInfo:
    info = platform.catalog.get(raw)
    if info is None:
        try:
            info = platform.catalog.by_id(uuid.UUID(raw))
        except ValueError:
            info = None
    if info is None:
        raise not_found(f"There is no state machine named '{raw}'.", machine=raw)
    return info


def _flag(raw: str, name: str) -> bool:
    value = raw.lower()
    if value not in ("true", "1", "yes", "false", "0", "no"):
        raise bad_request(f"'{name}' is true or false, got {raw!r}.", parameter=name)
    return value in ("true", "1", "yes")


def _no_params(params: dict[str, str]) -> None:
    if params:
        raise bad_request(f"Unknown query parameter(s): {', '.join(sorted(params))}", code="unknown-parameter")


def state_fields(platform: Platform) -> Any:
    """``state.<machine>`` in list filters: the row's current state in that machine."""
    from stateyard.expressions.conditions import FieldSpec

    def provide(model: Any) -> dict[str, Any]:
        infos = platform.catalog.for_entity(model.name)
        if not infos:
            return {}
        states = platform.registry.snapshot.models["object_state"].table
        fields = {}
        for info in infos:
            current = (
                select(states.c.state)
                .where(
                    states.c.entity == model.name, states.c.row_id == model.table.c.id, states.c.machine_id == info.id
                )
                .scalar_subquery()
            )
            fields[f"state.{info.name}"] = FieldSpec(f"state.{info.name}", "text", _text, current)
        return fields

    return provide


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a state name")
    return value


ROUTES = [fire_event]
