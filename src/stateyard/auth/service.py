"""Users: create them, sign them up and in, and turn a bearer token into a :class:`Subject`."""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth import totp
from stateyard.auth.permissions import ANONYMOUS, SYSTEM, Subject
from stateyard.auth.tokens import Claims, TokenService, invalid_token
from stateyard.core.crypto import Crypto
from stateyard.core.db import Database, on_commit
from stateyard.core.db_errors import integrity_problem
from stateyard.core.errors import FieldError, invalid, unauthorized
from stateyard.core.ids import new_id
from stateyard.crud.store import RowStore
from stateyard.crud.validation import validate_body
from stateyard.entities.registry import Registry
from stateyard.entities.system import ADMINISTRATORS, META_TABLE, SECURITY_REVISION, USERS


@lru_cache(maxsize=16)
def _subject_statement(users: Table, members: Table) -> Select[Any]:
    """The account and its group memberships; built once per schema snapshot, run on every request."""
    return (
        select(users.c.id, users.c.email, users.c.active, users.c.token_version, members.c.source_id)
        .select_from(users.outerjoin(members, members.c.target_id == users.c.id))
        .where(users.c.id == bindparam("_user_id"))
    )


#: Most callers kept resolved in memory; past it the cache starts over.
SUBJECT_CACHE_SIZE = 10_000


class AuthService:
    """Accounts, sign-in, and who a token stands for.

    Resolving a caller (the account and its groups) is the most frequent query of the whole
    platform, so resolved callers are kept in memory. Every change that can alter one (an
    account updated or deleted, a group membership added or removed, a group deleted) bumps
    the security revision in its own transaction; this process forgets its callers when the
    transaction commits, other processes when they next poll (``schema_poll_seconds``).

    Revoking tokens needs no query per request either: signing out one token adds its id to
    ``revoked_token`` (the unexpired ids are kept in memory and reloaded after a security
    change), and signing out everywhere bumps the account's ``token_version``, which the cached
    caller remembers and every token carries as ``tv``.
    """

    def __init__(self, db: Database, registry: Registry, store: RowStore, crypto: Crypto, tokens: TokenService) -> None:
        self.db = db
        self.registry = registry
        self.store = store
        self.crypto = crypto
        self.tokens = tokens
        self._subjects: dict[uuid.UUID, Subject] = {}
        #: Bumped on every forget, so that a lookup racing with a change does not cache stale data.
        self._generation = 0
        self.seen_revision: int | None = None
        #: Ids of revoked, unexpired tokens; None until loaded (again) after a security change.
        self._revoked: frozenset[str] | None = None

    def forget_subjects(self) -> None:
        self._subjects.clear()
        self._revoked = None
        self._generation += 1

    async def security_changed(self, conn: AsyncConnection) -> None:
        """Call inside a transaction that changes who someone is: every process forgets its callers."""
        await conn.execute(
            update(META_TABLE).where(META_TABLE.c.key == SECURITY_REVISION).values(value=META_TABLE.c.value + 1)
        )
        self.forget_subjects()
        on_commit(self._after_commit)

    async def _after_commit(self) -> None:
        self.forget_subjects()

    async def poll(self) -> None:
        """Forget cached callers when another process changed security (called by the watcher)."""
        async with self.db.read() as conn:
            revision = await conn.scalar(select(META_TABLE.c.value).where(META_TABLE.c.key == SECURITY_REVISION))
        if self.seen_revision is not None and revision != self.seen_revision:
            self.forget_subjects()
        self.seen_revision = revision

    async def subject_for(self, authorization: str | None) -> Subject:
        """Who sent a request, from its ``Authorization`` header (no header: a guest)."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("Send the token as 'Authorization: Bearer <token>'.", reason="invalid_request")
        claims = self.tokens.verify(token.strip())
        revoked = self._revoked if self._revoked is not None else await self._load_revoked()
        if claims.jti in revoked:
            raise invalid_token("This token was signed out; sign in again.")
        subject = await self.subject_for_user(claims.sub)
        if claims.tv != subject.token_version:
            raise invalid_token("This token was revoked (signed out everywhere or password changed); sign in again.")
        return subject

    def claims_for(self, authorization: str | None) -> Claims | None:
        """The claims of a bearer token :meth:`subject_for` accepted (checked once: cached)."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.tokens.verify(token.strip())

    async def _load_revoked(self) -> frozenset[str]:
        generation = self._generation
        table = self.registry.snapshot.models["revoked_token"].table
        async with self.db.read() as conn:
            found = await conn.scalars(select(table.c.jti).where(table.c.expires_at > self.tokens.clock.now()))
            revoked = frozenset(found)
        if generation == self._generation:
            self._revoked = revoked
        return revoked

    def issue_token(self, account: Any) -> str:
        """A token for an account row, under its current token version."""
        token, _ = self.tokens.issue(account["id"], account["token_version"] or 1)
        return token

    async def subject_for_user(self, user_id: uuid.UUID) -> Subject:
        cached = self._subjects.get(user_id)
        if cached is not None:
            return cached
        generation = self._generation
        subject = await self._load_subject(user_id)
        if generation == self._generation:
            if len(self._subjects) >= SUBJECT_CACHE_SIZE:
                self._subjects.clear()
            self._subjects[user_id] = subject
        return subject

    async def _load_subject(self, user_id: uuid.UUID) -> Subject:
        snapshot = self.registry.snapshot
        users = snapshot.models["user_account"].table
        members = snapshot.models["usergroup"].join_tables["members"]
        async with self.db.read() as conn:
            rows = (await conn.execute(_subject_statement(users, members), {"_user_id": user_id})).all()
        if not rows or rows[0].active is False:
            raise invalid_token("The account behind this token no longer exists or is disabled.")
        groups = {row.source_id for row in rows if row.source_id is not None}
        everyone = snapshot.group_id(USERS)
        if everyone is not None:
            groups.add(everyone)
        admins = snapshot.group_id(ADMINISTRATORS)
        return Subject(
            user_id=rows[0].id,
            group_ids=frozenset(groups),
            is_admin=admins is not None and admins in groups,
            email=rows[0].email,
            token_version=rows[0].token_version or 1,
        )

    async def create_user(
        self,
        email: Any,
        password: Any,
        *,
        name: Any = None,
        admin: bool = False,
        actor: Subject = SYSTEM,
        errors: list[FieldError] | None = None,
    ) -> dict[str, Any]:
        """A new account owning its own row; administrators also join the administrators group.

        ``errors`` are the caller's own findings (a mismatched confirmation), reported together
        with the account's field errors so that one answer names every bad field.
        """
        snapshot = self.registry.snapshot
        model = snapshot.models["user_account"]
        body: dict[str, Any] = {"email": email, "password": password}
        if name is not None:
            body["name"] = name
        checked = validate_body(model, body, creating=True)
        if password is None:
            checked.errors = [e for e in checked.errors if e.field != "password"]
            checked.errors.append(FieldError("password", "required", "'password' is required"))
        checked.errors.extend(errors or [])
        if checked.errors:
            raise invalid(checked.errors)
        values = dict(checked.values)
        values["password"] = self.crypto.hash_password(values["password"])
        user_id = new_id()
        try:
            async with self.db.write() as conn:
                row = await self.store.insert(
                    conn,
                    snapshot,
                    model,
                    values,
                    actor=Subject(user_id=user_id) if actor is SYSTEM else actor,
                    owner_id=user_id,
                    row_id=user_id,
                )
                if admin:
                    group_model = snapshot.models["usergroup"]
                    admins = snapshot.group_id(ADMINISTRATORS)
                    assert admins is not None
                    group_row = await self.store.load(conn, group_model, admins)
                    assert group_row is not None
                    await self.store.link(
                        conn,
                        snapshot,
                        group_model,
                        "members",
                        group_model.join_tables["members"],
                        group_row,
                        user_id,
                        actor=actor,
                    )
        except IntegrityError as exc:
            raise integrity_problem(exc, "user_account") from None
        return row

    async def authenticate(self, email: Any, password: Any, code: Any = None) -> tuple[str, dict[str, Any]]:
        """A token for the account with this email and password, or one 401 for every failure.

        An account with two-factor sign-in also needs ``code`` from its authenticator: missing, a
        422 naming ``totp`` (asked only once the password is right, so it reveals nothing to others).
        """
        if not isinstance(email, str) or not isinstance(password, str):
            raise invalid(
                [
                    FieldError(f, "required", f"'{f}' must be a string")
                    for f, v in (("email", email), ("password", password))
                    if not isinstance(v, str)
                ]
            )
        snapshot = self.registry.snapshot
        users = snapshot.models["user_account"].table
        async with self.db.read() as conn:
            row = (await conn.execute(select(users).where(users.c.email == email.strip().lower()))).mappings().first()
        if not self.crypto.verify_password(row["password"] if row else None, password) or row is None:
            raise unauthorized("The email or password is wrong.", reason="invalid_credentials")
        if row["active"] is False:
            raise unauthorized("This account is disabled.", reason="account_disabled")
        if row["totp_enabled"]:
            if code is None:
                message = "this account signs in with two factors: send the code of your authenticator app"
                raise invalid([FieldError("totp", "totp_required", message)], detail="Two-factor code required.")
            secret = self.crypto.decrypt(row["totp_secret"]) if row["totp_secret"] else None
            if secret is None or not totp.verify(secret, code, self.tokens.clock.now()):
                raise unauthorized("The two-factor code is wrong or has expired.", reason="invalid_totp")
        return self.issue_token(row), dict(row)

    async def has_admin(self) -> bool:
        snapshot = self.registry.snapshot
        members = snapshot.models["usergroup"].join_tables["members"]
        admins = snapshot.group_id(ADMINISTRATORS)
        async with self.db.read() as conn:
            found = await conn.scalar(select(members.c.target_id).where(members.c.source_id == admins).limit(1))
        return found is not None

    async def find_user(self, email: str) -> dict[str, Any] | None:
        users = self.registry.snapshot.models["user_account"].table
        async with self.db.read() as conn:
            row = (await conn.execute(select(users).where(users.c.email == email.strip().lower()))).mappings().first()
        return dict(row) if row else None
