"""HTTP routes of the records API: thin adapters over :class:`RecordService`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromPath

from stateyard.core.errors import ProblemError, bad_request
from stateyard.core.http import flag, json_body, json_response, platform_of, query_params, subject_of
from stateyard.crud.hooks import Reply, WriteOptions

AnyRequest = Request[Any, Any, Any]


def _write_options(request: AnyRequest, entity: FromPath[str]) -> WriteOptions:
    params = query_params(request)
    options = WriteOptions(allow_destructive=flag(params, "allow_destructive"), dry_run=flag(params, "dry_run"))
    include = params.pop("include", None)
    if params:
        raise bad_request(f"Unknown query parameter(s): {', '.join(sorted(params))}", code="unknown-parameter")
    if (options.allow_destructive or options.dry_run) and entity not in platform_of(request).hooks.handlers:
        raise bad_request(
            "allow_destructive and dry_run apply to definition entities (entity, entity_column, entity_relation).",
            code="unknown-parameter",
        )
    request.state.include = include
    return options


async def _check_include(request: AnyRequest, entity: str) -> None:
    """Refuse a bad ``include`` before writing: a 400 must not leave a created or changed row behind."""
    if request.state.include:
        platform = platform_of(request)
        _, model = await platform.records.resolve(entity)
        platform.records.parse_query(model, {"include": request.state.include})


async def _written(request: AnyRequest, entity: FromPath[str], result: Any, status: int) -> Response[bytes]:
    if isinstance(result, msgspec.Struct):
        return json_response(result)
    platform = platform_of(request)
    subject = await subject_of(request)
    include = [n.strip() for n in (request.state.include or "").split(",") if n.strip()]
    return json_response(await platform.records.present(subject, entity, result, include), status)


def _reply(reply: Reply) -> Response[bytes]:
    if reply.media_type == "application/json":
        return json_response(reply.body, reply.status)
    content = reply.body if isinstance(reply.body, bytes) else str(reply.body).encode()
    return Response(content, status_code=reply.status, media_type=reply.media_type)


@get("/api/{entity:str}", name="records:list")
async def list_rows(request: AnyRequest, entity: FromPath[str]) -> Response[bytes]:
    platform = platform_of(request)
    page = await platform.records.list(await subject_of(request), entity, query_params(request))
    meta = {"total": page.total, "page": page.page, "per_page": page.per_page}
    return json_response({"data": page.data, "meta": meta})


@post("/api/{entity:str}", name="records:create")
async def create_row(request: AnyRequest, entity: FromPath[str]) -> Response[bytes]:
    subject = await subject_of(request)
    options = _write_options(request, entity)
    await _check_include(request, entity)
    body = await json_body(request)
    row = await platform_of(request).records.create(subject, entity, body, options)
    return await _written(request, entity, row, 201)


@get("/api/{entity:str}/{row_id:str}", name="records:get")
async def get_row(request: AnyRequest, entity: FromPath[str], row_id: FromPath[str]) -> Response[bytes]:
    platform = platform_of(request)
    row = await platform.records.get(await subject_of(request), entity, row_id, query_params(request))
    return json_response(row)


@patch("/api/{entity:str}/{row_id:str}", name="records:update")
async def update_row(request: AnyRequest, entity: FromPath[str], row_id: FromPath[str]) -> Response[bytes]:
    subject = await subject_of(request)
    options = _write_options(request, entity)
    await _check_include(request, entity)
    body = await json_body(request)
    row = await platform_of(request).records.update(subject, entity, row_id, body, options)
    return await _written(request, entity, row, 200)


@delete("/api/{entity:str}/{row_id:str}", name="records:delete", status_code=200)
async def delete_row(request: AnyRequest, entity: FromPath[str], row_id: FromPath[str]) -> Response[bytes]:
    subject = await subject_of(request)
    options = _write_options(request, entity)
    result = await platform_of(request).records.delete(subject, entity, row_id, options)
    if result is not None:
        return json_response(result)
    return Response(b"", status_code=204)


@get("/api/{entity:str}/{row_id:str}/{relation:str}", name="records:related")
async def related_rows(
    request: AnyRequest, entity: FromPath[str], row_id: FromPath[str], relation: FromPath[str]
) -> Response[bytes]:
    platform = platform_of(request)
    endpoint = platform.hooks.endpoint_for(entity, relation, "GET")
    if endpoint is not None:
        await platform.registry.model(entity)
        return _reply(await endpoint(await subject_of(request), entity, row_id, query_params(request), None))
    result = await platform.records.related(await subject_of(request), entity, row_id, relation, query_params(request))
    if isinstance(result, msgspec.Struct):
        page: Any = result
        return json_response(
            {"data": page.data, "meta": {"total": page.total, "page": page.page, "per_page": page.per_page}}
        )
    return json_response(result)


@post("/api/{entity:str}/{row_id:str}/{relation:str}", name="records:link", status_code=200)
async def link_row(
    request: AnyRequest, entity: FromPath[str], row_id: FromPath[str], relation: FromPath[str]
) -> Response[bytes]:
    subject = await subject_of(request)
    platform = platform_of(request)
    endpoint = platform.hooks.endpoint_for(entity, relation, "POST")
    if endpoint is not None:
        await platform.registry.model(entity)
        body = await json_body(request, required=False)
        return _reply(await endpoint(subject, entity, row_id, query_params(request), body))
    if platform.hooks.endpoint_for(entity, relation, "GET") is not None:
        # A read-only endpoint such as ``history``: not a relation to link to.
        raise ProblemError(
            405, "method-not-allowed", "Method not allowed", f"'{relation}' of a {entity} can only be read (GET)."
        )
    body = await json_body(request)
    await platform.records.link(subject, entity, row_id, relation, body)
    return Response(b"", status_code=204)


@delete("/api/{entity:str}/{row_id:str}/{relation:str}/{target_id:str}", name="records:unlink", status_code=200)
async def unlink_row(
    request: AnyRequest, entity: FromPath[str], row_id: FromPath[str], relation: FromPath[str], target_id: FromPath[str]
) -> Response[bytes]:
    subject = await subject_of(request)
    await platform_of(request).records.unlink(subject, entity, row_id, relation, target_id)
    return Response(b"", status_code=204)


ROUTES = [list_rows, create_row, get_row, update_row, delete_row, related_rows, link_row, unlink_row]
