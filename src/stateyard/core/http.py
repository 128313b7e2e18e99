"""Helpers every route module shares: the caller, the JSON body, JSON and problem responses.

Routes decode bodies with msgspec themselves instead of through Litestar's signature
model, so that every malformed body gets our problem+json answer and so that a generic
route can accept the fields of an entity defined a second ago.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from stateyard.core.errors import PROBLEM_MEDIA_TYPE, ProblemError, bad_request

if TYPE_CHECKING:
    from stateyard.auth.permissions import Subject
    from stateyard.platform import Platform

log = logging.getLogger("stateyard.http")
_encoder = msgspec.json.Encoder()
TRUE_WORDS, FALSE_WORDS = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no", ""})
_SUBJECT_KEY = "stateyard.subject"


def platform_of(request: Request[Any, Any, Any]) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


async def subject_of(request: Request[Any, Any, Any]) -> Subject:
    """Who sent the request, looked up once per request however often a route asks.

    One request has one caller: a write that changes the caller's own account must not make
    the answer to that same request see someone else (or a 401 after the commit).
    """
    subject: Subject | None = request.state.get(_SUBJECT_KEY)
    if subject is None:
        subject = await platform_of(request).auth.subject_for(request.headers.get("authorization"))
        request.state[_SUBJECT_KEY] = subject
    return subject


async def json_body(request: Request[Any, Any, Any], *, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise bad_request("The request needs a JSON body.", code="invalid-body")
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise bad_request(f"The body is not valid JSON: {exc}", code="invalid-body") from None


def query_params(request: Request[Any, Any, Any]) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise bad_request(f"Query parameter '{key}' is given more than once.", parameter=key)
        params[key] = value
    return params


def flag(params: dict[str, str], name: str) -> bool:
    value = params.pop(name, "false").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise bad_request(f"'{name}' must be true or false, got {value!r}.", parameter=name)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(_encoder.encode(data), status_code=status, media_type="application/json", headers=headers)


def problem_response(problem: ProblemError, request: Request[Any, Any, Any] | None = None) -> Response[bytes]:
    headers = {}
    if problem.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="stateyard"'
    body = problem.to_dict(instance=request.url.path if request is not None else None)
    return Response(_encoder.encode(body), status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def handle_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[bytes]:
    return problem_response(exc, request)


HTTP_CODES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("too-many-requests", "Too many requests"),
}


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    code, title = HTTP_CODES.get(status, ("http-error", "HTTP error"))
    detail = exc.detail or title
    if status == 404:
        detail = f"No endpoint answers {request.method} {request.url.path}."
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    elif status == 413:
        limit = platform_of(request).settings.max_body_bytes
        detail = f"The request body is larger than the {limit} bytes this server accepts."
    extensions: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extensions["errors"] = [
            {"field": str(e.get("key", "")), "code": "invalid", "message": str(e.get("message", ""))}
            for e in exc.extra
            if isinstance(e, dict)
        ]
    headers = dict(exc.headers or {})
    response = problem_response(ProblemError(status, code, title, detail, **extensions), request)
    response.headers.update(headers)
    return response


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    problem = ProblemError(
        500, "internal", "Internal server error", "Something failed on our side; it has been logged."
    )
    return problem_response(problem, request)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ProblemError: handle_problem,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
