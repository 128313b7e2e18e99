"""Outbound mail over SMTP, configured by ``STATEYARD_SMTP_*`` settings.

Mail goes through the job queue (:func:`queue_mail`): the job is enqueued in the transaction
that asks for the message, so a rolled-back action never sends a message about something that
did not happen, and a committed one is delivered even if the SMTP server is down for a while.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.config import Settings
from stateyard.core.errors import ProblemError
from stateyard.jobs.queue import Backoff


class MailMessage(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    to: list[str]
    subject: str
    text: str | None = None
    html: str | None = None
    cc: list[str] = msgspec.field(default_factory=list)
    bcc: list[str] = msgspec.field(default_factory=list)
    reply_to: str | None = None


MAIL_JOB = "mail.send"


async def queue_mail(platform: Any, conn: AsyncConnection, message: MailMessage) -> Any:
    """Send ``message`` through the job queue, enqueued in the caller's transaction.

    The message exists exactly when the change that asked for it commits, survives restarts,
    and is retried with backoff while the SMTP server is unreachable.
    """
    platform.mailer.require()
    return await platform.queue.enqueue(
        conn,
        MAIL_JOB,
        msgspec.to_builtins(message),
        max_attempts=8,
        backoff=Backoff(initial=30.0, multiplier=2.0, maximum=3600.0),
    )


async def send_mail_job(ctx: Any) -> dict[str, Any]:
    """The job that delivers a queued message."""
    message = msgspec.convert(ctx.payload, MailMessage)
    await ctx.platform.mailer.send(message)
    return {"to": message.to, "subject": message.subject}


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return bool(self.settings.smtp_host)

    def require(self) -> None:
        if not self.configured:
            raise ProblemError(
                503,
                "mail-not-configured",
                "Mail is not configured",
                "This server has no SMTP server configured (set STATEYARD_SMTP_HOST).",
            )

    def build(self, message: MailMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.settings.mail_from
        email["To"] = ", ".join(message.to)
        if message.cc:
            email["Cc"] = ", ".join(message.cc)
        if message.reply_to:
            email["Reply-To"] = message.reply_to
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(domain=self.settings.mail_from.rpartition("@")[2] or "stateyard")
        if not message.text and message.html:
            email.set_content(message.html, subtype="html")  # no empty text part beside it
            return email
        email.set_content(message.text or "")
        if message.html:
            email.add_alternative(message.html, subtype="html")
        return email

    async def send(self, message: MailMessage) -> None:
        self.require()
        email = self.build(message)
        recipients = [*message.to, *message.cc, *message.bcc]
        await asyncio.to_thread(self._send, email, recipients)

    def _send(self, email: EmailMessage, recipients: list[str]) -> None:
        s = self.settings
        assert s.smtp_host is not None
        timeout = s.smtp_timeout_seconds
        if s.smtp_security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.smtp_host, s.smtp_port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=timeout)
        with smtp:
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
            smtp.send_message(email, to_addrs=recipients)
