"""Two-factor sign-in with an authenticator app (TOTP).

``totp_register`` keeps a new seed in the account's ``totp_secret`` (a ``secret`` column:
encrypted at rest, never returned by the API, to administrators neither) and shows it once,
as an ``otpauth://`` URI; ``totp_verify`` turns two-factor sign-in on with a first code, and
``totp_disable`` turns it off with a current one. While it is on, signin needs ``totp``.
"""

from __future__ import annotations

import msgspec

from stateyard.actions.directives import Directive, notify, store_set
from stateyard.actions.registry import ActionCall, ActionRegistry, Performer, PerformerFn, PerformerResult
from stateyard.auth import totp
from stateyard.auth.account_actions import NoAttributes, own_account, save_account
from stateyard.core.errors import FieldError, conflict, invalid


class TotpCodeInput(msgspec.Struct, forbid_unknown_fields=True):
    code: str


def _check(call: ActionCall, secret: str | None, code: str) -> None:
    if not totp.well_formed(code):
        raise invalid(
            [FieldError("code", "format", f"expected the {totp.DIGITS}-digit code of your authenticator app")]
        )
    if secret is None or not totp.verify(secret, code, call.platform.clock.now()):
        raise invalid([FieldError("code", "invalid", "the code is wrong or has expired")])


async def totp_register(call: ActionCall, data: NoAttributes) -> PerformerResult:
    account = await own_account(call)
    if account["totp_enabled"]:
        raise conflict("Two-factor sign-in is on already; turn it off (totp_disable) first.", code="totp-enabled")
    secret = totp.new_secret()
    await save_account(call, account, {"totp_secret": call.platform.crypto.encrypt(secret)})
    uri = totp.provisioning_uri(secret, account["email"], call.platform.settings.token_issuer)
    shown = {"secret": secret, "uri": uri}
    message = "Add this key to your authenticator app, then confirm a code with totp_verify; it is shown only now."
    return PerformerResult(
        value=shown, directives=[store_set("totp", shown), notify(message, title="Two-factor sign-in", kind="info")]
    )


async def totp_verify(call: ActionCall, data: TotpCodeInput) -> list[Directive]:
    account = await own_account(call)
    if account["totp_enabled"]:
        raise conflict("Two-factor sign-in is on already.", code="totp-enabled")
    if not account["totp_secret"]:
        raise conflict("There is no key to confirm: call totp_register first.", code="totp-not-registered")
    _check(call, call.platform.crypto.decrypt(account["totp_secret"]), data.code)
    await save_account(call, account, {"totp_enabled": True})
    return [notify("Two-factor sign-in is on: signing in now also asks for a code.", title="Two-factor sign-in")]


async def totp_disable(call: ActionCall, data: TotpCodeInput) -> list[Directive]:
    account = await own_account(call)
    if not account["totp_enabled"]:
        raise conflict("Two-factor sign-in is not on.", code="totp-not-enabled")
    secret = call.platform.crypto.decrypt(account["totp_secret"]) if account["totp_secret"] else None
    _check(call, secret, data.code)
    await save_account(call, account, {"totp_enabled": False, "totp_secret": None})
    return [notify("Two-factor sign-in is off.", title="Two-factor sign-in")]


def register(registry: ActionRegistry) -> None:
    performers: list[tuple[str, type[msgspec.Struct], PerformerFn, str, str]] = [
        (
            "totp_register",
            NoAttributes,
            totp_register,
            "Create an authenticator key (shown once).",
            "Set up two-factor",
        ),
        (
            "totp_verify",
            TotpCodeInput,
            totp_verify,
            "Turn two-factor sign-in on with a first code.",
            "Confirm two-factor",
        ),
        (
            "totp_disable",
            TotpCodeInput,
            totp_disable,
            "Turn two-factor sign-in off with a code.",
            "Turn off two-factor",
        ),
    ]
    for name, kind, run, description, label in performers:
        registry.performer(Performer(f"user.{name}", kind, run, description))
        registry.expose("user_account", name, f"user.{name}", access="user", label=label)
