"""Made-up rows for ``random.data``: a value for each column from its type and options.

Values are generated as the Python values the column's type accepts, from one seeded random
source, so the same seed on the same data makes the same rows. Unique columns (and unique
indexes) get values no other new or stored row has: small value spaces (a few enum options,
an integer range) are sampled from what is still free, large ones are drawn and re-drawn on a
clash. Secrets (password, encrypted) are left out unless required; a string with a pattern
gets words only if the pattern accepts them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import secrets
import string
import uuid
from collections.abc import Callable, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from stateyard.auth.permissions import Subject, Verb, row_filter
from stateyard.core.db import bounded_regex_search
from stateyard.core.errors import FieldError, invalid
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot
from stateyard.entities.schemas import ColumnDef
from stateyard.entities.types import INT64_MAX, INT64_MIN, PASSWORD_MAX, DecimalType, EncryptedType, PasswordType

Maker = Callable[[random.Random], Any]

WORDS = (
    "amber", "anchor", "apple", "arrow", "autumn", "basil", "birch", "breeze", "cedar", "cliff", "cloud",
    "copper", "coral", "delta", "ember", "falcon", "fern", "field", "flint", "garden", "glacier", "harbor",
    "hazel", "island", "ivory", "juniper", "lagoon", "lantern", "maple", "meadow", "mist", "north", "oak",
    "orchid", "pebble", "pine", "quartz", "rain", "river", "saffron", "shore", "silver", "slate", "spruce",
    "stone", "summit", "thistle", "timber", "valley", "willow",
)  # fmt: skip
LETTERS = string.ascii_lowercase
#: Value spaces up to this size are enumerated, so unique values are sampled from what is free.
DOMAIN_LIMIT = 50_000
#: Rounds of re-drawing clashing values of large value spaces before giving up.
MAX_ROUNDS = 50
#: How many rows a belongs_to value is picked from.
MAX_CANDIDATES = 1000
EPOCH = dt.date(2000, 1, 1)
DAYS = (dt.date(2030, 12, 31) - EPOCH).days + 1


class Plan:
    """How one column gets its values: a maker, and for small value spaces a way to list the whole space."""

    def __init__(self, make: Maker, domain: Callable[[], Sequence[Any]] | None = None) -> None:
        self.make = make
        self.domain = domain


def _length_range(col: ColumnDef, default_low: int, default_high: int) -> tuple[int, int]:
    low = col.min_length if col.min_length is not None else default_low
    high = col.max_length if col.max_length is not None else max(low, default_high)
    return min(low, high), high


def _words(low: int, high: int) -> Maker:
    def make(rng: random.Random) -> str:
        length = rng.randint(low, high)
        text = ""
        while len(text) < length:
            text += (" " if text else "") + rng.choice(WORDS)
        text = text[:length]
        return text[:-1] + rng.choice(LETTERS) if text.endswith(" ") else text

    return make


def _letters(low: int, high: int) -> Maker:
    return lambda rng: "".join(rng.choice(LETTERS) for _ in range(rng.randint(low, high)))


def _string_plan(col: ColumnDef, unique: bool, *, long: bool) -> Plan:
    low, high = _length_range(col, 20 if long else 3, 160 if long else 24)
    if unique:
        space = sum(len(LETTERS) ** n for n in range(low, min(high, 6) + 1))
        if high <= 4 and space <= DOMAIN_LIMIT:
            return Plan(
                _letters(low, high),
                lambda: ["".join(p) for n in range(low, high + 1) for p in itertools.product(LETTERS, repeat=n)],
            )
        return Plan(_letters(max(low, min(high, 10)), high))
    return Plan(_words(low, high))


def _integer_plan(col: ColumnDef, unique: bool) -> Plan | None:
    span = 10**9 if unique else 1000
    low = math.ceil(col.min) if col.min is not None else None
    high = math.floor(col.max) if col.max is not None else None
    if low is None and high is None:
        low, high = 0, span
    elif low is None:
        assert high is not None
        low = high - span
    elif high is None:
        high = low + span
    low, high = max(low, INT64_MIN), min(high, INT64_MAX)
    if low > high:
        return None
    bottom, top = low, high
    return Plan(
        lambda rng: rng.randint(bottom, top), (lambda: range(bottom, top + 1)) if top - bottom < DOMAIN_LIMIT else None
    )


def _float_plan(col: ColumnDef) -> Plan | None:
    low = float(col.min) if col.min is not None else None
    high = float(col.max) if col.max is not None else None
    if low is None and high is None:
        low, high = 0.0, 1000.0
    elif low is None:
        assert high is not None
        low = high - 1000.0
    elif high is None:
        high = low + 1000.0
    if low > high:
        return None
    bottom, top = low, high
    return Plan(lambda rng: min(max(round(rng.uniform(bottom, top), 2), bottom), top))


def _decimal_plan(col: ColumnDef, unique: bool) -> Plan | None:
    precision = DecimalType.DEFAULT_PRECISION if col.precision is None else col.precision
    scale = DecimalType.DEFAULT_SCALE if col.scale is None else col.scale
    largest = 10**precision - 1  # in units of 10**-scale
    span = (10**9 if unique else 1000) * 10**scale

    def units(bound: float | int, rounding: str) -> int:
        return int(Decimal(str(bound)).scaleb(scale).to_integral_value(rounding=rounding))

    low = units(col.min, ROUND_CEILING) if col.min is not None else None
    high = units(col.max, ROUND_FLOOR) if col.max is not None else None
    if low is None and high is None:
        low, high = 0, span
    elif low is None:
        assert high is not None
        low = high - span
    elif high is None:
        high = low + span
    low, high = max(low, -largest), min(high, largest)
    if low > high:
        return None

    def value(n: int) -> Decimal:
        return Decimal(n).scaleb(-scale)

    bottom, top = low, high
    domain = (lambda: [value(n) for n in range(bottom, top + 1)]) if top - bottom < DOMAIN_LIMIT else None
    return Plan(lambda rng: value(rng.randint(bottom, top)), domain)


def _date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=day)


def _datetime(rng: random.Random) -> dt.datetime:
    start = dt.datetime(EPOCH.year, 1, 1, tzinfo=dt.UTC)
    return start + dt.timedelta(seconds=rng.randrange(DAYS * 86_400))


def _json(rng: random.Random) -> dict[str, Any]:
    return {"word": rng.choice(WORDS), "number": rng.randint(0, 1000), "flag": rng.random() < 0.5}


def _secret(col: ColumnDef) -> Maker:
    """Secrets are never drawn from the seeded source: a known seed must not give away a password."""
    length = min(max(col.min_length or 8, 16), col.max_length or PASSWORD_MAX, PASSWORD_MAX)
    alphabet = string.ascii_letters + string.digits
    return lambda rng: "".join(secrets.choice(alphabet) for _ in range(length))


def column_plan(model: Model, col: ColumnDef) -> Plan | None:
    """How to make values for ``col``, or None when the platform cannot make them up."""
    unique = col.unique
    ctype = model.types[col.name]
    kind = ctype.name
    if isinstance(ctype, PasswordType | EncryptedType) or not ctype.returned:
        # Secrets (password, encrypted, secret, ...) only where a row cannot do without them.
        return Plan(_secret(col)) if col.required else None
    if kind in ("string", "text"):
        plan = _string_plan(col, unique, long=kind == "text")
    elif kind == "email":
        plan = Plan(lambda rng: f"{rng.choice(WORDS)}.{rng.choice(WORDS)}{rng.randint(1, 99_999)}@example.com")
    elif kind == "url":
        plan = Plan(lambda rng: f"https://example.com/{rng.choice(WORDS)}/{rng.randint(1, 999_999)}")
    elif kind == "integer":
        return _integer_plan(col, unique)
    elif kind == "float":
        return _float_plan(col)
    elif kind == "decimal":
        return _decimal_plan(col, unique)
    elif kind == "boolean":
        return Plan(lambda rng: rng.random() < 0.5, lambda: [False, True])
    elif kind == "date":
        return Plan(lambda rng: _date(rng.randrange(DAYS)), lambda: [_date(d) for d in range(DAYS)])
    elif kind == "datetime":
        return Plan(_datetime)
    elif kind == "enum":
        options = list(col.options or [])
        return Plan(lambda rng: rng.choice(options), lambda: options) if options else None
    elif kind == "uuid":
        return Plan(lambda rng: uuid.UUID(int=rng.getrandbits(128), version=4))
    elif kind == "json":
        return Plan(_json)
    elif kind == "permission":
        permission = model.row_permission
        return Plan(lambda rng: permission) if col.required else None
    else:
        return None
    if col.pattern is not None:
        return _matching(plan, col.name, col.pattern)
    return plan


def _matching(plan: Plan, name: str, pattern: str) -> Plan | None:
    """Words or letters that happen to match the pattern; None when a probe finds none."""
    probe = random.Random(0)  # noqa: S311 - made-up data, not secrets
    if not any(bounded_regex_search(pattern, plan.make(probe)) for _ in range(50)):
        return None
    make = plan.make

    def matching(rng: random.Random) -> Any:
        for _ in range(500):
            value = make(rng)
            if bounded_regex_search(pattern, value):
                return value
        raise invalid([FieldError(name, "unsupported", f"no made-up value matched the pattern {pattern!r}")])

    listed = plan.domain
    domain = (lambda: [v for v in listed() if bounded_regex_search(pattern, v)]) if listed is not None else None
    return Plan(matching, domain)


def _space(plans: dict[str, Plan], key: tuple[str, ...]) -> int:
    """How many value combinations ``key`` has (listing each column's space once)."""
    size = 1
    for name in key:
        listed = plans[name].domain
        assert listed is not None
        size *= len(listed())
        if size > DOMAIN_LIMIT:
            break
    return size


class RowGenerator:
    def __init__(self, snapshot: Snapshot, model: Model, subject: Subject, seed: int | None) -> None:
        self.snapshot = snapshot
        self.model = model
        self.subject = subject
        self.rng = random.Random(seed)  # noqa: S311 - made-up data; secrets come from _secret
        self.plans: dict[str, Plan] = {}
        errors = []
        for col in model.definition.columns:
            plan = column_plan(model, col)
            if plan is not None:
                self.plans[col.name] = plan
            elif col.required and col.default is None:
                errors.append(
                    FieldError(col.name, "unsupported", f"random values cannot be made for the required '{col.name}'")
                )
        if errors:
            raise invalid(errors, detail="Some required columns cannot be filled with made-up values.")

    async def rows(self, conn: AsyncConnection, count: int) -> list[dict[str, Any]]:
        references = await self._references(conn)
        rows: list[dict[str, Any]] = []
        for _ in range(count):
            row = {name: plan.make(self.rng) for name, plan in self.plans.items()}
            for column, candidates in references.items():
                row[column] = self.rng.choice(candidates)
            rows.append(row)
        await self._unique(conn, rows, references)
        return rows

    async def _references(self, conn: AsyncConnection) -> dict[str, list[uuid.UUID]]:
        """For each belongs_to: rows the subject may see and refer to (none and optional: left empty)."""
        found: dict[str, list[uuid.UUID]] = {}
        errors = []
        share = self.snapshot.share_table
        for rel in self.model.definition.relations:
            if rel.type != "belongs_to":
                continue
            target = self.snapshot.model(rel.target)
            table = target.table
            visible = and_(
                row_filter(self.subject, table, target.name, Verb.PEEK, share),
                row_filter(self.subject, table, target.name, Verb.REFER, share),
            )
            query = select(table.c.id).where(visible).order_by(table.c.id).limit(MAX_CANDIDATES)
            ids = list((await conn.execute(query)).scalars())
            if ids:
                found[rel.column] = ids
            elif rel.required:
                errors.append(FieldError(rel.column, "not_found", f"there is no {rel.target} row you may refer to"))
        if errors:
            raise invalid(errors, detail="Required relations need rows to refer to.")
        return found

    # -- unique values ------------------------------------------------------------------

    def _unique_keys(self, filled: set[str]) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
        """Unique keys (a column, or an index's columns) whose values are sampled from the free part of
        a small value space, and those checked by drawing again on a clash."""
        unique_columns = {n for n in self.plans if self.model.columns[n].unique}
        keys: list[tuple[str, ...]] = [(n,) for n in self.plans if n in unique_columns]
        for index in self.model.definition.indexes:
            # An index over a unique column is unique already; one over an empty column never clashes.
            if index.unique and set(index.columns) <= filled and not set(index.columns) & unique_columns:
                keys.append(tuple(index.columns))
        sampled: list[tuple[str, ...]] = []
        drawn: list[tuple[str, ...]] = []
        for key in keys:
            overlaps = any(set(key) & set(other) for other in keys if other != key)
            spaces = [self.plans[n].domain if n in self.plans else None for n in key]
            if not overlaps and all(spaces) and _space(self.plans, key) <= DOMAIN_LIMIT:
                sampled.append(key)
            else:
                drawn.append(key)
        return sampled, drawn

    async def _unique(
        self, conn: AsyncConnection, rows: list[dict[str, Any]], references: dict[str, list[uuid.UUID]]
    ) -> None:
        sampled, drawn = self._unique_keys(set(self.plans) | set(references))
        table = self.model.table
        for key in sampled:
            columns = [table.c[n] for n in key]
            stored = await conn.execute(select(*columns).where(*(c.is_not(None) for c in columns)))
            taken = {tuple(r) for r in stored}
            listed = [self.plans[n].domain() for n in key]  # type: ignore[misc]
            free = [v for v in itertools.product(*listed) if v not in taken]
            if len(free) < len(rows):
                names = ", ".join(key)
                raise invalid(
                    [
                        FieldError(n, "unique", f"only {len(free)} unused value(s) are left for the unique {names}")
                        for n in key
                    ],
                    detail=f"Only {len(free)} more row(s) can have values no other row has for {names}.",
                )
            for row, values in zip(rows, self.rng.sample(free, len(rows)), strict=True):
                row.update(zip(key, values, strict=True))
        for _ in range(MAX_ROUNDS):
            clashes: list[tuple[int, tuple[str, ...]]] = []
            for key in drawn:
                clashes += await self._clashes(conn, rows, key)
            if not clashes:
                return
            for index, key in clashes:
                for name in key:
                    if name in references:
                        rows[index][name] = self.rng.choice(references[name])
                    else:
                        rows[index][name] = self.plans[name].make(self.rng)
        unresolved = sorted({n for key in drawn for n in key})
        raise invalid(
            [FieldError(n, "unique", f"could not make {len(rows)} values no other row has") for n in unresolved],
            detail="Not enough unused values for the unique columns; ask for fewer rows or widen the columns.",
        )

    async def _clashes(
        self, conn: AsyncConnection, rows: list[dict[str, Any]], key: tuple[str, ...]
    ) -> list[tuple[int, tuple[str, ...]]]:
        """Rows whose values for ``key`` repeat an earlier new row's, or a stored row's."""
        first: dict[tuple[Any, ...], int] = {}
        clashes = []
        for index, row in enumerate(rows):
            values = tuple(row.get(name) for name in key)
            if any(v is None for v in values):
                continue
            if values in first:
                clashes.append((index, key))
            else:
                first[values] = index
        columns = [self.model.table.c[name] for name in key]
        candidates = list(first)
        for start in range(0, len(candidates), 200):
            chunk = candidates[start : start + 200]
            where: ColumnElement[bool]
            if len(columns) == 1:
                where = columns[0].in_([values[0] for values in chunk])
            else:
                where = or_(*(and_(*(c == v for c, v in zip(columns, values, strict=True))) for values in chunk))
            for stored in (await conn.execute(select(*columns).where(where))).all():
                clashing = first.get(tuple(stored))
                if clashing is not None:
                    clashes.append((clashing, key))
        return clashes
