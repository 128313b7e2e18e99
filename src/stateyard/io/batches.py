"""Turn a batch of file records into checked rows to insert or update, or into row errors.

Every record is checked exactly as ``POST /api/<entity>`` (or, for an upsert that finds its
row, ``PATCH``) would check it: the same field validation, the same rule on who may set the
owner, the same reference check. What a create learns from the database one row at a time
(a unique value already used, a referenced row missing) is asked here once per batch, and
values repeated inside the file are caught too, so that a file is judged whole before any
of it is written.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.permissions import Subject, Verb, row_filter
from stateyard.core.errors import FieldError
from stateyard.crud.references import reference_problems
from stateyard.crud.validation import Validated, validate_body, validate_create
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot
from stateyard.entities.types import FieldProblem, UuidType
from stateyard.io.cells import CellReader, cell_reader
from stateyard.io.errors import RecordError
from stateyard.io.mapping import HeaderMap

#: Values per IN list: well under every backend's limit on bound parameters.
CHUNK = 500
_UUID = UuidType()
Key = tuple[Any, ...]


class RowError(msgspec.Struct, frozen=True):
    """One problem of one row, as a person finds it in the file: the row number and the column."""

    row: int
    column: str | None
    code: str
    message: str
    #: The platform's error shape names the field; for a file it is the column (or ``row``).
    field: str = "row"


class Checked(msgspec.Struct):
    """A row that passed every check: what to insert, or the stored row it updates and how."""

    row: int
    values: dict[str, Any]
    validated: Validated
    #: For an upsert that found its row: the row as stored, and the fields that differ from it.
    before: dict[str, Any] | None = None
    changes: dict[str, Any] = msgspec.field(default_factory=dict)


class BatchResult(msgspec.Struct):
    checked: list[Checked]
    errors: list[RowError]


class Converter:
    """Records of one file into create/patch bodies, cell values converted for their column types."""

    def __init__(self, model: Model, headers: HeaderMap, *, typed: bool) -> None:
        self.model = model
        self.headers = headers
        self.typed = typed
        self._readers: dict[str, CellReader] = {name: cell_reader(t.name) for name, t in model.types.items()}
        #: header -> (field, how its cells are read), or None for a header that fills nothing
        self._plan: dict[str, tuple[str, CellReader | None] | None] = {}

    def _place(self, header: str) -> tuple[str, CellReader | None] | None:
        field = self.headers.field(header) if header else None
        placed: tuple[str, CellReader | None] | None
        if field is None:
            placed = None
        elif self.typed:
            placed = (field, None)
        else:
            placed = (field, self._readers.get(field) or (cell_reader("json") if field == "permission" else _strip))
        self._plan[header] = placed
        return placed

    def body(self, record: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
        body: dict[str, Any] = {}
        errors: list[FieldError] = []
        plan = self._plan
        for header, raw in record.items():
            placed = plan[header] if header in plan else self._place(header)
            if placed is None:
                if not header and _filled(raw):
                    self.headers.note_unnamed()
                elif self.headers.strict and header in self.headers.unknown:
                    # Files with a header row are refused as a whole before; JSON records bring their own keys.
                    errors.append(FieldError(header, "unknown", f"'{self.model.name}' has no field '{header}'"))
                continue
            field, reader = placed
            if reader is None:  # a JSON value: null and "" are values, as in a create body; a missing key is missing
                body[field] = raw
                continue
            if raw is None or raw == "":
                continue  # an empty cell is a missing value: defaults apply, an upsert keeps what is stored
            try:
                body[field] = reader(raw)
            except FieldProblem as exc:
                errors.append(FieldError(field, exc.code, exc.message))
        return body, errors


def _strip(raw: Any) -> Any:
    """Cells of row fields (``id``, ``owner_id``, belongs_to keys) are taken as text."""
    return raw.strip() if isinstance(raw, str) else raw


def _filled(raw: Any) -> bool:
    return raw is not None and raw != ""


def unique_sets(model: Model) -> list[tuple[str, ...]]:
    """Every set of fields whose values must not repeat: unique columns and unique indexes, and ``id``."""
    sets: list[tuple[str, ...]] = [("id",)]
    sets += [(name,) for name, col in model.columns.items() if col.unique]
    sets += [tuple(index.columns) for index in model.definition.indexes if index.unique]
    return sets


class BatchChecker:
    """Checks batches of one import; remembers unique values across batches to catch repeats in the file."""

    def __init__(
        self,
        snapshot: Snapshot,
        model: Model,
        subject: Subject,
        converter: Converter,
        *,
        key: Sequence[str] = (),
        compare: Callable[[str, Any, Any], bool],
    ) -> None:
        self.snapshot = snapshot
        self.model = model
        self.subject = subject
        self.converter = converter
        self.key = tuple(key)
        self.compare = compare
        self.unique = unique_sets(model)
        #: unique set -> value -> first row that used it
        self.seen: dict[tuple[str, ...], dict[Any, int]] = {fields: {} for fields in self.unique}
        self.seen_keys: dict[Any, int] = {}

    async def check(
        self, conn: AsyncConnection, records: Sequence[tuple[int, dict[str, Any] | RecordError]]
    ) -> BatchResult:
        errors: list[RowError] = []
        bodies: list[tuple[int, dict[str, Any]]] = []
        unreadable: dict[int, list[FieldError]] = {}
        for row, record in records:
            if isinstance(record, RecordError):
                errors.append(RowError(row, None, record.code, record.message))
                continue
            body, problems = self.converter.body(record)
            if problems:
                unreadable[row] = problems
            bodies.append((row, body))
        matches: dict[int, dict[str, Any]] = {}
        if self.key:
            keyless = {row for row, problems in unreadable.items() if any(p.field in self.key for p in problems)}
            for row in sorted(keyless):
                errors.extend(_row_errors(row, unreadable[row]))
            bodies = [(row, body) for row, body in bodies if row not in keyless]
            bodies, matches = await self._matches(conn, bodies, errors)
        checked: list[Checked] = []
        for row, body in bodies:
            before = matches.get(row)
            if before is None:
                validated = validate_create(self.model, self.subject, body)
            else:
                validated = self._validate_update(body, before)
            problems = unreadable.get(row, [])
            if problems:  # every problem of the row at once; a cell that could not be read is not "missing" too
                bad = {p.field for p in problems}
                validated.errors = [*problems, *(e for e in validated.errors if e.field not in bad)]
            if validated.errors:
                errors.extend(_row_errors(row, validated.errors))
                continue
            item = Checked(row, validated.values, validated, before)
            if before is not None:
                item.changes = self._changes(validated, before)
            checked.append(item)
        checked = self._unique_in_file(checked, errors)
        checked = await self._database_checks(conn, checked, errors)
        return BatchResult(checked, errors)

    async def recheck(self, conn: AsyncConnection, items: list[Checked], *, thorough: bool = False) -> BatchResult:
        """Check rows :meth:`check` passed again, in the transaction that writes them, for what may have
        changed since: the rows an upsert found, and the rows references point to. A unique value another
        writer took meanwhile is left to the database's constraint (asking again for every batch would cost
        as much as the check itself); once it has refused a batch, a ``thorough`` recheck names the rows."""
        errors: list[RowError] = []
        if self.key:
            items = await self._rematch(conn, items, errors)
        if thorough:
            items = await self._unique_in_database(conn, items, errors)
        return BatchResult(await self._references(conn, items, errors), errors)

    async def _database_checks(
        self, conn: AsyncConnection, items: list[Checked], errors: list[RowError]
    ) -> list[Checked]:
        items = await self._unique_in_database(conn, items, errors)
        return await self._references(conn, items, errors)

    async def _rematch(self, conn: AsyncConnection, items: list[Checked], errors: list[RowError]) -> list[Checked]:
        name = _column(self.key)
        keys = {item.row: self._values(item, self.key) for item in items}
        found = await self._stored_by_key(conn, set(keys.values()))
        kept = []
        for item in items:
            stored = found.get(keys[item.row], [])
            current = stored[0] if len(stored) == 1 else None
            expected = None if item.before is None else item.before["id"]
            if len(stored) > 1 or (None if current is None else current["id"]) != expected:
                message = "the stored row with this key changed while the file was imported; import it again"
                errors.append(RowError(item.row, name, "changed", message, name))
                continue
            if current is not None:
                if not current.pop("_may_update"):
                    errors.append(RowError(item.row, name, "forbidden", "you may no longer update this row", name))
                    continue
                item.before = current
                item.changes = self._changes(item.validated, current)
            kept.append(item)
        return kept

    def _changes(self, validated: Validated, before: Mapping[str, Any]) -> dict[str, Any]:
        changes = {k: v for k, v in validated.values.items() if not self.compare(k, before.get(k), v)}
        if validated.permission is not None and validated.permission != before["permission"]:
            changes["permission"] = validated.permission
        if validated.owner_id is not msgspec.UNSET and validated.owner_id != before["owner_id"]:
            changes["owner_id"] = validated.owner_id
        return changes

    def _validate_update(self, body: Mapping[str, Any], before: Mapping[str, Any]) -> Validated:
        """A record whose key found a stored row, checked as a patch of it would be. A patch takes no
        ``id``, but a file may carry one (an export does): it must be the id of the row found."""
        fields = dict(body)
        row_id = fields.pop("id", None)
        validated = validate_body(self.model, fields, creating=False)
        if row_id is not None:
            try:
                validated.row_id = _UUID.parse(row_id)
            except FieldProblem as exc:
                validated.errors.append(FieldError("id", exc.code, exc.message))
        validated.errors.extend(self._update_rules(validated, before))
        return validated

    def _update_rules(self, validated: Validated, before: Mapping[str, Any]) -> list[FieldError]:
        """What PATCH refuses besides bad values: only owners and administrators set permissions,
        only administrators owners."""
        errors = []
        subject = self.subject
        if validated.permission is not None and not (subject.is_admin or before["owner_id"] == subject.user_id):
            errors.append(FieldError("permission", "forbidden", "only the owner or an administrator may change it"))
        if validated.owner_id is not msgspec.UNSET and not subject.is_admin:
            errors.append(FieldError("owner_id", "forbidden", "only administrators may change the owner"))
        if validated.row_id is not None and validated.row_id != before["id"]:
            errors.append(FieldError("id", "conflict", "the row found by the key has another id"))
        return errors

    # -- upsert ------------------------------------------------------------------------------

    async def _matches(
        self, conn: AsyncConnection, bodies: list[tuple[int, dict[str, Any]]], errors: list[RowError]
    ) -> tuple[list[tuple[int, dict[str, Any]]], dict[int, dict[str, Any]]]:
        """For an upsert: the records still in play, and the stored row each one's key finds
        (records without one are inserted)."""
        name = _column(self.key)
        keyed: list[tuple[int, dict[str, Any], Key]] = []
        for row, body in bodies:
            key, problems = self._key_of(body)
            if problems:
                errors.extend(_row_errors(row, problems))
                continue
            first = self.seen_keys.setdefault(key[0] if len(key) == 1 else key, row)
            if first != row:
                errors.append(RowError(row, name, "duplicate_key", f"the same key as row {first}", name))
                continue
            keyed.append((row, body, key))
        found = await self._stored_by_key(conn, {key for _, _, key in keyed})
        kept: list[tuple[int, dict[str, Any]]] = []
        matches: dict[int, dict[str, Any]] = {}
        for row, body, key in keyed:
            stored = found.get(key, [])
            if len(stored) > 1:
                errors.append(RowError(row, name, "ambiguous_key", f"{len(stored)} stored rows have this key", name))
            elif stored and not stored[0].pop("_may_update"):
                message = "a row with this key exists and you may not update it"
                errors.append(RowError(row, name, "forbidden", message, name))
            else:
                kept.append((row, body))
                if stored:
                    matches[row] = stored[0]
        return kept, matches

    async def _stored_by_key(self, conn: AsyncConnection, keys: set[Key]) -> dict[Key, list[dict[str, Any]]]:
        table = self.model.table
        share = self.snapshot.share_table
        may_update = row_filter(self.subject, table, self.model.name, Verb.UPDATE, share).label("_may_update")
        columns = [table.c[name] for name in self.key]
        found: dict[Key, list[dict[str, Any]]] = {}
        wanted = list(keys)
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            condition = columns[0].in_([k[0] for k in chunk]) if len(columns) == 1 else tuple_(*columns).in_(chunk)
            result = await conn.execute(select(table, may_update).where(condition))
            names = list(result.keys())
            for values in result:
                stored = dict(zip(names, values, strict=True))
                found.setdefault(tuple(stored[name] for name in self.key), []).append(stored)
        return found

    def _key_of(self, body: Mapping[str, Any]) -> tuple[Key, list[FieldError]]:
        parts: list[Any] = []
        problems: list[FieldError] = []
        for name in self.key:
            if body.get(name) is None:
                problems.append(FieldError(name, "required", f"'{name}' is part of the upsert key"))
                continue
            if name == "id" or name in self.model.foreign_keys:
                try:
                    parts.append(uuid.UUID(str(body[name])))
                except ValueError:
                    problems.append(FieldError(name, "format", f"{body[name]!r} is not a UUID"))
                continue
            try:
                parts.append(self.model.types[name].validate(self.model.columns[name], body[name]))
            except FieldProblem as exc:
                problems.append(FieldError(name, exc.code, exc.message))
        return tuple(parts), problems

    # -- uniqueness and references -------------------------------------------------------------

    def _values(self, item: Checked, fields: Sequence[str]) -> Key:
        """The row's values of ``fields`` once written (an upsert keeps stored values it does not set)."""
        if len(fields) == 1:
            return (self._final(item, fields[0]),)
        return tuple(self._final(item, f) for f in fields)

    def _final(self, item: Checked, field: str) -> Any:
        if field == "id":
            return item.before["id"] if item.before is not None else item.validated.row_id
        if field in item.values:
            return item.values[field]
        return item.before.get(field) if item.before is not None else None

    def _unique_in_file(self, checked: list[Checked], errors: list[RowError]) -> list[Checked]:
        kept = []
        for item in checked:
            clash = None
            for fields in self.unique:
                # A lone value is its own key: a million 1-tuples would cost some 50 MB for nothing.
                if len(fields) == 1:
                    key = self._final(item, fields[0])
                    if key is None:
                        continue
                else:
                    key = self._values(item, fields)
                    if any(v is None for v in key):
                        continue
                first = self.seen[fields].setdefault(key, item.row)
                if first != item.row:
                    clash = (fields, first)
                    break
            if clash is None:
                kept.append(item)
                continue
            fields, first = clash
            errors.append(
                RowError(
                    item.row, _column(fields), "unique", f"the same {_column(fields)} as row {first}", _column(fields)
                )
            )
        return kept

    async def _unique_in_database(
        self, conn: AsyncConnection, checked: list[Checked], errors: list[RowError]
    ) -> list[Checked]:
        table = self.model.table
        refused: dict[int, RowError] = {}
        for fields in self.unique:
            own: dict[Key, Checked] = {}
            for item in checked:
                value = self._values(item, fields)
                if item.row not in refused and not any(v is None for v in value):
                    own[value] = item
            if not own:
                continue
            columns = [table.c[f] for f in fields]
            values = list(own)
            for start in range(0, len(values), CHUNK):
                chunk = values[start : start + CHUNK]
                condition = columns[0].in_([v[0] for v in chunk]) if len(columns) == 1 else tuple_(*columns).in_(chunk)
                for row_id, *stored in await conn.execute(select(table.c.id, *columns).where(condition)):
                    clash = own.get(tuple(stored))
                    if clash is None or (clash.before is not None and clash.before["id"] == row_id):
                        continue
                    name = _column(fields)
                    message = (
                        "this id is already used"
                        if fields == ("id",)
                        else f"this {name} is already used by another row"
                    )
                    refused.setdefault(clash.row, RowError(clash.row, name, "unique", message, name))
        errors.extend(refused.values())
        return [item for item in checked if item.row not in refused]

    async def _references(self, conn: AsyncConnection, checked: list[Checked], errors: list[RowError]) -> list[Checked]:
        if not self.model.foreign_keys or not checked:
            return checked
        # A reference is checked where it is set (a create, or a change an update makes).
        changed = [item.values if item.before is None else item.changes for item in checked]
        problems = await reference_problems(conn, self.snapshot, self.subject, self.model, changed)
        refused = set()
        for problem in problems:
            item = checked[problem.index]
            code = "forbidden" if problem.kind == "refer" else "not_found"
            errors.append(RowError(item.row, problem.field, code, problem.message, problem.field))
            refused.add(item.row)
        return [item for item in checked if item.row not in refused]


def _column(fields: Sequence[str]) -> str:
    return "+".join(fields)


def _row_errors(row: int, problems: Sequence[FieldError]) -> list[RowError]:
    return [RowError(row, p.field, p.code, p.message, p.field) for p in problems]
