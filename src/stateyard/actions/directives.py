"""Client directives: what an action tells the front end to do next.

An action always answers with a JSON array of ``{"type": ..., "attributes": {...}}``; a front
end follows them in order without knowing which action produced them. Each ``client.*``
type has a typed attribute Struct, so a declared directive is checked when it is saved and
its rendered attributes when it runs. Entity-typed results (``{"type": "order", ...}``)
carry a row as the caller may see it.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec

from stateyard.core.errors import FieldError, invalid

_COOKIE_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$")
#: Headers an action may not set: they belong to the server, the transport or the cookie directive.
FORBIDDEN_HEADERS = frozenset(
    {"content-length", "content-type", "transfer-encoding", "connection", "set-cookie", "host", "keep-alive", "upgrade"}
)


class Directive(msgspec.Struct, frozen=True):
    type: str
    attributes: dict[str, Any]


class Notify(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    message: str
    type: Literal["success", "info", "warning", "error"] = "info"
    title: str | None = None


class Redirect(msgspec.Struct, forbid_unknown_fields=True):
    location: str
    window: Literal["self", "new"] = "self"
    #: milliseconds before the redirect
    delay: int = 0

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError("delay may not be negative")


class StoreSet(msgspec.Struct, forbid_unknown_fields=True):
    key: str
    value: Any = None


class CookieSet(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    value: str
    http_only: bool = True
    secure: bool = False
    same_site: Literal["lax", "strict", "none"] = "lax"
    max_age: int | None = None
    path: str = "/"

    def __post_init__(self) -> None:
        if not _COOKIE_NAME.match(self.name):
            raise ValueError(f"'{self.name}' is not a valid cookie name")
        if any(ch in self.value for ch in ";\r\n"):
            raise ValueError("a cookie value may not contain ';' or line breaks")


class FileDownload(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    content_type: str = "application/octet-stream"
    url: str | None = None
    #: the file itself, base64-encoded, for small files
    content: str | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.content is None):
            raise ValueError("give exactly one of url and content")


class HeaderSet(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    value: str

    def __post_init__(self) -> None:
        if not _HEADER_NAME.match(self.name) or self.name.lower() in FORBIDDEN_HEADERS:
            raise ValueError(f"'{self.name}' is not a header an action may set")
        if any(ch in self.value for ch in "\r\n"):
            raise ValueError("a header value may not contain line breaks")


DIRECTIVE_TYPES: dict[str, type[msgspec.Struct]] = {
    "client.notify": Notify,
    "client.redirect": Redirect,
    "client.store.set": StoreSet,
    "client.cookie.set": CookieSet,
    "client.file.download": FileDownload,
    "client.header.set": HeaderSet,
}


#: Attributes that are text, per directive type: a number or yes/no rendered into one is written out.
TEXT_ATTRIBUTES = {
    kind: frozenset(f.encode_name for f in msgspec.structs.fields(struct) if f.type in (str, str | None))
    for kind, struct in DIRECTIVE_TYPES.items()
}


def build(kind: str, attributes: Any, path: str = "attributes") -> Directive:
    """A checked client directive, or 422 naming what is wrong with its attributes."""
    struct = DIRECTIVE_TYPES[kind]
    try:
        # Rendered values keep their types: an id, a date or a decimal becomes the text the client sees,
        # and so does a number in a text attribute ("{{ found.meta.total }}" as a message).
        plain = msgspec.to_builtins(attributes)
        if isinstance(plain, dict):
            texts = TEXT_ATTRIBUTES[kind]
            plain = {k: str(v) if k in texts and isinstance(v, int | float) else v for k, v in plain.items()}
        checked = msgspec.convert(plain, struct)
    except TypeError as exc:
        message = f"a value cannot be sent to the client ({exc})"
        raise invalid(
            [FieldError(path, "invalid", message)], detail=f"The {kind} directive is invalid: {message}"
        ) from None
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$")
        field = path + (where.rstrip("`") if where else "")
        detail = f"The {kind} directive is invalid: {message}"
        raise invalid([FieldError(field, "invalid", message)], detail=detail) from None
    return Directive(kind, msgspec.to_builtins(checked))


def notify(
    message: str, *, title: str | None = None, kind: Literal["success", "info", "warning", "error"] = "success"
) -> Directive:
    return build("client.notify", {"message": message, "type": kind, **({"title": title} if title else {})})


def store_set(key: str, value: Any) -> Directive:
    return Directive("client.store.set", {"key": key, "value": value})


def redirect(location: str, *, window: str = "self", delay: int = 0) -> Directive:
    return build("client.redirect", {"location": location, "window": window, "delay": delay})


def record(entity: str, attributes: dict[str, Any]) -> Directive:
    """An entity-typed result: the row an outcome produced, as the caller may see it."""
    return Directive(entity, attributes)
