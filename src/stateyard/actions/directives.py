"""Client directives: what an action tells the front end to do next.

An action always answers with a JSON array of ``{"type": ..., "attributes": {...}}``; a
front end follows them in order without knowing which action produced them.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class Directive(msgspec.Struct, frozen=True):
    type: str
    attributes: dict[str, Any]


def notify(
    message: str,
    *,
    title: str | None = None,
    kind: Literal["success", "info", "warning", "error"] = "success",
) -> Directive:
    attributes: dict[str, Any] = {"type": kind, "message": message}
    if title is not None:
        attributes["title"] = title
    return Directive("client.notify", attributes)


def store_set(key: str, value: Any) -> Directive:
    return Directive("client.store.set", {"key": key, "value": value})


def redirect(location: str, *, window: str = "self", delay: int = 0) -> Directive:
    return Directive("client.redirect", {"location": location, "window": window, "delay": delay})


def record(entity: str, attributes: dict[str, Any]) -> Directive:
    """An entity-typed result: the row an outcome produced, as the caller may see it."""
    return Directive(entity, attributes)
