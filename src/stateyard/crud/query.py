"""Parse list parameters (``filter``, ``sort``, ``page``, ``per_page``, ``fields``, ``include``).

Each parameter is checked against the entity before any SQL runs, and a bad one is a 400
that names it, so a typo in a field name never silently returns everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from stateyard.core.errors import bad_request
from stateyard.entities.compiler import Model
from stateyard.expressions import conditions
from stateyard.expressions.conditions import Condition, ConditionError, FieldSpec

KNOWN_PARAMS = frozenset({"filter", "sort", "page", "per_page", "fields", "include"})
SORTABLE_ROW_COLUMNS = ("id", "version", "created_at", "updated_at", "owner_id")


class ListQuery(msgspec.Struct):
    condition: Condition | None = None
    sort: list[tuple[str, bool]] = msgspec.field(default_factory=list)  # (field, descending)
    page: int = 1
    per_page: int = 25
    fields: list[str] | None = None
    include: list[str] = msgspec.field(default_factory=list)


def parse_filter(fields: Mapping[str, FieldSpec], raw: Any, *, where: str = "filter") -> Condition:
    """Parse and check a JSON condition against the fields it may name (400 naming what is wrong)."""
    if isinstance(raw, str):
        try:
            raw = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise bad_request(f"'{where}' is not valid JSON: {exc}", code="invalid-filter", parameter=where) from None
    try:
        return conditions.bind(conditions.parse(raw, where), fields)
    except ConditionError as exc:
        raise bad_request(
            f"Invalid {where}: {exc.path}: {exc.message}",
            code="invalid-filter",
            parameter=where,
            path=exc.path,
        ) from None


def _positive_int(params: Mapping[str, str], name: str, default: int, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"'{name}' must be a whole number, got {raw!r}", parameter=name) from None
    if value < 1:
        raise bad_request(f"'{name}' must be at least 1, got {value}", parameter=name)
    if maximum is not None and value > maximum:
        raise bad_request(f"'{name}' may be at most {maximum}, got {value}", parameter=name)
    return value


def _names(raw: str | None) -> list[str]:
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def parse_list_query(
    model: Model,
    params: Mapping[str, str],
    *,
    default_per_page: int,
    max_per_page: int,
    fields: Mapping[str, FieldSpec] | None = None,
    extra_params: frozenset[str] = frozenset(),
) -> ListQuery:
    unknown = sorted(set(params) - KNOWN_PARAMS - extra_params)
    if unknown:
        raise bad_request(
            f"Unknown query parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_PARAMS))}",
            code="unknown-parameter",
            parameters=unknown,
        )
    query = ListQuery(
        page=_positive_int(params, "page", 1),
        per_page=_positive_int(params, "per_page", default_per_page, max_per_page),
    )
    raw_filter = params.get("filter")
    if raw_filter:
        query.condition = parse_filter(model.condition_fields if fields is None else fields, raw_filter)
    sortable = {*SORTABLE_ROW_COLUMNS, *model.foreign_keys}
    sortable |= {name for name, t in model.types.items() if t.sortable}
    for part in _names(params.get("sort")):
        descending = part.startswith("-")
        name = part.lstrip("-+")
        if name not in sortable:
            raise bad_request(
                f"Cannot sort by '{name}'; sortable fields: {', '.join(sorted(sortable))}",
                code="invalid-sort",
                parameter="sort",
            )
        query.sort.append((name, descending))
    if "fields" in params:
        visible = {"id", "version", "created_at", "updated_at", "owner_id", "permission", *model.foreign_keys}
        visible |= set(model.returned_columns)
        selected = _names(params.get("fields"))
        bad = [f for f in selected if f not in visible]
        if bad:
            raise bad_request(
                f"Unknown field(s) in 'fields': {', '.join(bad)}", code="invalid-fields", parameter="fields"
            )
        query.fields = selected
    for name in _names(params.get("include")):
        if name not in model.relations:
            known = ", ".join(sorted(model.relations)) or "none"
            raise bad_request(
                f"'{model.name}' has no relation '{name}' to include (relations: {known})",
                code="invalid-include",
                parameter="include",
            )
        query.include.append(name)
    return query
