"""The one error shape: RFC 9457 problem details.

Every refusal in Stateyard is raised as a :class:`ProblemError` and rendered by one
exception handler, so a client can rely on a stable ``type`` and on ``errors`` naming
each bad field, whatever part of the platform refused the request.
"""

from __future__ import annotations

from typing import Any

import msgspec

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:stateyard:problem:"


class FieldError(msgspec.Struct, frozen=True):
    """One bad value: which field, a stable machine code, and a sentence for people."""

    field: str
    code: str
    message: str


class ProblemError(Exception):
    """A refusal that becomes an ``application/problem+json`` response.

    ``code`` is the stable last segment of ``type``; ``extensions`` become top-level members.
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = errors
        self.extensions = extensions

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = [msgspec.structs.asdict(e) for e in self.errors]
        body.update(self.extensions)
        return body


def bad_request(detail: str, *, code: str = "bad-request", **extensions: Any) -> ProblemError:
    return ProblemError(400, code, "Bad request", detail, **extensions)


def invalid(errors: list[FieldError], *, detail: str | None = None, **extensions: Any) -> ProblemError:
    """Well-formed input whose values break the rules (422), naming every bad field."""
    if detail is None:
        names = ", ".join(dict.fromkeys(e.field for e in errors))
        detail = f"{len(errors)} invalid value(s): {names}"
    return ProblemError(422, "validation", "Invalid input", detail, errors=errors, **extensions)


def invalid_definition(errors: list[FieldError], *, detail: str | None = None) -> ProblemError:
    """A definition (entity, column, machine, ...) that cannot be used as written (400), naming every problem."""
    if detail is None:
        detail = f"The definition has {len(errors)} problem(s): " + "; ".join(
            f"{e.field}: {e.message}" for e in errors[:5]
        )
    return ProblemError(400, "invalid-definition", "Invalid definition", detail, errors=errors)


def not_found(detail: str, **extensions: Any) -> ProblemError:
    return ProblemError(404, "not-found", "Not found", detail, **extensions)


def conflict(detail: str, *, code: str = "conflict", **extensions: Any) -> ProblemError:
    return ProblemError(409, code, "Conflict", detail, **extensions)


def unauthorized(detail: str, **extensions: Any) -> ProblemError:
    return ProblemError(401, "unauthorized", "Authentication required", detail, **extensions)


def forbidden(detail: str, **extensions: Any) -> ProblemError:
    return ProblemError(403, "forbidden", "Forbidden", detail, **extensions)
