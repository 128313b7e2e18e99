"""The first performers: sign up and sign in (the other account actions register from here too)."""

from __future__ import annotations

import msgspec

from stateyard.actions.directives import Directive, notify, record, store_set
from stateyard.actions.registry import ActionCall, ActionRegistry, Performer
from stateyard.auth import account_actions, recovery, two_factor
from stateyard.core.errors import FieldError


class SignupInput(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str
    password_confirm: str
    name: str | None = None


class SigninInput(msgspec.Struct, forbid_unknown_fields=True):
    email: str
    password: str
    #: The authenticator app's code, for accounts with two-factor sign-in.
    totp: str | None = None


async def signup(call: ActionCall, data: SignupInput) -> list[Directive]:
    mismatch: list[FieldError] = []
    if data.password != data.password_confirm:
        mismatch.append(FieldError("password_confirm", "mismatch", "does not match the password"))
    platform = call.platform
    row = await platform.auth.create_user(data.email, data.password, name=data.name, errors=mismatch)
    subject = await platform.auth.subject_for_user(row["id"])
    shown = await platform.records.present(subject, "user_account", row)
    return [
        record("user_account", shown),
        notify("Your account is ready; sign in to continue.", title="Signed up"),
    ]


async def signin(call: ActionCall, data: SigninInput) -> list[Directive]:
    token, user = await call.platform.auth.authenticate(data.email, data.password, data.totp)
    return [
        store_set("token", token),
        notify(f"Signed in as {user['email']}.", title="Signed in"),
    ]


def register(registry: ActionRegistry) -> None:
    registry.performer(Performer("user.signup", SignupInput, signup, "Create an account."))
    registry.performer(Performer("user.signin", SigninInput, signin, "Exchange email and password for a token."))
    registry.expose("user_account", "signup", "user.signup", access="guest", label="Sign up")
    registry.expose("user_account", "signin", "user.signin", access="guest", label="Sign in")
    account_actions.register(registry)
    recovery.register(registry)
    two_factor.register(registry)
