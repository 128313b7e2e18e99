"""``random.data`` (rows made up from each column's type and options) and ``template.render``.

``random.data`` writes through the records service inside the chain, so generated rows get the
same validation, permission checks, audit entries and auto-started machines as typed ones.
``template.render`` renders its ``template`` attribute itself: the engine passes it verbatim
(``raw_attributes``), so values from rows are inserted as text and never run as templates.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy.exc import IntegrityError

from stateyard.actions.directives import Directive, build, notify, record
from stateyard.actions.performers.generate import RowGenerator
from stateyard.actions.registry import ActionCall, ActionRegistry, Performer, PerformerResult
from stateyard.actions.validation import CONTEXT_NAMES, NAME
from stateyard.auth.permissions import Verb
from stateyard.core.db_errors import integrity_problem
from stateyard.core.errors import FieldError, bad_request, invalid
from stateyard.crud.service import require_writable
from stateyard.expressions import templates

MAX_ROWS = 10_000
#: How many of the created ids the answer lists.
LISTED_IDS = 100


class RandomDataInput(msgspec.Struct, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_ROWS)]
    #: The entity to fill (default: the action's entity).
    entity: str | None = None
    #: The same seed on the same data makes the same rows.
    seed: int | None = None


async def random_data(call: ActionCall, data: RandomDataInput) -> PerformerResult:
    platform = call.platform
    model = await platform.registry.model(data.entity or call.entity)
    subject = call.subject
    require_writable(subject, model, Verb.CREATE)
    if model.definition.system or model.name in platform.hooks.handlers:
        raise bad_request(
            f"'{model.name}' belongs to the platform: random rows are only made for your own entities.",
            code="system-entity",
            entity=model.name,
        )
    snapshot = call.snapshot
    conn = await call.connection()
    generator = RowGenerator(snapshot, model, subject, data.seed)
    rows = await generator.rows(conn, data.count)
    ids = []
    try:
        for body in rows:
            row = await platform.records.create_in(conn, snapshot, subject, model, body)
            ids.append(str(row["id"]))
    except IntegrityError as exc:
        raise integrity_problem(exc, model.name) from None
    value = {"entity": model.name, "created": len(ids), "ids": ids[:LISTED_IDS]}
    return PerformerResult(
        value=value,
        directives=[record("random_data", value), notify(f"Created {len(ids)} random {model.name} row(s).")],
    )


_CONTENT_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+-]+)*$")
_BAD_FILE_NAME = re.compile(r"[/\\\x00-\x1f\x7f]")
DEFAULT_CONTENT_TYPES = {"text": "text/plain; charset=utf-8", "html": "text/html; charset=utf-8"}


class RenderInput(msgspec.Struct, forbid_unknown_fields=True):
    #: A sandboxed Jinja2 template, passed verbatim by the engine and rendered here.
    template: str
    #: More names for the template (rendered by the engine like any attribute, then inserted as values).
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    as_: Literal["text", "html", "file"] = msgspec.field(default="text", name="as")
    file_name: str | None = None
    content_type: str | None = None


def _render_errors(data: RenderInput, chain: dict[str, Any]) -> list[FieldError]:
    errors = []
    for key in data.context:
        if not NAME.match(key):
            errors.append(FieldError(f"context.{key}", "invalid_name", f"'{key}' cannot name a template value"))
        elif key in chain or key in CONTEXT_NAMES:
            errors.append(FieldError(f"context.{key}", "reserved", f"'{key}' is already a name of the action"))
    if data.as_ == "file":
        if not data.file_name:
            errors.append(FieldError("file_name", "required", "a file needs a name"))
        elif len(data.file_name) > 255 or _BAD_FILE_NAME.search(data.file_name) or data.file_name in (".", ".."):
            errors.append(FieldError("file_name", "format", "a file name of at most 255 characters, without / or \\"))
    elif data.file_name is not None:
        errors.append(FieldError("file_name", "unsupported_option", "only a file ('as': 'file') has a name"))
    if data.content_type is not None and (len(data.content_type) > 255 or not _CONTENT_TYPE.match(data.content_type)):
        errors.append(FieldError("content_type", "format", f"{data.content_type!r} is not a media type"))
    return errors


async def render_template(call: ActionCall, data: RenderInput) -> PerformerResult:
    chain = call.context
    errors = _render_errors(data, chain)
    if errors:
        raise invalid(errors)
    html = data.as_ == "html" or (data.as_ == "file" and _is_html(data))
    text = templates.render_document(data.template, {**chain, **data.context}, "template", html=html)
    if data.as_ != "file":
        content_type = data.content_type or DEFAULT_CONTENT_TYPES[data.as_]
        value = {"as": data.as_, "content_type": content_type, "text": text}
        return PerformerResult(value=value, directives=[record("rendered_template", value)])
    assert data.file_name is not None
    content_type = data.content_type or _guess_type(data.file_name)
    download = build(
        "client.file.download",
        {
            "name": data.file_name,
            "content_type": content_type,
            "content": base64.b64encode(text.encode()).decode("ascii"),
        },
    )
    value = {"as": "file", "name": data.file_name, "content_type": content_type, "text": text}
    return PerformerResult(value=value, directives=[download])


def _is_html(data: RenderInput) -> bool:
    """A file is an HTML document (values escaped) when its type or its name says so."""
    kind = data.content_type or _guess_type(data.file_name or "")
    return kind.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml")


def _guess_type(file_name: str) -> str:
    guessed, _ = mimetypes.guess_type(file_name, strict=False)
    if guessed is None:
        return "text/plain; charset=utf-8"
    return f"{guessed}; charset=utf-8" if guessed.startswith("text/") else guessed


def register(registry: ActionRegistry) -> None:
    registry.performer(Performer("random.data", RandomDataInput, random_data, "Create rows of made-up values."))
    registry.performer(
        Performer(
            "template.render",
            RenderInput,
            render_template,
            "Render a sandboxed template to text, HTML or a file download.",
            raw_attributes=frozenset({"template"}),
        )
    )
    registry.expose("*", "random_data", "random.data", access="user", label="Create random rows")


__all__ = ["Directive", "register"]
