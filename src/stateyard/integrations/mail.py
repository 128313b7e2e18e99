"""Outbound mail over SMTP, configured by ``STATEYARD_SMTP_*`` settings.

Mail leaves only after the transaction that asked for it commits (see ``mail.send``), so a
rolled-back action never sends a message about something that did not happen.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import msgspec

from stateyard.config import Settings
from stateyard.core.errors import ProblemError


class MailMessage(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    to: list[str]
    subject: str
    text: str | None = None
    html: str | None = None
    cc: list[str] = msgspec.field(default_factory=list)
    bcc: list[str] = msgspec.field(default_factory=list)
    reply_to: str | None = None


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
