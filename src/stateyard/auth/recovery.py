"""Password reset by an emailed one-time code.

``password_reset_request`` answers the same whether or not the address has an account, so it
tells nobody who is registered; for an account it keeps a keyed digest of a fresh code with
its expiry (``password_reset`` rows, readable by administrators only) and mails the code once
the transaction commits. ``password_reset_verify`` spends one of the code's five attempts
before comparing, in a transaction of its own, so that neither a refusal (which rolls the
action back) nor parallel guesses give anyone more tries. (Run as an outcome of a declared
action whose transaction is already open, it must spend the attempt in that transaction, and
a refusal rolls the attempt back with everything else.)
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.actions.directives import Directive, notify
from stateyard.actions.registry import ActionCall, ActionRegistry, Performer
from stateyard.auth.account_actions import new_password_errors
from stateyard.auth.permissions import Subject
from stateyard.core.db import on_commit
from stateyard.core.errors import FieldError, ProblemError, invalid
from stateyard.entities.types import COLUMN_TYPES, FieldProblem
from stateyard.integrations.mail import Mailer, MailMessage

log = logging.getLogger(__name__)

CODE_DIGITS = 8
MAX_ATTEMPTS = 5
#: A new request within this time of the last one sends nothing: no mail floods, no fresh attempts.
RESEND_AFTER = timedelta(seconds=60)


class ResetRequestInput(msgspec.Struct, forbid_unknown_fields=True):
    email: str


class ResetVerifyInput(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    code: str
    new_password: str
    new_password_confirm: str


def _email(value: str) -> str:
    return COLUMN_TYPES["email"].parse(value)  # type: ignore[no-any-return]


def wrong_code() -> ProblemError:
    """One answer for an unknown account, an expired, spent or used code and a wrong one."""
    message = "the code is wrong or has expired; ask for a new one"
    return invalid([FieldError("code", "invalid", message)], detail="The reset code is wrong or has expired.")


async def password_reset_request(call: ActionCall, data: ResetRequestInput) -> list[Directive]:
    platform = call.platform
    platform.mailer.require()
    try:
        email = _email(data.email)
    except FieldProblem as exc:
        raise invalid([FieldError("email", exc.code, exc.message)]) from None
    ttl = timedelta(seconds=platform.settings.password_reset_code_ttl_seconds)
    conn = await call.connection()
    snapshot = call.snapshot
    users = snapshot.models["user_account"].table
    account = (
        await conn.execute(select(users.c.id, users.c.email, users.c.active).where(users.c.email == email))
    ).first()
    if account is not None and account.active is not False:
        resets = snapshot.models["password_reset"]
        now = platform.clock.now()
        last = await conn.scalar(select(resets.table.c.created_at).where(resets.table.c.user_id == account.id))
        if last is None or now - last >= RESEND_AFTER:
            code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
            await conn.execute(delete(resets.table).where(resets.table.c.user_id == account.id))
            values = {
                "user_id": account.id,
                "code_hash": platform.crypto.code_digest(code),
                "expires_at": now + ttl,
                "attempts": 0,
            }
            await platform.store.insert(conn, snapshot, resets, values, actor=call.caller)
            on_commit(_mail(platform.mailer, _message(account.email, code, ttl)))
    minutes = math.ceil(ttl.total_seconds() / 60)
    return [
        notify(
            f"If an account uses this address, a reset code is on its way; it works for {minutes} minutes.",
            title="Check your mail",
            kind="info",
        )
    ]


def _message(to: str, code: str, ttl: timedelta) -> MailMessage:
    minutes = math.ceil(ttl.total_seconds() / 60)
    text = (
        f"Your password reset code is {code}\n\n"
        f"It works for {minutes} minutes. If you did not ask to reset your password, ignore this message:\n"
        "your password stays as it is.\n"
    )
    return MailMessage(to=[to], subject="Your password reset code", text=text)


def _mail(mailer: Mailer, message: MailMessage) -> Callable[[], Awaitable[None]]:
    async def send() -> None:
        try:
            await mailer.send(message)
        except Exception:
            # Committed already, and the answer must not differ for existing accounts: log only.
            log.exception("password reset: could not mail the code to %s", ", ".join(message.to))

    return send


async def password_reset_verify(call: ActionCall, data: ResetVerifyInput) -> list[Directive]:
    platform = call.platform
    snapshot = call.snapshot
    errors = []
    email = ""
    try:
        email = _email(data.email)
    except FieldProblem as exc:
        errors.append(FieldError("email", exc.code, exc.message))
    code = data.code.strip()
    if not (len(code) == CODE_DIGITS and code.isascii() and code.isdigit()):
        errors.append(FieldError("code", "format", f"expected the {CODE_DIGITS}-digit code from the email"))
    errors += new_password_errors(snapshot, data.new_password, data.new_password_confirm)
    if errors:
        raise invalid(errors)
    reset = await _spend_attempt(call, email)
    if reset is None or not platform.crypto.code_matches(reset["code_hash"], code):
        raise wrong_code()
    hashed = platform.crypto.hash_password(data.new_password)
    conn = await call.connection()
    resets = snapshot.models["password_reset"].table
    # Deleting it is what uses the code: of two requests racing with the right code, one wins.
    used = await conn.execute(delete(resets).where(resets.c.id == reset["id"]))
    users = snapshot.models["user_account"]
    account = await platform.store.load(conn, users, reset["user_id"], for_update=True)
    if used.rowcount != 1 or account is None or account["active"] is False:
        raise wrong_code()
    changes = {"password": hashed, "token_version": (account["token_version"] or 1) + 1}
    await platform.store.update(conn, snapshot, users, account, changes, actor=Subject(user_id=account["id"]))
    await platform.auth.security_changed(conn)
    return [notify("Your password is changed; sign in with it.", title="Password changed")]


async def _spend_attempt(call: ActionCall, email: str) -> dict[str, Any] | None:
    """The account's pending code with one more attempt counted, or None if it has none left."""
    platform = call.platform
    snapshot = call.snapshot
    users = snapshot.models["user_account"].table
    resets = snapshot.models["password_reset"].table
    now = platform.clock.now()

    async def spend(conn: AsyncConnection) -> dict[str, Any] | None:
        found = (
            (
                await conn.execute(
                    select(resets)
                    .join(users, users.c.id == resets.c.user_id)
                    .where(users.c.email == email, users.c.active.is_not(False))
                )
            )
            .mappings()
            .first()
        )
        if found is None or found["expires_at"] <= now or found["attempts"] >= MAX_ATTEMPTS:
            return None
        spent = await conn.execute(
            update(resets)
            .where(resets.c.id == found["id"], resets.c.attempts < MAX_ATTEMPTS)
            .values(attempts=resets.c.attempts + 1, version=resets.c.version + 1, updated_at=now)
        )
        return dict(found) if spent.rowcount == 1 else None

    if call.chain.open:
        # A declared action's open transaction already holds SQLite's one writer: a second
        # transaction would wait for it forever (see the module notes).
        return await spend(await call.connection())
    async with platform.db.write() as conn:
        return await spend(conn)


def register(registry: ActionRegistry) -> None:
    registry.performer(
        Performer(
            "user.password_reset_request",
            ResetRequestInput,
            password_reset_request,
            "Mail a one-time code that resets the password of the account with this email.",
        )
    )
    registry.performer(
        Performer(
            "user.password_reset_verify",
            ResetVerifyInput,
            password_reset_verify,
            "Set a new password with the emailed code; older tokens are revoked.",
        )
    )
    registry.expose(
        "user_account", "password_reset_request", "user.password_reset_request", access="guest", label="Forgot password"
    )
    registry.expose(
        "user_account", "password_reset_verify", "user.password_reset_verify", access="guest", label="Reset password"
    )
