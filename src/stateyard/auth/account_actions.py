"""Account actions of signed-in users: sign out, change the password, claim a fresh install.

Each writes in the action's one transaction with the platform's row store, so the account's
audit record comes with the change, and calls ``security_changed`` whenever it changes which
tokens stand for someone: every process then forgets its cached callers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import delete, select

from stateyard.actions.directives import Directive, notify, store_set
from stateyard.actions.registry import ActionCall, ActionRegistry, Performer, PerformerFn
from stateyard.auth.tokens import invalid_token
from stateyard.core.errors import FieldError, bad_request, forbidden, invalid, unauthorized
from stateyard.entities.registry import Snapshot
from stateyard.entities.system import ADMINISTRATORS
from stateyard.entities.types import FieldProblem


class NoAttributes(msgspec.Struct, forbid_unknown_fields=True):
    pass


class PasswordChangeInput(msgspec.Struct, forbid_unknown_fields=True):
    current_password: str
    new_password: str
    new_password_confirm: str


def signed_in(call: ActionCall) -> uuid.UUID:
    """The caller's account id; the caller must be signed in (a declared action may run the performer too)."""
    if call.caller.user_id is None:
        raise unauthorized(f"Sign in to call '{call.action}'.")
    return call.caller.user_id


async def own_account(call: ActionCall) -> dict[str, Any]:
    """The caller's account row, locked for the change (this opens the action's transaction)."""
    user_id = signed_in(call)
    conn = await call.connection()
    row = await call.platform.store.load(conn, call.snapshot.models["user_account"], user_id, for_update=True)
    if row is None or row["active"] is False:
        raise invalid_token("The account behind this token no longer exists or is disabled.")
    return row


async def save_account(
    call: ActionCall, before: dict[str, Any], changes: dict[str, Any], *, revoke: bool = False
) -> dict[str, Any]:
    """Change the account (audited); ``revoke`` also revokes every token issued before."""
    conn = await call.connection()
    if revoke:
        changes = {**changes, "token_version": (before["token_version"] or 1) + 1}
    snapshot = call.snapshot
    model = snapshot.models["user_account"]
    after = await call.platform.store.update(conn, snapshot, model, before, changes, actor=call.caller)
    if revoke:
        await call.platform.auth.security_changed(conn)
    return after


def new_password_errors(snapshot: Snapshot, password: str, confirm: str) -> list[FieldError]:
    """``new_password`` checked like the account's password column, and its confirmation."""
    model = snapshot.models["user_account"]
    errors = []
    try:
        model.types["password"].validate(model.columns["password"], password)
    except FieldProblem as exc:
        errors.append(FieldError("new_password", exc.code, exc.message))
    if password != confirm:
        errors.append(FieldError("new_password_confirm", "mismatch", "does not match the new password"))
    return errors


async def signout(call: ActionCall, data: NoAttributes) -> list[Directive]:
    user_id = signed_in(call)
    token = call.token
    if token is None or token.sub != user_id:
        raise bad_request(
            "This action signs out the bearer token it is called with, and there is none.", code="no-token"
        )
    platform = call.platform
    conn = await call.connection()
    snapshot = call.snapshot
    model = snapshot.models["revoked_token"]
    # Tokens past their expiry are refused anyway: their entries are no longer needed.
    await conn.execute(delete(model.table).where(model.table.c.expires_at <= platform.clock.now()))
    values = {"jti": token.jti, "user_id": token.sub, "expires_at": datetime.fromtimestamp(token.exp, UTC)}
    await platform.store.insert(conn, snapshot, model, values, actor=call.caller, owner_id=user_id)
    await platform.auth.security_changed(conn)
    return [store_set("token", None), notify("You are signed out.", title="Signed out")]


async def signout_all(call: ActionCall, data: NoAttributes) -> list[Directive]:
    await save_account(call, await own_account(call), {}, revoke=True)
    return [store_set("token", None), notify("You are signed out on every device.", title="Signed out")]


async def password_change(call: ActionCall, data: PasswordChangeInput) -> list[Directive]:
    user_id = signed_in(call)
    platform = call.platform
    model = call.snapshot.models["user_account"]
    # Hashing takes a while: it happens before the write transaction, whose store.update then
    # refuses (409) if the account changed in between.
    async with platform.db.read() as conn:
        row = await platform.store.load(conn, model, user_id)
    if row is None or row["active"] is False:
        raise invalid_token("The account behind this token no longer exists or is disabled.")
    errors = []
    if not platform.crypto.verify_password(row["password"], data.current_password):
        errors.append(FieldError("current_password", "wrong", "this is not your current password"))
    errors += new_password_errors(call.snapshot, data.new_password, data.new_password_confirm)
    if errors:
        raise invalid(errors)
    changed = await save_account(call, row, {"password": platform.crypto.hash_password(data.new_password)}, revoke=True)
    return [
        store_set("token", platform.auth.issue_token(changed)),
        notify("Your password is changed; your other sessions are signed out.", title="Password changed"),
    ]


async def become_admin(call: ActionCall, data: NoAttributes) -> list[Directive]:
    """Only while no active administrator exists: the first user of an install set up without one."""
    user_id = signed_in(call)
    platform = call.platform
    conn = await call.connection()
    snapshot = call.snapshot
    groups = snapshot.models["usergroup"]
    admins_id = snapshot.group_id(ADMINISTRATORS)
    assert admins_id is not None
    # Locking the group row makes concurrent claims on PostgreSQL take turns (SQLite has one writer).
    group_row = await platform.store.load(conn, groups, admins_id, for_update=True)
    assert group_row is not None
    members = groups.join_tables["members"]
    users = snapshot.models["user_account"].table
    active_admin = await conn.scalar(
        select(members.c.target_id)
        .join(users, users.c.id == members.c.target_id)
        .where(members.c.source_id == admins_id, users.c.active.is_not(False))
        .limit(1)
    )
    if active_admin is not None:
        raise forbidden("This install already has an administrator; ask them for the access you need.")
    await platform.store.link(
        conn,
        snapshot,
        groups,
        "members",
        members,
        group_row,
        user_id,
        actor=call.caller,
    )
    await platform.auth.security_changed(conn)
    return [notify("You are now an administrator of this install.", title="Administrator")]


def register(registry: ActionRegistry) -> None:
    performers: list[tuple[str, type[msgspec.Struct], PerformerFn, str, str]] = [
        ("signout", NoAttributes, signout, "Sign out the token the action is called with.", "Sign out"),
        ("signout_all", NoAttributes, signout_all, "Revoke every token of the caller.", "Sign out everywhere"),
        (
            "password_change",
            PasswordChangeInput,
            password_change,
            "Change the password (the current one is needed) and revoke older tokens; answers a fresh token.",
            "Change password",
        ),
        (
            "become_admin",
            NoAttributes,
            become_admin,
            "Become an administrator while the install has no active one.",
            "Become administrator",
        ),
    ]
    for name, kind, run, description, label in performers:
        registry.performer(Performer(f"user.{name}", kind, run, description))
        registry.expose("user_account", name, f"user.{name}", access="user", label=label)
