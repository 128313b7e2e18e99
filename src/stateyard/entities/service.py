"""Create and change entity definitions, with their tables, in one transaction.

Every way of changing a definition (``POST /api/entity``, a new ``entity_column`` row,
``stateyard schema apply``, the platform's own bootstrap) becomes "make these entities look
like this": validate, plan (:mod:`stateyard.entities.diff`), refuse destructive steps unless
allowed, then write the definition rows (audited like any row) and the DDL together, and
bump the schema revision so every process reloads.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.permissions import SYSTEM, Subject, encode
from stateyard.core.db import Database
from stateyard.core.errors import ProblemError, conflict, invalid_definition, not_found
from stateyard.crud.store import RowStore
from stateyard.entities.compiler import Model, column_indexes, identifier
from stateyard.entities.ddl import Migrator
from stateyard.entities.diff import Change, _narrower, has_destructive, plan_entity
from stateyard.entities.registry import Registry, Snapshot, compile_snapshot, read_revision, read_snapshot
from stateyard.entities.schemas import ColumnDef, EntityDef, GroupDef, IndexDef, RelationDef
from stateyard.entities.system import META_TABLE, SCHEMA_REVISION, SYSTEM_ENTITY_NAMES, system_definitions
from stateyard.entities.types import column_type
from stateyard.entities.validation import definition_errors, name_problem

COLUMN_ROW_FIELDS = tuple(f.name for f in msgspec.structs.fields(ColumnDef))
RELATION_ROW_FIELDS = tuple(f.name for f in msgspec.structs.fields(RelationDef))
#: Serialises schema changes across processes on PostgreSQL (SQLite has one writer anyway).
SCHEMA_LOCK_KEY = 0x5374617465  # "State"


class ApplyResult(msgspec.Struct):
    changes: list[Change]
    applied: bool


def entity_row_values(definition: EntityDef) -> dict[str, Any]:
    return {
        "name": definition.name,
        "label": definition.label,
        "description": definition.description,
        "table_permission": encode(definition.permissions.table),
        "row_permission": encode(definition.permissions.row),
        "groups": list(definition.groups),
        "row_groups": list(definition.row_groups),
        "indexes": msgspec.to_builtins(definition.indexes),
        "read_only": definition.read_only,
        "audited": definition.audited,
        "system": definition.system,
    }


def column_row_values(col: ColumnDef, position: int, *, system: bool) -> dict[str, Any]:
    values = {k: getattr(col, k) for k in COLUMN_ROW_FIELDS}
    for flag in ("required", "unique", "indexed"):
        values[flag] = bool(values[flag])
    values.update(position=position, system=system)
    return values


def relation_row_values(rel: RelationDef, *, system: bool) -> dict[str, Any]:
    values = {k: getattr(rel, k) for k in RELATION_ROW_FIELDS}
    values.update(required=bool(rel.required), system=system)
    return values


def merge_system(definition: EntityDef) -> EntityDef:
    """A builder's declaration of a system entity adds to the shipped one; it cannot remove from it."""
    shipped = system_definitions().get(definition.name)
    if shipped is None:
        return definition
    own_columns = {c.name for c in shipped.columns}
    own_relations = {r.name for r in shipped.relations}
    changed = [c.name for c in definition.columns if shipped.column(c.name) not in (None, c)]
    changed += [r.name for r in definition.relations if shipped.relation(r.name) not in (None, r)]
    if changed:
        raise ProblemError(
            409,
            "system-entity",
            "Conflict",
            f"'{definition.name}.{changed[0]}' belongs to the platform and cannot be changed; "
            "declare it as shipped or leave it out.",
        )
    # What a declaration leaves at its default keeps the shipped value: a file that only adds a
    # column to user_account must not open the table up to the default permissions.
    blank = EntityDef(name=definition.name)
    kept = {
        field: getattr(shipped, field)
        for field in ("label", "description", "permissions", "groups", "row_groups")
        if getattr(definition, field) == getattr(blank, field)
    }
    return msgspec.structs.replace(
        definition,
        **kept,
        columns=[*shipped.columns, *(c for c in definition.columns if c.name not in own_columns)],
        relations=[*shipped.relations, *(r for r in definition.relations if r.name not in own_relations)],
        indexes=[*shipped.indexes, *(i for i in definition.indexes if i not in shipped.indexes)],
        read_only=shipped.read_only,
        audited=shipped.audited,
        system=True,
    )


#: Another area's objections to a change of an entity: (definitions after the change, or None when
#: the entity is dropped; entity name) -> sentences naming what would break.
DependencyCheck = Callable[[Snapshot | None, str], list[str]]


class EntityService:
    def __init__(self, db: Database, registry: Registry, store: RowStore) -> None:
        self.db = db
        self.registry = registry
        self.store = store
        #: Machines, actions and others refuse changes that would break what they declared.
        self.dependency_checks: list[DependencyCheck] = []

    def _dependents(self, after: Snapshot | None, entity: str) -> None:
        problems = [p for check in self.dependency_checks for p in check(after, entity)]
        if problems:
            raise conflict(
                f"'{entity}' is still used: {'; '.join(problems)}. Change those first.",
                code="in-use",
                entity=entity,
                dependents=problems,
            )

    async def apply(
        self,
        definitions: Sequence[EntityDef],
        *,
        actor: Subject = SYSTEM,
        groups: Sequence[GroupDef] = (),
        allow_destructive: bool = False,
        dry_run: bool = False,
        bootstrap: bool = False,
        expect_new: bool = False,
    ) -> ApplyResult:
        """Make the named entities (and groups) match ``definitions``; other entities stay as they are."""
        async with self.db.ddl() as conn:
            await self._lock(conn)
            result = await self._apply(
                conn,
                definitions,
                actor=actor,
                groups=groups,
                allow_destructive=allow_destructive,
                dry_run=dry_run,
                bootstrap=bootstrap,
                expect_new=expect_new,
            )
        if result.applied:
            await self.registry.reload()
        return result

    async def _apply(
        self,
        conn: AsyncConnection,
        definitions: Sequence[EntityDef],
        *,
        actor: Subject,
        groups: Sequence[GroupDef],
        allow_destructive: bool,
        dry_run: bool,
        bootstrap: bool,
        expect_new: bool,
    ) -> ApplyResult:
        current = await self._current(conn)
        desired = [d if bootstrap else merge_system(d) for d in definitions]
        if expect_new:
            for d in desired:
                if d.name in current.models:
                    raise conflict(f"An entity named '{d.name}' already exists.", code="duplicate", entity=d.name)
        overlay = {name: m.definition for name, m in current.models.items()}
        overlay.update({d.name: d for d in desired})
        group_names = set(current.groups) | {g.name for g in groups}
        errors = []
        for d in desired:
            prefix = f"{d.name}." if len(desired) > 1 else ""
            others = {n: o for n, o in overlay.items() if n != d.name}
            errors += [
                msgspec.structs.replace(e, field=prefix + e.field)
                for e in definition_errors(
                    d, others, group_names, allow_system=bootstrap or d.name in SYSTEM_ENTITY_NAMES
                )
            ]
        errors += _dangling_has_many(overlay, {d.name for d in desired})
        if errors:
            raise invalid_definition(errors)
        changes = [c for d in desired for c in plan_entity(overlay_current(current, d.name), d)]
        changes += await self._group_changes(conn, current, groups)
        if not bootstrap:
            for d in desired:
                changes_for = [c for c in changes if c.entity == d.name]
                _refuse_system_changes(d.name, changes_for)
            existing = [d.name for d in desired if overlay_current(current, d.name) is not None]
            if existing and self.dependency_checks and changes:
                after = compile_snapshot(current.revision, [(d, None, None) for d in overlay.values()], current.groups)
                for name in existing:
                    self._dependents(after, name)
        if dry_run:
            return ApplyResult(changes, applied=False)
        if has_destructive(changes) and not allow_destructive:
            raise conflict(
                "The change would lose data; repeat it with allow_destructive to go ahead.",
                code="destructive-change",
                changes=msgspec.to_builtins([c for c in changes if c.destructive]),
            )
        if not changes:
            return ApplyResult([], applied=False)
        await self._write_groups(conn, current, groups, actor)
        groups_now = await self._group_ids(conn, current)
        target = compile_snapshot(
            current.revision,
            [(d, current.models[n].row_id if n in current.models else None, None) for n, d in overlay.items()],
            groups_now,
        )
        for d in desired:
            await self._execute(conn, current, target, d, actor, bootstrap=bootstrap)
        await bump_revision(conn)
        return ApplyResult(changes, applied=True)

    async def _execute(
        self,
        conn: AsyncConnection,
        current: Snapshot,
        target: Snapshot,
        desired: EntityDef,
        actor: Subject,
        *,
        bootstrap: bool,
    ) -> None:
        entity_model = current.models["entity"]
        column_model = current.models["entity_column"]
        relation_model = current.models["entity_relation"]
        old = current.models.get(desired.name)
        if old is not None and old.row_id is None:
            old = None  # shipped but not stored yet: the first bootstrap creates it
        new = target.models[desired.name]
        system_columns = {c.name for c in system_definitions()[desired.name].columns} if desired.system else set()
        system_relations = {r.name for r in system_definitions()[desired.name].relations} if desired.system else set()
        if old is None:
            entity_row = await self.store.insert(
                conn, current, entity_model, entity_row_values(desired), actor=actor, owner_id=actor.user_id
            )
            for position, col in enumerate(desired.columns):
                await self.store.insert(
                    conn,
                    current,
                    column_model,
                    {
                        **column_row_values(col, position, system=col.name in system_columns),
                        "entity_id": entity_row["id"],
                    },
                    actor=actor,
                    owner_id=actor.user_id,
                )
            for rel in desired.relations:
                await self.store.insert(
                    conn,
                    current,
                    relation_model,
                    {
                        **relation_row_values(rel, system=rel.name in system_relations),
                        "entity_id": entity_row["id"],
                    },
                    actor=actor,
                    owner_id=actor.user_id,
                )
            tables = [new.table, *new.join_tables.values()]
            await conn.run_sync(lambda sync: Migrator(sync).create_tables(target.metadata, tables))
            return
        entity_id = old.row_id
        assert entity_id is not None
        await self._sync_entity_row(conn, current, entity_id, desired, actor)
        await self._sync_columns(conn, current, old, new, entity_id, system_columns, actor)
        await self._sync_relations(conn, current, target, old, new, entity_id, system_relations, actor)
        await self._sync_indexes(conn, old, new)

    async def _sync_entity_row(
        self,
        conn: AsyncConnection,
        current: Snapshot,
        entity_id: uuid.UUID,
        desired: EntityDef,
        actor: Subject,
    ) -> None:
        model = current.models["entity"]
        before = await self.store.load(conn, model, entity_id, for_update=True)
        assert before is not None
        wanted = entity_row_values(desired)
        changes = {k: v for k, v in wanted.items() if before.get(k) != v}
        if changes:
            await self.store.update(conn, current, model, before, changes, actor=actor)

    async def _sync_columns(
        self,
        conn: AsyncConnection,
        current: Snapshot,
        old: Model,
        new: Model,
        entity_id: uuid.UUID,
        system_columns: set[str],
        actor: Subject,
    ) -> None:
        column_model = current.models["entity_column"]
        rows = await _child_rows(conn, column_model, entity_id)
        table = old.table
        for name in old.columns:
            if name not in new.columns:
                await conn.run_sync(lambda sync, n: Migrator(sync).drop_column(table, n), name)
                await self.store.delete(conn, current, column_model, rows[name], actor=actor)
        for position, (name, col) in enumerate(new.columns.items()):
            old_col = old.columns.get(name)
            if old_col is None:
                await self._add_column(conn, old, new, col)
                await self.store.insert(
                    conn,
                    current,
                    column_model,
                    {
                        **column_row_values(col, position, system=name in system_columns),
                        "entity_id": entity_id,
                    },
                    actor=actor,
                    owner_id=actor.user_id,
                )
                continue
            # A narrower column is rebuilt like a retyped one, so that values that no longer fit
            # become null instead of failing the ALTER (PostgreSQL) or staying too long (SQLite).
            rebuilt = old_col.type != col.type or _narrower(old_col, col)
            if rebuilt:
                convert = _converter(col)
                await conn.run_sync(
                    lambda sync, c, f: Migrator(sync).retype_column(table, new.table.c[c.name], f), col, convert
                )
                # The rebuild dropped every index on the column, declared composite ones included.
                for index in new.table.indexes:
                    if name in {c.name for c in index.columns}:
                        await self._create_index(conn, new, index)
            elif repr(old.table.c[name].type) != repr(new.table.c[name].type):
                await conn.run_sync(lambda sync, n: Migrator(sync).resize_column(table.name, new.table.c[n]), name)
            if not rebuilt and (old_col.unique, old_col.indexed) != (col.unique, col.indexed):
                await self._reindex_column(conn, old, new, name)
            wanted = column_row_values(col, position, system=name in system_columns)
            before = rows[name]
            changes = {k: v for k, v in wanted.items() if before.get(k) != v}
            if changes:
                await self.store.update(conn, current, column_model, before, changes, actor=actor)

    async def _add_column(self, conn: AsyncConnection, old: Model, new: Model, col: ColumnDef) -> None:
        table = old.table
        count = await conn.run_sync(lambda sync: Migrator(sync).row_count(table.name))
        if col.required and col.default is None and count:
            raise conflict(
                f"'{col.name}' is required, so the {count} existing row(s) of '{new.name}' need a default value.",
                code="needs-default",
                errors=[_field_error(col.name, "default_required", "a required column added to rows needs a default")],
            )
        default = column_type(col.type).validate(col, col.default) if col.default is not None else None
        await conn.run_sync(lambda sync: Migrator(sync).add_column(table, new.table.c[col.name], default))
        index = column_indexes(new.name, col.name, unique=col.unique, indexed=col.indexed)
        if index is not None:
            await self._create_index(conn, new, index)

    async def _reindex_column(self, conn: AsyncConnection, old: Model, new: Model, name: str) -> None:
        for prefix in ("uq", "ix"):
            index_name = identifier(prefix, old.name, name)
            if any(i.name == index_name for i in old.table.indexes):
                await conn.run_sync(lambda sync, i: Migrator(sync).drop_index(old.table.name, i), index_name)
        col = new.columns[name]
        index = column_indexes(new.name, name, unique=col.unique, indexed=col.indexed)
        if index is not None:
            await self._create_index(conn, new, index)

    async def _create_index(self, conn: AsyncConnection, model: Model, index: Any) -> None:
        bound = next(i for i in model.table.indexes if i.name == index.name)
        try:
            async with conn.begin_nested():
                await conn.run_sync(lambda sync: Migrator(sync).create_index(bound))
        except IntegrityError:
            columns = ", ".join(c.name for c in bound.columns)
            raise conflict(
                f"Cannot make ({columns}) unique on '{model.name}': existing rows share values.",
                code="duplicate",
                entity=model.name,
            ) from None

    async def _sync_relations(
        self,
        conn: AsyncConnection,
        current: Snapshot,
        target: Snapshot,
        old: Model,
        new: Model,
        entity_id: uuid.UUID,
        system_relations: set[str],
        actor: Subject,
    ) -> None:
        relation_model = current.models["entity_relation"]
        rows = await _child_rows(conn, relation_model, entity_id)
        for name, old_rel in old.relations.items():
            new_rel = new.relations.get(name)
            if new_rel is not None and (new_rel.type, new_rel.target) == (old_rel.type, old_rel.target):
                continue
            await self._drop_relation_storage(conn, old, old_rel)
            await self.store.delete(conn, current, relation_model, rows[name], actor=actor)
            rows.pop(name)
        for name, rel in new.relations.items():
            wanted = relation_row_values(rel, system=name in system_relations)
            if name not in rows:
                await self._add_relation_storage(conn, target, old, new, rel)
                await self.store.insert(
                    conn,
                    current,
                    relation_model,
                    {**wanted, "entity_id": entity_id},
                    actor=actor,
                    owner_id=actor.user_id,
                )
                continue
            old_rel = old.relations[name]
            if rel.type == "belongs_to" and rel.on_delete != old_rel.on_delete:
                fk_column = new.table.c[rel.column]
                await conn.run_sync(lambda sync, c: Migrator(sync).replace_foreign_key(old.table, c), fk_column)
            before = rows[name]
            changes = {k: v for k, v in wanted.items() if before.get(k) != v}
            if changes:
                await self.store.update(conn, current, relation_model, before, changes, actor=actor)

    async def _add_relation_storage(
        self, conn: AsyncConnection, target: Snapshot, old: Model, new: Model, rel: RelationDef
    ) -> None:
        if rel.type == "belongs_to":
            column = new.table.c[rel.column]
            await conn.run_sync(lambda sync: Migrator(sync).add_column(old.table, column))
            index_name = identifier("ix", new.name, rel.column)
            index = next(i for i in new.table.indexes if i.name == index_name)
            await conn.run_sync(lambda sync: Migrator(sync).create_index(index))
        elif rel.type == "many_to_many":
            join = new.join_tables[rel.name]
            await conn.run_sync(lambda sync: Migrator(sync).create_tables(target.metadata, [join]))

    async def _drop_relation_storage(self, conn: AsyncConnection, old: Model, rel: RelationDef) -> None:
        if rel.type == "belongs_to":
            await conn.run_sync(lambda sync: Migrator(sync).drop_column(old.table, rel.column))
        elif rel.type == "many_to_many":
            join = old.join_tables[rel.name]
            await conn.run_sync(lambda sync: Migrator(sync).drop_table(join.name))

    async def _sync_indexes(self, conn: AsyncConnection, old: Model, new: Model) -> None:
        def declared(model: Model) -> dict[str, IndexDef]:
            return {identifier("uq" if i.unique else "ix", model.name, *i.columns): i for i in model.definition.indexes}

        before, after = declared(old), declared(new)
        for name in before.keys() - after.keys():
            await conn.run_sync(lambda sync, n: Migrator(sync).drop_index(old.table.name, n), name)
        for name in after.keys() - before.keys():
            index = next(i for i in new.table.indexes if i.name == name)
            await self._create_index(conn, new, index)

    # -- groups ------------------------------------------------------------------------

    async def _group_changes(
        self, conn: AsyncConnection, current: Snapshot, groups: Sequence[GroupDef]
    ) -> list[Change]:
        model = current.models["usergroup"]
        changes = []
        for group in groups:
            row = (await conn.execute(select(model.table).where(model.table.c.name == group.name))).mappings().first()
            if row is None:
                changes.append(Change("update_entity", "usergroup", f"create group '{group.name}'", target=group.name))
            elif (row["label"], row["description"]) != (group.label, group.description):
                changes.append(Change("update_entity", "usergroup", f"change group '{group.name}'", target=group.name))
        return changes

    async def _write_groups(
        self, conn: AsyncConnection, current: Snapshot, groups: Sequence[GroupDef], actor: Subject
    ) -> None:
        model = current.models["usergroup"]
        created: list[dict[str, Any]] = []
        for group in groups:
            problem = name_problem(group.name, "group")
            if problem:
                raise invalid_definition([_field_error("groups", "invalid_name", problem)])
            row = (await conn.execute(select(model.table).where(model.table.c.name == group.name))).mappings().first()
            values = {"name": group.name, "label": group.label, "description": group.description}
            if row is None:
                created.append(
                    await self.store.insert(conn, current, model, values, actor=actor, owner_id=actor.user_id)
                )
            elif (row["label"], row["description"]) != (group.label, group.description):
                await self.store.update(conn, current, model, dict(row), values, actor=actor)
        if created and not model.row_group_ids:
            # The group model was compiled before these groups existed: share them now.
            ids = await self._group_ids(conn, current)
            share_with = frozenset(ids[g] for g in model.definition.row_groups if g in ids)
            for group_row in created:
                if share_with:
                    await self.store.share(conn, current, "usergroup", group_row["id"], share_with)

    async def _group_ids(self, conn: AsyncConnection, current: Snapshot) -> dict[str, uuid.UUID]:
        table = current.models["usergroup"].table
        return {r.name: r.id for r in (await conn.execute(select(table.c.id, table.c.name))).all()}

    # -- explicit destructive operations ------------------------------------------------

    async def drop_entity(
        self, name: str, *, actor: Subject, allow_destructive: bool, dry_run: bool = False
    ) -> ApplyResult:
        async with self.db.ddl() as conn:
            await self._lock(conn)
            current = await self._current(conn)
            model = current.model(name)
            if model.definition.system:
                raise conflict(f"'{name}' is a system entity and cannot be dropped.", code="system-entity")
            referrers = [
                f"{m.name}.{r.name}"
                for m in current.models.values()
                if m.name != name
                for r in m.definition.relations
                if r.target == name
            ]
            if referrers:
                raise conflict(
                    f"'{name}' is still referenced by {', '.join(referrers)}; remove those relations first.",
                    code="in-use",
                    referenced_by=referrers,
                )
            self._dependents(None, name)
            rows = await conn.run_sync(lambda sync: Migrator(sync).row_count(model.table.name))
            changes = [Change("drop_entity", name, f"drop entity '{name}' and its {rows} row(s)", destructive=True)]
            if dry_run:
                return ApplyResult(changes, applied=False)
            if not allow_destructive:
                raise conflict(
                    "Dropping an entity loses its data; repeat it with allow_destructive to go ahead.",
                    code="destructive-change",
                    changes=msgspec.to_builtins(changes),
                )
            for join in model.join_tables.values():
                await conn.run_sync(lambda sync, j: Migrator(sync).drop_table(j), join.name)
            await conn.run_sync(lambda sync: Migrator(sync).drop_table(model.table.name))
            entity_model = current.models["entity"]
            assert model.row_id is not None
            before = await self.store.load(conn, entity_model, model.row_id, for_update=True)
            assert before is not None
            for child in ("entity_column", "entity_relation"):
                child_model = current.models[child]
                for row in (await _child_rows(conn, child_model, model.row_id)).values():
                    await self.store.delete(conn, current, child_model, row, actor=actor)
            await self.store.delete(conn, current, entity_model, before, actor=actor)
            share = current.share_table
            await conn.execute(share.delete().where(share.c.entity == name))
            await bump_revision(conn)
        await self.registry.reload()
        return ApplyResult(changes, applied=True)

    async def rename_column(
        self,
        entity: str,
        old: str,
        new: str,
        *,
        actor: Subject,
        allow_destructive: bool,
        dry_run: bool = False,
    ) -> ApplyResult:
        """Rename a column in place, keeping its values (clients using the old name break: hence explicit)."""
        async with self.db.ddl() as conn:
            await self._lock(conn)
            current = await self._current(conn)
            model = current.model(entity)
            col = model.columns.get(old)
            if col is None:
                raise not_found(f"'{entity}' has no column named '{old}'.")
            if entity in SYSTEM_ENTITY_NAMES and old in {c.name for c in system_definitions()[entity].columns}:
                raise conflict(f"'{entity}.{old}' is a system column and cannot be renamed.", code="system-entity")
            renamed = msgspec.structs.replace(col, name=new)
            definition = msgspec.structs.replace(
                model.definition, columns=[renamed if c.name == old else c for c in model.definition.columns]
            )
            others = {n: m.definition for n, m in current.models.items() if n != entity}
            errors = list(definition_errors(definition, others, set(current.groups), allow_system=True))
            if errors:
                raise invalid_definition(errors)
            changes = [
                Change("update_column", entity, f"rename column '{old}' to '{new}'", target=old, destructive=True)
            ]
            if dry_run:
                return ApplyResult(changes, applied=False)
            if not allow_destructive:
                raise conflict(
                    "Renaming a column breaks clients that use its old name; repeat it with allow_destructive.",
                    code="destructive-change",
                    changes=msgspec.to_builtins(changes),
                )
            for index in list(model.table.indexes):
                if old in index.columns:
                    await conn.run_sync(lambda sync, i: Migrator(sync).drop_index(entity, i), str(index.name))
            await conn.run_sync(lambda sync: Migrator(sync).rename_column(entity, old, new))
            column_model = current.models["entity_column"]
            assert model.row_id is not None
            rows = await _child_rows(conn, column_model, model.row_id)
            await self.store.update(conn, current, column_model, rows[old], {"name": new}, actor=actor)
            target = compile_snapshot(
                current.revision,
                [
                    (definition if n == entity else m.definition, m.row_id, m.owner_id)
                    for n, m in current.models.items()
                ],
                current.groups,
            )
            for index in target.models[entity].table.indexes:
                if new in {c.name for c in index.columns}:
                    await conn.run_sync(lambda sync, i: Migrator(sync).create_index(i), index)
            await bump_revision(conn)
        await self.registry.reload()
        return ApplyResult(changes, applied=True)

    async def _current(self, conn: AsyncConnection) -> Snapshot:
        """The definitions as stored, read under the schema lock (the registry's copy when it is current)."""
        loaded = self.registry.snapshot
        if loaded.revision and loaded.revision == await read_revision(conn):
            return loaded
        return await read_snapshot(conn)

    async def _lock(self, conn: AsyncConnection) -> None:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})


def overlay_current(current: Snapshot, name: str) -> EntityDef | None:
    """The stored definition of ``name``; None when it is not stored yet (even if shipped)."""
    model = current.models.get(name)
    return model.definition if model is not None and model.row_id is not None else None


def _dangling_has_many(overlay: dict[str, EntityDef], changed: set[str]) -> list[Any]:
    """has_many relations elsewhere that a change would orphan by removing their belongs_to."""
    errors = []
    for name, definition in overlay.items():
        if name in changed:
            continue
        for rel in definition.relations:
            if rel.type != "has_many" or rel.target not in changed:
                continue
            inverse = overlay[rel.target].relation(rel.inverse or name)
            if inverse is None or inverse.type != "belongs_to" or inverse.target != name:
                errors.append(
                    _field_error(
                        "relations",
                        "in_use",
                        f"'{name}.{rel.name}' (has_many) needs '{rel.target}.{rel.inverse or name}'",
                    )
                )
    return errors


def _refuse_system_changes(name: str, changes: Iterable[Change]) -> None:
    if name not in SYSTEM_ENTITY_NAMES:
        return
    shipped = system_definitions()[name]
    protected = {c.name for c in shipped.columns} | {r.name for r in shipped.relations}
    for change in changes:
        if change.target in protected and change.kind not in ("update_column",):
            raise ProblemError(
                409,
                "system-entity",
                "Conflict",
                f"'{name}.{change.target}' belongs to the platform and cannot be changed ({change.detail}).",
            )


def _field_error(field: str, code: str, message: str) -> Any:
    from stateyard.core.errors import FieldError

    return FieldError(field, code, message)


def _converter(col: ColumnDef) -> Any:
    """How a stored value of the old type becomes a value of ``col``'s new type (ValueError: lost)."""
    ctype = column_type(col.type)
    text_like = ctype.name in ("string", "text", "email", "url", "enum", "encrypted")

    def convert(value: Any) -> Any:
        return ctype.validate(col, _as_json(value, text_like=text_like, kind=ctype.name))

    return convert


def _as_json(value: Any, *, text_like: bool, kind: str) -> Any:
    """A stored value in the JSON form the new type's ``parse`` accepts, converting where that is lossless."""
    import datetime as dt
    from decimal import Decimal

    if text_like:
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        return value if isinstance(value, str) else str(value) if not isinstance(value, dict | list) else None
    if isinstance(value, str):
        text = value.strip()
        if kind == "integer" and text.lstrip("+-").isdigit():
            return int(text)
        if kind == "float":
            try:
                return float(text)
            except ValueError:
                return value
        if kind == "boolean" and text.lower() in ("true", "false", "1", "0", "yes", "no"):
            return text.lower() in ("true", "1", "yes")
        return text
    if kind == "boolean" and isinstance(value, int) and value in (0, 1):
        return bool(value)
    if kind == "date" and isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, Decimal) and kind in ("integer", "float"):
        return int(value) if kind == "integer" and value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


async def _child_rows(conn: AsyncConnection, model: Model, entity_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    table = model.table
    result = await conn.execute(select(table).where(table.c.entity_id == entity_id))
    return {row["name"]: dict(row) for row in result.mappings()}


async def hold_definitions(conn: AsyncConnection) -> int:
    """Keep definitions (and so tables) from changing until this write transaction ends; the revision
    they are at. On PostgreSQL that is the schema lock, shared with other such writers; on SQLite
    the transaction already holds the one writer, which a schema change needs too."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": SCHEMA_LOCK_KEY})
    return await read_revision(conn)


async def bump_revision(conn: AsyncConnection) -> None:
    await conn.execute(
        update(META_TABLE).where(META_TABLE.c.key == SCHEMA_REVISION).values(value=META_TABLE.c.value + 1)
    )
