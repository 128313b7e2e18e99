"""plan_entity: which changes turn one definition into another, and which of them lose data."""

from __future__ import annotations

from typing import Any

import msgspec

from stateyard.auth.permissions import PermissionSpec
from stateyard.entities.diff import has_destructive, plan_entity
from stateyard.entities.schemas import ColumnDef, EntityDef, EntityPermissions, IndexDef, RelationDef

BASE = EntityDef(
    name="order",
    columns=[
        ColumnDef(name="code", type="string", max_length=20),
        ColumnDef(name="total", type="decimal", precision=12, scale=2),
        ColumnDef(name="notes", type="text"),
    ],
    relations=[
        RelationDef(name="customer", type="belongs_to", target="customer"),
        RelationDef(name="tags", type="many_to_many", target="tag"),
        RelationDef(name="lines", type="has_many", target="line"),
    ],
    indexes=[IndexDef(columns=["code", "total"])],
)


def changed(**fields: Any) -> EntityDef:
    return msgspec.structs.replace(BASE, **fields)


def columns(*replacements: ColumnDef, drop: str | None = None) -> list[ColumnDef]:
    by_name = {c.name: c for c in BASE.columns}
    for col in replacements:
        by_name[col.name] = col
    return [c for name, c in by_name.items() if name != drop]


def kinds(current: EntityDef | None, desired: EntityDef) -> list[tuple[str, str | None, bool]]:
    return [(c.kind, c.target, c.destructive) for c in plan_entity(current, desired)]


def test_a_new_entity_is_one_creation() -> None:
    (change,) = plan_entity(None, BASE)
    assert (change.kind, change.entity, change.destructive) == ("create_entity", "order", False)
    assert "3 column(s)" in change.detail


def test_the_same_definition_plans_nothing() -> None:
    assert plan_entity(BASE, changed()) == []


def test_entity_metadata_is_one_harmless_update() -> None:
    desired = changed(
        label="Orders",
        groups=["users", "sales"],
        permissions=EntityPermissions(table=PermissionSpec(owner=["all"]), row=PermissionSpec(owner=["read"])),
    )
    (change,) = plan_entity(BASE, desired)
    assert (change.kind, change.destructive) == ("update_entity", False)
    assert change.detail == "change label, permissions, groups"


def test_adding_a_column() -> None:
    desired = changed(columns=[*BASE.columns, ColumnDef(name="paid", type="boolean")])
    assert kinds(BASE, desired) == [("add_column", "paid", False)]


def test_dropping_a_column_is_destructive() -> None:
    desired = changed(columns=columns(drop="notes"))
    assert kinds(BASE, desired) == [("drop_column", "notes", True)]
    assert has_destructive(plan_entity(BASE, desired))


def test_retyping_is_destructive() -> None:
    desired = changed(columns=columns(ColumnDef(name="notes", type="json")))
    assert kinds(BASE, desired) == [("retype_column", "notes", True)]
    assert "become null" in plan_entity(BASE, desired)[0].detail


def test_retyping_between_text_types_is_still_destructive() -> None:
    desired = changed(columns=columns(ColumnDef(name="code", type="text")))
    assert kinds(BASE, desired) == [("retype_column", "code", True)]


def test_narrowing_storage_is_destructive_and_widening_is_not() -> None:
    narrower = changed(columns=columns(ColumnDef(name="code", type="string", max_length=10)))
    assert kinds(BASE, narrower) == [("resize_column", "code", True)]
    wider = changed(columns=columns(ColumnDef(name="code", type="string", max_length=40)))
    assert kinds(BASE, wider) == [("resize_column", "code", False)]
    unbounded = changed(columns=columns(ColumnDef(name="code", type="string")))
    assert kinds(BASE, unbounded) == [("resize_column", "code", False)]
    fewer_digits = changed(columns=columns(ColumnDef(name="total", type="decimal", precision=8, scale=2)))
    assert kinds(BASE, fewer_digits) == [("resize_column", "total", True)]
    less_scale = changed(columns=columns(ColumnDef(name="total", type="decimal", precision=12, scale=1)))
    assert kinds(BASE, less_scale) == [("resize_column", "total", True)]


def test_bounding_an_unbounded_column_is_destructive() -> None:
    current = changed(columns=columns(ColumnDef(name="code", type="string")))
    assert kinds(current, BASE) == [("resize_column", "code", True)]


def test_a_size_the_storage_ignores_is_a_rule_change() -> None:
    desired = changed(columns=columns(ColumnDef(name="notes", type="text", max_length=5)))
    (change,) = plan_entity(BASE, desired)
    assert (change.kind, change.target, change.destructive) == ("update_column", "notes", False)
    assert change.detail == "change max_length of column 'notes'"


def test_metadata_and_rule_changes_need_no_ddl() -> None:
    desired = changed(
        columns=columns(
            ColumnDef(name="code", type="string", max_length=20, label="Code", required=True, pattern="^[A-Z]+$"),
        )
    )
    (change,) = plan_entity(BASE, desired)
    assert (change.kind, change.target, change.destructive) == ("update_column", "code", False)
    assert change.detail == "change label, required, pattern of column 'code'"


def test_index_flags_are_an_update() -> None:
    desired = changed(columns=columns(ColumnDef(name="code", type="string", max_length=20, unique=True)))
    (change,) = plan_entity(BASE, desired)
    assert (change.kind, change.destructive) == ("update_column", False)
    assert "index" in change.detail


def test_relations_added_and_dropped() -> None:
    added = changed(relations=[*BASE.relations, RelationDef(name="seller", type="belongs_to", target="user_account")])
    assert kinds(BASE, added) == [("add_relation", "seller", False)]
    without = changed(relations=[])
    assert kinds(BASE, without) == [
        ("drop_relation", "customer", True),
        ("drop_relation", "tags", True),
        ("drop_relation", "lines", False),
    ]


def test_replacing_a_relation_drops_then_adds() -> None:
    desired = changed(
        relations=[
            RelationDef(name="customer", type="belongs_to", target="account"),
            *BASE.relations[1:],
        ]
    )
    assert kinds(BASE, desired) == [("drop_relation", "customer", True), ("add_relation", "customer", False)]


def test_changing_a_relation_rule_is_an_update() -> None:
    desired = changed(
        relations=[
            RelationDef(name="customer", type="belongs_to", target="customer", on_delete="cascade"),
            *BASE.relations[1:],
        ]
    )
    assert kinds(BASE, desired) == [("update_relation", "customer", False)]


def test_indexes_added_and_dropped() -> None:
    desired = changed(indexes=[IndexDef(columns=["notes"], unique=True)])
    assert kinds(BASE, desired) == [
        ("add_index", "unique (notes)", False),
        ("drop_index", "(code, total)", False),
    ]


def test_several_changes_come_in_a_stable_order() -> None:
    desired = changed(
        label="Orders",
        columns=[*columns(ColumnDef(name="notes", type="json"), drop="code"), ColumnDef(name="paid", type="boolean")],
        relations=BASE.relations[1:],
        indexes=[],
    )
    assert kinds(BASE, desired) == [
        ("update_entity", None, False),
        ("retype_column", "notes", True),
        ("add_column", "paid", False),
        ("drop_column", "code", True),
        ("drop_relation", "customer", True),
        ("drop_index", "(code, total)", False),
    ]
    assert not has_destructive([c for c in plan_entity(BASE, desired) if not c.destructive])
