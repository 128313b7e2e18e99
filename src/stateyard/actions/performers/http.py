"""``http.request``: call another service through the guarded outbound client.

The result (``status``, ``headers``, ``body`` parsed from JSON when the answer is JSON, and the
final ``url``) is the outcome's value, so later outcomes template on ``{{ <reference>.body.x }}``.
A request already sent cannot be taken back: if a later outcome fails, the database changes
roll back but the remote service has seen the call.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from stateyard.actions.registry import ActionCall, ActionRegistry, Performer, PerformerResult
from stateyard.core.errors import FieldError, ProblemError, invalid
from stateyard.integrations.http import DEFAULT_TIMEOUT, MAX_TIMEOUT, check_url

Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
Scalar = str | int | float | bool | None
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$")
#: Headers that belong to the transport: the client sets them itself.
FORBIDDEN_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer"}
)
MAX_HEADERS = 50
MAX_HEADER_VALUE = 8192
MAX_URL = 8192


class RequestInput(msgspec.Struct, forbid_unknown_fields=True):
    method: Method
    url: str
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    query: dict[str, Scalar | list[Scalar]] = msgspec.field(default_factory=dict)
    #: A JSON body (any JSON value).
    json: Any = None
    #: A form body (application/x-www-form-urlencoded); not together with ``json``.
    form: dict[str, Scalar] | None = None
    #: Seconds for the whole exchange, redirects included.
    timeout: float = DEFAULT_TIMEOUT


def check_input(data: RequestInput) -> None:
    errors: list[FieldError] = []
    if len(data.url) > MAX_URL:
        errors.append(FieldError("url", "too_long", f"at most {MAX_URL} characters"))
    else:
        try:
            check_url(data.url)
        except ProblemError as exc:
            errors += exc.errors or []
    if len(data.headers) > MAX_HEADERS:
        errors.append(FieldError("headers", "too_many", f"at most {MAX_HEADERS} headers"))
    for name, value in data.headers.items():
        if not _HEADER_NAME.match(name):
            errors.append(FieldError(f"headers.{name[:100]}", "invalid_name", "not a valid header name"))
        elif name.lower() in FORBIDDEN_HEADERS or name.lower().startswith("proxy-"):
            errors.append(FieldError(f"headers.{name}", "forbidden", f"'{name}' is set by the client itself"))
        elif any(ch in value for ch in "\r\n\0") or len(value) > MAX_HEADER_VALUE:
            errors.append(FieldError(f"headers.{name}", "invalid", "a header value is one line of at most 8 KB"))
    if data.json is not None and data.form is not None:
        errors.append(FieldError("form", "conflict", "give a json body or a form body, not both"))
    if not 0 < data.timeout <= MAX_TIMEOUT:
        errors.append(FieldError("timeout", "range", f"seconds, more than 0 and at most {MAX_TIMEOUT:g}"))
    if errors:
        raise invalid(errors)


async def request(call: ActionCall, data: RequestInput) -> PerformerResult:
    check_input(data)
    result = await call.platform.http.request(
        data.method,
        data.url,
        headers=data.headers,
        params=data.query,
        json=data.json,
        data=data.form,
        time_limit=data.timeout,
    )
    return PerformerResult(value=msgspec.structs.asdict(result))


def register(registry: ActionRegistry) -> None:
    registry.performer(
        Performer(
            "http.request",
            RequestInput,
            request,
            "Call an HTTP service (public addresses only, unless allowed); its answer is the outcome's value.",
        )
    )
