"""The one permission check, Daptin-style but explained.

A permission value packs three classes of people times seven verbs into one integer:
``guest`` (anyone, signed in or not), ``owner`` (the row's owner) and ``group`` (members of
a group the row or table is shared with). The same encoding guards tables (an entity's
``table_permission``, owned by the entity's owner, shared through its ``groups``) and rows
(each row's ``permission``, owned by ``owner_id``, shared through ``row_share``).
Administrators pass every check. Refusals name the missing verb and scope, so a denied
user learns what to ask for.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from functools import lru_cache

import msgspec
from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true
from sqlalchemy.sql.schema import Table

from stateyard.core.errors import ProblemError, forbidden, unauthorized


class Verb(enum.IntFlag):
    PEEK = 1
    READ = 2
    CREATE = 4
    UPDATE = 8
    DELETE = 16
    EXECUTE = 32
    REFER = 64


VERB_NAMES: dict[str, Verb] = {v.name.lower(): v for v in Verb if v.name}
ALL_VERBS = Verb(sum(VERB_NAMES.values()))
GUEST_SHIFT, OWNER_SHIFT, GROUP_SHIFT = 0, 7, 14


class PermissionSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    """The readable form of a permission value, as schema files and the API show it."""

    guest: list[str] = msgspec.field(default_factory=list)
    owner: list[str] = msgspec.field(default_factory=list)
    group: list[str] = msgspec.field(default_factory=list)


def verbs_from_names(names: Iterable[str], where: str) -> Verb:
    result = Verb(0)
    for name in names:
        if name == "all":
            result |= ALL_VERBS
            continue
        verb = VERB_NAMES.get(name)
        if verb is None:
            known = ", ".join([*VERB_NAMES, "all"])
            raise ValueError(f"{where}: unknown permission {name!r} (known: {known})")
        result |= verb
    return result


def verb_names(verbs: Verb) -> list[str]:
    return [name for name, verb in VERB_NAMES.items() if verbs & verb]


def encode(spec: PermissionSpec) -> int:
    return (
        int(verbs_from_names(spec.guest, "guest")) << GUEST_SHIFT
        | int(verbs_from_names(spec.owner, "owner")) << OWNER_SHIFT
        | int(verbs_from_names(spec.group, "group")) << GROUP_SHIFT
    )


def decode(value: int) -> PermissionSpec:
    mask = int(ALL_VERBS)
    return PermissionSpec(
        guest=verb_names(Verb((value >> GUEST_SHIFT) & mask)),
        owner=verb_names(Verb((value >> OWNER_SHIFT) & mask)),
        group=verb_names(Verb((value >> GROUP_SHIFT) & mask)),
    )


def spec(guest: Iterable[str] = (), owner: Iterable[str] = (), group: Iterable[str] = ()) -> int:
    return encode(PermissionSpec(guest=list(guest), owner=list(owner), group=list(group)))


#: The largest meaningful permission value: every verb for every class of people.
MAX_PERMISSION = spec(guest=["all"], owner=["all"], group=["all"])


class Subject(msgspec.Struct, frozen=True):
    """Who is asking: resolved once per request from the bearer token."""

    user_id: uuid.UUID | None = None
    group_ids: frozenset[uuid.UUID] = frozenset()
    is_admin: bool = False
    email: str | None = None
    #: The account's token version: tokens issued under another one are revoked.
    token_version: int = 1

    @property
    def anonymous(self) -> bool:
        return self.user_id is None


ANONYMOUS = Subject()
SYSTEM = Subject(is_admin=True, email="system")


class Grant(msgspec.Struct, frozen=True):
    """What a permission value grants one subject on one object, before the verb is chosen."""

    permission: int
    owner_id: uuid.UUID | None
    shared: bool  # subject belongs to a group the object is shared with


def allows(subject: Subject, grant: Grant, verb: Verb) -> bool:
    if subject.is_admin:
        return True
    bits = int(verb)
    if grant.permission & (bits << GUEST_SHIFT):
        return True
    if subject.user_id is None:
        return False
    if grant.owner_id == subject.user_id and grant.permission & (bits << OWNER_SHIFT):
        return True
    return bool(grant.shared and grant.permission & (bits << GROUP_SHIFT))


def refusal(subject: Subject, verb: Verb, scope: str, entity: str, what: str) -> ProblemError:
    """A 401 for guests and a 403 for signed-in users, naming the permission that was missing."""
    name = verb.name.lower() if verb.name else str(int(verb))
    extensions = {"permission": name, "scope": scope, "entity": entity}
    if subject.anonymous:
        return unauthorized(f"Sign in: guests lack the '{name}' permission on {what}.", **extensions)
    return forbidden(f"You lack the '{name}' permission on {what}.", **extensions)


def row_filter(subject: Subject, table: Table, entity: str, verb: Verb, share_table: Table) -> ColumnElement[bool]:
    """SQL condition keeping exactly the rows of ``table`` on which ``subject`` holds ``verb``."""
    if subject.is_admin:
        return true()
    return _row_filter(subject, table, entity, verb, share_table)


# SQL expressions are immutable and depend on nothing but these arguments; building one costs more
# than running the query it guards on small pages, so each caller's is kept for its next request.
@lru_cache(maxsize=256)
def _row_filter(subject: Subject, table: Table, entity: str, verb: Verb, share_table: Table) -> ColumnElement[bool]:
    bits = int(verb)
    perm = table.c.permission
    clauses: list[ColumnElement[bool]] = [perm.op("&")(bits << GUEST_SHIFT) != 0]
    if subject.user_id is not None:
        clauses.append(and_(table.c.owner_id == subject.user_id, perm.op("&")(bits << OWNER_SHIFT) != 0))
        if subject.group_ids:
            clauses.append(
                and_(
                    perm.op("&")(bits << GROUP_SHIFT) != 0,
                    shared_with(subject, table, entity, share_table),
                )
            )
    return or_(*clauses) if clauses else false()


def shared_with(subject: Subject, table: Table, entity: str, share_table: Table) -> ColumnElement[bool]:
    """SQL: the row is shared with at least one of the subject's groups."""
    if not subject.group_ids:
        return false()
    return exists(
        select(share_table.c.id).where(
            share_table.c.entity == entity,
            share_table.c.row_id == table.c.id,
            share_table.c.usergroup_id.in_(sorted(subject.group_ids)),
        )
    )
