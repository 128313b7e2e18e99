"""Rules for the system entities behind permissions: row shares, user groups and accounts."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from stateyard.auth.access import require_row
from stateyard.auth.permissions import Verb
from stateyard.auth.service import AuthService
from stateyard.core.db import on_commit
from stateyard.core.errors import FieldError, ProblemError, forbidden, invalid
from stateyard.crud.hooks import RowObserver, WriteContext
from stateyard.crud.store import RowStore
from stateyard.entities.registry import Registry
from stateyard.entities.service import bump_revision
from stateyard.entities.system import ADMINISTRATORS, USERS


class RowShareObserver(RowObserver):
    """Only someone who may update a row may share it with a group."""

    def __init__(self, store: RowStore) -> None:
        self.store = store

    async def before_create(self, ctx: WriteContext, values: dict[str, Any]) -> None:
        entity = ctx.snapshot.get(values["entity"])
        if entity is None:
            raise invalid([FieldError("entity", "not_found", f"there is no entity named '{values['entity']}'")])
        row = await self.store.load(ctx.conn, entity, values["row_id"])
        if row is None:
            raise invalid(
                [FieldError("row_id", "not_found", f"there is no {entity.name} with id '{values['row_id']}'")]
            )
        await require_row(ctx.conn, ctx.snapshot, ctx.subject, entity, row, Verb.UPDATE)

    async def before_update(self, ctx: WriteContext, before: dict[str, Any], changes: dict[str, Any]) -> None:
        raise ProblemError(
            405,
            "method-not-allowed",
            "Method not allowed",
            "A share cannot be changed; delete it and share again.",
        )


class UsergroupObserver(RowObserver):
    """Groups are referred to by name in definitions: changing them changes the schema revision.
    Deleting one, or changing its members, changes who callers are: the security revision."""

    def __init__(self, registry: Registry, auth: AuthService) -> None:
        self.registry = registry
        self.auth = auth

    async def after_link(self, ctx: WriteContext, row: dict[str, Any], relation: str, target_id: uuid.UUID) -> None:
        await self.auth.security_changed(ctx.conn)

    async def after_unlink(self, ctx: WriteContext, row: dict[str, Any], relation: str, target_id: uuid.UUID) -> None:
        await self.auth.security_changed(ctx.conn)

    async def _changed(self, ctx: WriteContext) -> None:
        await bump_revision(ctx.conn)
        on_commit(self.registry.reload)

    async def after_create(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        await self._changed(ctx)

    async def before_update(self, ctx: WriteContext, before: dict[str, Any], changes: dict[str, Any]) -> None:
        if changes.get("name", before["name"]) == before["name"]:
            return
        if before["name"] in (ADMINISTRATORS, USERS):
            raise _builtin_group(before["name"])
        _refuse_if_named(ctx, before["name"], "renamed")

    async def after_update(self, ctx: WriteContext, before: dict[str, Any], after: dict[str, Any]) -> None:
        if before["name"] != after["name"]:
            await self._changed(ctx)

    async def before_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        if row["name"] in (ADMINISTRATORS, USERS):
            raise _builtin_group(row["name"])
        _refuse_if_named(ctx, row["name"], "deleted")

    async def after_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        await self._changed(ctx)
        await self.auth.security_changed(ctx.conn)


def _refuse_if_named(ctx: WriteContext, name: str, change: str) -> None:
    """Definitions name groups (table shares, row shares, encrypted column readers): renaming or
    deleting one they name would silently take access away, so it must be edited out first."""
    entities = sorted(
        model.name
        for model in ctx.snapshot.models.values()
        if name in model.definition.groups
        or name in model.definition.row_groups
        or any(name in (col.readers or ()) for col in model.definition.columns)
    )
    if entities:
        raise ProblemError(
            409,
            "group-in-use",
            "Conflict",
            f"The group '{name}' cannot be {change}: the definitions of {', '.join(entities)} name it "
            "(groups, row_groups or column readers); remove it there first.",
            entities=entities,
        )


def _builtin_group(name: str) -> ProblemError:
    return ProblemError(409, "system-group", "Conflict", f"The built-in group '{name}' cannot be renamed or deleted.")


#: Account fields people change only through the account actions, which check what they must
#: (the current password, a two-factor code): a stolen token alone must not change them.
#: Administrators may still set them (a forgotten password, a lost authenticator).
CREDENTIAL_FIELDS = ("password", "token_version", "totp_secret", "totp_enabled")


class UserAccountObserver(RowObserver):
    """A running install always keeps one active administrator: deleting or disabling the last one
    would lock everybody out of the definitions, with no way back through the API. Any change to
    an account may change who its tokens stand for: the security revision moves. A new password
    revokes the account's older tokens."""

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    async def after_update(self, ctx: WriteContext, before: dict[str, Any], after: dict[str, Any]) -> None:
        await self.auth.security_changed(ctx.conn)

    async def after_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        await self.auth.security_changed(ctx.conn)

    async def before_update(self, ctx: WriteContext, before: dict[str, Any], changes: dict[str, Any]) -> None:
        credentials = [name for name in CREDENTIAL_FIELDS if name in changes]
        if credentials and not ctx.subject.is_admin:
            raise forbidden(
                f"{', '.join(credentials)} cannot be changed here: use the actions password_change, "
                "totp_register, totp_verify, totp_disable or signout_all of user_account.",
                fields=credentials,
            )
        if "password" in changes and "token_version" not in changes:
            changes["token_version"] = (before.get("token_version") or 1) + 1
        if changes.get("active", True) is False and before["active"] is not False:
            await _refuse_last_admin(ctx, before, "disabled")

    async def before_delete(self, ctx: WriteContext, row: dict[str, Any]) -> None:
        await _refuse_last_admin(ctx, row, "deleted")


async def _refuse_last_admin(ctx: WriteContext, user: dict[str, Any], change: str) -> None:
    admins_id = ctx.snapshot.group_id(ADMINISTRATORS)
    groups = ctx.snapshot.models["usergroup"]
    members = groups.join_tables["members"]
    users = ctx.snapshot.models["user_account"].table
    active_admins = (
        (
            await ctx.conn.execute(
                select(members.c.target_id)
                .join(users, users.c.id == members.c.target_id)
                .where(members.c.source_id == admins_id, users.c.active.is_not(False))
            )
        )
        .scalars()
        .all()
    )
    if list(active_admins) == [user["id"]]:
        raise ProblemError(
            409,
            "last-administrator",
            "Conflict",
            f"This is the last active administrator; it cannot be {change}. Make someone else an administrator first.",
        )
