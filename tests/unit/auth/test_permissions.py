"""The permission encoding, the allows() decision and its SQL twin row_filter()."""

from __future__ import annotations

import itertools
import uuid

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, create_engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from stateyard.auth.permissions import (
    ALL_VERBS,
    ANONYMOUS,
    GROUP_SHIFT,
    MAX_PERMISSION,
    OWNER_SHIFT,
    SYSTEM,
    Grant,
    PermissionSpec,
    Subject,
    Verb,
    allows,
    decode,
    encode,
    refusal,
    row_filter,
    spec,
    verb_names,
    verbs_from_names,
)

VERBS = ["peek", "read", "create", "update", "delete", "execute", "refer"]
OWNER = uuid.UUID("00000000-0000-7000-8000-000000000001")
MEMBER = uuid.UUID("00000000-0000-7000-8000-000000000002")
STRANGER = uuid.UUID("00000000-0000-7000-8000-000000000003")
GROUP = uuid.UUID("00000000-0000-7000-8000-0000000000aa")
OTHER_GROUP = uuid.UUID("00000000-0000-7000-8000-0000000000bb")


# -- encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        PermissionSpec(),
        PermissionSpec(guest=["peek"]),
        PermissionSpec(owner=VERBS),
        PermissionSpec(guest=["read"], owner=["update", "delete"], group=["peek", "refer"]),
        PermissionSpec(guest=VERBS, owner=VERBS, group=VERBS),
    ],
)
def test_encode_decode_round_trip(value: PermissionSpec) -> None:
    assert decode(encode(value)) == value
    assert encode(decode(encode(value))) == encode(value)


def test_every_integer_in_range_round_trips() -> None:
    for value in (0, 1, 127, 128, 1 << GROUP_SHIFT, (1 << 21) - 1, 0b1010101_0110011_1100110):
        assert encode(decode(value)) == value


def test_classes_occupy_separate_bits() -> None:
    assert spec(guest=["peek"]) == 1
    assert spec(owner=["peek"]) == 1 << OWNER_SHIFT
    assert spec(group=["peek"]) == 1 << GROUP_SHIFT
    assert spec(guest=["refer"]) == int(Verb.REFER)
    assert spec(guest=VERBS) & spec(owner=VERBS) == 0


def test_max_permission_is_every_verb_for_everyone() -> None:
    assert MAX_PERMISSION == (1 << 21) - 1
    assert decode(MAX_PERMISSION) == PermissionSpec(guest=VERBS, owner=VERBS, group=VERBS)


def test_decode_lists_verbs_in_canonical_order() -> None:
    assert decode(spec(owner=["refer", "peek", "read"])).owner == ["peek", "read", "refer"]
    assert verb_names(Verb.DELETE | Verb.PEEK) == ["peek", "delete"]


def test_duplicates_are_harmless() -> None:
    assert spec(owner=["read", "read", "all", "peek"]) == spec(owner=["all"])


def test_all_means_every_verb() -> None:
    assert verbs_from_names(["all"], "owner") == ALL_VERBS
    assert decode(spec(guest=["all"])).guest == VERBS
    assert spec(owner=["all"]) == spec(owner=VERBS)
    assert int(ALL_VERBS) == 127


@pytest.mark.parametrize("bad", ["write", "READ", "", "admin", " read"])
def test_unknown_verb_is_an_error_naming_it_and_the_class(bad: str) -> None:
    with pytest.raises(ValueError, match="unknown permission") as info:
        encode(PermissionSpec(group=["read", bad]))
    assert repr(bad) in str(info.value) and "group" in str(info.value)
    assert "peek" in str(info.value) and "all" in str(info.value)


# -- allows() ---------------------------------------------------------------------------

GUEST = ANONYMOUS
OWNER_SUBJECT = Subject(user_id=OWNER, group_ids=frozenset({OTHER_GROUP}))
MEMBER_SUBJECT = Subject(user_id=MEMBER, group_ids=frozenset({GROUP}))
STRANGER_SUBJECT = Subject(user_id=STRANGER, group_ids=frozenset({OTHER_GROUP}))
ADMIN = Subject(user_id=uuid.uuid4(), is_admin=True)


def grant_for(subject: Subject, permission: int) -> Grant:
    return Grant(permission, OWNER, shared=GROUP in subject.group_ids)


@pytest.mark.parametrize(
    ("permission", "expected"),
    [
        # permission -> which of guest, owner, member, stranger, admin may read
        (0, {"admin"}),
        (spec(guest=["read"]), {"guest", "owner", "member", "stranger", "admin"}),
        (spec(owner=["read"]), {"owner", "admin"}),
        (spec(group=["read"]), {"member", "admin"}),
        (spec(owner=["read"], group=["read"]), {"owner", "member", "admin"}),
        (spec(guest=["peek"], owner=["update"], group=["delete"]), {"admin"}),
        (spec(owner=["all"], group=["all"]), {"owner", "member", "admin"}),
    ],
)
def test_allows_matrix_for_read(permission: int, expected: set[str]) -> None:
    subjects = {
        "guest": GUEST,
        "owner": OWNER_SUBJECT,
        "member": MEMBER_SUBJECT,
        "stranger": STRANGER_SUBJECT,
        "admin": ADMIN,
    }
    allowed = {name for name, s in subjects.items() if allows(s, grant_for(s, permission), Verb.READ)}
    assert allowed == expected


@pytest.mark.parametrize("verb", list(Verb))
def test_each_verb_is_checked_on_its_own_bit(verb: Verb) -> None:
    others = Verb(int(ALL_VERBS) & ~int(verb))
    only_others = spec(guest=verb_names(others), owner=verb_names(others), group=verb_names(others))
    for subject in (GUEST, OWNER_SUBJECT, MEMBER_SUBJECT):
        assert not allows(subject, grant_for(subject, only_others), verb)
    assert allows(ADMIN, grant_for(ADMIN, only_others), verb)
    assert allows(OWNER_SUBJECT, grant_for(OWNER_SUBJECT, spec(owner=verb_names(verb))), verb)


def test_guest_never_matches_owner_or_group_even_without_an_owner() -> None:
    everything = spec(owner=["all"], group=["all"])
    assert not allows(GUEST, Grant(everything, None, shared=True), Verb.READ)
    assert allows(GUEST, Grant(spec(guest=["read"]), None, shared=False), Verb.READ)


def test_unowned_row_grants_no_owner_bits_to_signed_in_users() -> None:
    assert not allows(STRANGER_SUBJECT, Grant(spec(owner=["all"]), None, shared=False), Verb.READ)


def test_group_bits_need_the_share() -> None:
    permission = spec(group=["update"])
    assert allows(MEMBER_SUBJECT, Grant(permission, OWNER, shared=True), Verb.UPDATE)
    assert not allows(MEMBER_SUBJECT, Grant(permission, OWNER, shared=False), Verb.UPDATE)


def test_admin_and_system_pass_everything() -> None:
    for subject in (ADMIN, SYSTEM):
        for verb in Verb:
            assert allows(subject, Grant(0, None, shared=False), verb)


def test_refusal_is_401_for_guests_and_403_for_users_naming_the_permission() -> None:
    guest = refusal(GUEST, Verb.CREATE, "table", "order", "the 'order' table")
    assert (guest.status, guest.code) == (401, "unauthorized")
    assert guest.extensions == {"permission": "create", "scope": "table", "entity": "order"}
    user = refusal(STRANGER_SUBJECT, Verb.REFER, "row", "folder", "folder 1")
    assert (user.status, user.code) == (403, "forbidden")
    assert user.extensions == {"permission": "refer", "scope": "row", "entity": "folder"}
    assert "'refer'" in user.detail


# -- row_filter() -----------------------------------------------------------------------

metadata = MetaData()
ROWS = Table(
    "thing",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("owner_id", Uuid()),
    Column("permission", Integer(), nullable=False),
)
SHARES = Table(
    "row_share",
    metadata,
    Column("id", Uuid(), primary_key=True),
    Column("entity", String(63), nullable=False),
    Column("row_id", Uuid(), nullable=False),
    Column("usergroup_id", Uuid(), nullable=False),
)

PERMISSIONS = [
    0,
    spec(guest=["read"]),
    spec(owner=["read"]),
    spec(group=["read"]),
    spec(guest=["peek"], owner=["update"], group=["peek"]),
    spec(owner=["all"], group=["all"]),
]


@pytest.fixture(scope="module")
def engine():  # type: ignore[no-untyped-def]
    """Every combination of permission, owner and share, as rows in an in-memory database."""
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        for permission, owner, shared_with in itertools.product(
            PERMISSIONS, (OWNER, STRANGER, None), (None, GROUP, OTHER_GROUP)
        ):
            row_id = uuid.uuid4()
            conn.execute(insert(ROWS).values(id=row_id, owner_id=owner, permission=permission))
            if shared_with is not None:
                conn.execute(
                    insert(SHARES).values(id=uuid.uuid4(), entity="thing", row_id=row_id, usergroup_id=shared_with)
                )
            # A share of another entity's row with the same id must not count.
            conn.execute(insert(SHARES).values(id=uuid.uuid4(), entity="other", row_id=row_id, usergroup_id=GROUP))
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    "subject", [GUEST, OWNER_SUBJECT, MEMBER_SUBJECT, STRANGER_SUBJECT, ADMIN, Subject(user_id=MEMBER)]
)
@pytest.mark.parametrize("verb", [Verb.PEEK, Verb.READ, Verb.UPDATE])
def test_row_filter_keeps_exactly_the_rows_allows_would(engine, subject: Subject, verb: Verb) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        rows = conn.execute(select(ROWS)).mappings().all()
        shared = {
            (r.row_id, r.usergroup_id) for r in conn.execute(select(SHARES).where(SHARES.c.entity == "thing")).all()
        }
        kept = set(conn.scalars(select(ROWS.c.id).where(row_filter(subject, ROWS, "thing", verb, SHARES))))
    expected = {
        row["id"]
        for row in rows
        if allows(
            subject,
            Grant(row["permission"], row["owner_id"], shared=any((row["id"], g) in shared for g in subject.group_ids)),
            verb,
        )
    }
    assert kept == expected
    if subject.is_admin:
        assert len(kept) == len(rows)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_row_filter_compiles_to_bit_tests_on_each_dialect(dialect: object) -> None:
    sql = str(
        select(ROWS.c.id)
        .where(row_filter(MEMBER_SUBJECT, ROWS, "thing", Verb.READ, SHARES))
        .compile(dialect=dialect, compile_kwargs={"literal_binds": False})  # type: ignore[arg-type]
    )
    assert sql.count("&") == 3 and "EXISTS" in sql and "row_share" in sql


def test_row_filter_for_guests_and_admins_is_simple() -> None:
    guest_sql = str(row_filter(GUEST, ROWS, "thing", Verb.READ, SHARES).compile(dialect=sqlite.dialect()))
    assert guest_sql.count("&") == 1 and "owner_id" not in guest_sql and "EXISTS" not in guest_sql
    admin_sql = str(row_filter(ADMIN, ROWS, "thing", Verb.READ, SHARES).compile(dialect=sqlite.dialect()))
    assert admin_sql in ("1", "true")
    no_groups = str(row_filter(Subject(user_id=OWNER), ROWS, "thing", Verb.READ, SHARES).compile())
    assert "EXISTS" not in no_groups and "owner_id" in no_groups
