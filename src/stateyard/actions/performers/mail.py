"""``mail.send``: a message that leaves only once the action's transaction has committed.

The message is a job enqueued in the chain's transaction (see
:func:`stateyard.integrations.mail.queue_mail`): a chain that fails at a later step sends
nothing, and a committed one is retried until the SMTP server takes it.
"""

from __future__ import annotations

import logging
import re

import msgspec

from stateyard.actions.registry import ActionCall, ActionRegistry, Performer, PerformerResult
from stateyard.core.errors import FieldError, invalid
from stateyard.expressions.templates import render_document
from stateyard.integrations.mail import MailMessage, queue_mail

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 50
MAX_SUBJECT = 998
#: Plain addresses only: no display names, quotes, commas or angle brackets that could add headers.
ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
MAX_ADDRESS = 254


class SendInput(msgspec.Struct, forbid_unknown_fields=True):
    #: One address or a list of them.
    to: list[str] | str
    subject: str
    text: str | None = None
    html: str | None = None
    cc: list[str] | str = msgspec.field(default_factory=list)
    bcc: list[str] | str = msgspec.field(default_factory=list)
    reply_to: str | None = None


def _addresses(value: list[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def message_from(data: SendInput) -> MailMessage:
    """The message to send, or a 422 naming every bad field."""
    errors: list[FieldError] = []
    lists = {"to": _addresses(data.to), "cc": _addresses(data.cc), "bcc": _addresses(data.bcc)}
    for name, addresses in lists.items():
        for i, address in enumerate(addresses):
            if len(address) > MAX_ADDRESS or not ADDRESS.match(address):
                errors.append(FieldError(f"{name}[{i}]", "format", f"'{address[:100]}' is not an email address"))
    if not lists["to"]:
        errors.append(FieldError("to", "required", "name at least one recipient"))
    total = sum(len(v) for v in lists.values())
    if total > MAX_RECIPIENTS:
        message = f"at most {MAX_RECIPIENTS} recipients in all (to, cc and bcc), not {total}"
        errors.append(FieldError("to", "too_many", message))
    if data.reply_to is not None and (len(data.reply_to) > MAX_ADDRESS or not ADDRESS.match(data.reply_to)):
        errors.append(FieldError("reply_to", "format", f"'{data.reply_to[:100]}' is not an email address"))
    if not data.subject.strip():
        errors.append(FieldError("subject", "required", "the subject may not be empty"))
    elif any(ch in data.subject for ch in "\r\n\0"):
        errors.append(FieldError("subject", "format", "the subject may not contain line breaks"))
    elif len(data.subject) > MAX_SUBJECT:
        errors.append(FieldError("subject", "too_long", f"at most {MAX_SUBJECT} characters"))
    if not data.text and not data.html:
        errors.append(FieldError("text", "required", "give a text or an html body (or both)"))
    if errors:
        raise invalid(errors)
    return MailMessage(
        to=lists["to"],
        subject=data.subject,
        text=data.text,
        html=data.html,
        cc=lists["cc"],
        bcc=lists["bcc"],
        reply_to=data.reply_to,
    )


async def send(call: ActionCall, data: SendInput) -> PerformerResult:
    platform = call.platform
    platform.mailer.require()
    if data.html is not None:
        # The HTML body is rendered here, escaping every inserted value, so row data cannot add markup.
        data = msgspec.structs.replace(data, html=render_document(data.html, call.context, "html", html=True))
    message = message_from(data)
    job_id = await queue_mail(platform, await call.connection(), message)
    recipients = len(message.to) + len(message.cc) + len(message.bcc)
    value = {"to": message.to, "cc": message.cc, "subject": message.subject, "recipients": recipients}
    return PerformerResult(value={**value, "job_id": str(job_id)})


def register(registry: ActionRegistry) -> None:
    registry.performer(
        Performer(
            "mail.send",
            SendInput,
            send,
            "Send an email once the action's changes are committed (through the job queue).",
            raw_attributes=frozenset({"html"}),
        )
    )
