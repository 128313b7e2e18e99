"""Turn stored rows into what the API shows to one subject.

Password hashes and ``secret`` values never leave; encrypted values are decrypted only for
administrators, the row's owner when the column lists ``owner`` among its readers, and members
of reader groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import msgspec

from stateyard.auth.permissions import Subject, decode
from stateyard.core.crypto import Crypto
from stateyard.entities.compiler import Model
from stateyard.entities.registry import Snapshot

ROW_FIELDS = ("id", "version", "created_at", "updated_at", "owner_id")


@lru_cache(maxsize=4096)
def shown_permission(value: int) -> dict[str, list[str]]:
    return msgspec.structs.asdict(decode(value))


class Presenter:
    def __init__(self, crypto: Crypto) -> None:
        self.crypto = crypto

    def rows(
        self,
        snapshot: Snapshot,
        model: Model,
        rows: Iterable[Mapping[str, Any]],
        subject: Subject,
        fields: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        plan = self._plan(snapshot, model, subject, fields)
        return [self._one(plan, row, subject) for row in rows]

    def table(
        self,
        snapshot: Snapshot,
        model: Model,
        keys: Sequence[str],
        rows: Iterable[Sequence[Any]],
        subject: Subject,
        columns: list[str],
    ) -> list[list[Any]]:
        """Rows given as value tuples in ``keys`` order, shown as lists in ``columns`` order (exports):
        what :meth:`rows` shows, None where it hides. The fast path for the common case of plain fields."""
        plan = {name: (how, readers) for name, how, readers in self._plan(snapshot, model, subject, columns)}
        steps = [(name, *plan.get(name, ("hidden", None))) for name in columns]
        index = {key: i for i, key in enumerate(keys)}
        if all(how == "plain" for _, how, _ in steps):
            positions = [index[name] for name in columns]
            return [[row[i] for i in positions] for row in rows]
        value = self._value
        shown = []
        for values in rows:
            row = dict(zip(keys, values, strict=True))
            shown.append([value(how, readers, row.get(name), row, subject) for name, how, readers in steps])
        return shown

    def row(
        self,
        snapshot: Snapshot,
        model: Model,
        row: Mapping[str, Any],
        subject: Subject,
        fields: list[str] | None = None,
    ) -> dict[str, Any]:
        return self._one(self._plan(snapshot, model, subject, fields), row, subject)

    def _plan(
        self, snapshot: Snapshot, model: Model, subject: Subject, fields: list[str] | None
    ) -> list[tuple[str, str, frozenset[Any] | None]]:
        """(name, how, reader group ids) for every field to show; computed once per response."""
        wanted = None if fields is None else {"id", *fields}
        plan: list[tuple[str, str, frozenset[Any] | None]] = []
        for name in ROW_FIELDS:
            if wanted is None or name in wanted:
                plan.append((name, "plain", None))
        if wanted is None or "permission" in wanted:
            plan.append(("permission", "permission", None))
        for name, col in model.columns.items():
            if wanted is not None and name not in wanted:
                continue
            kind = model.types[name].name
            if not model.types[name].returned:  # password hashes, secrets
                continue
            if kind == "encrypted":
                readers = col.readers if col.readers is not None else ["owner"]
                ids = frozenset("owner" if g == "owner" else snapshot.groups.get(g) for g in readers) - {None}
                plan.append((name, "encrypted", ids))
            elif kind == "permission":
                plan.append((name, "permission", None))
            else:
                plan.append((name, "plain", None))
        for fk in model.foreign_keys:
            if wanted is None or fk in wanted:
                plan.append((fk, "plain", None))
        return plan

    def _one(
        self, plan: list[tuple[str, str, frozenset[Any] | None]], row: Mapping[str, Any], subject: Subject
    ) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        for name, how, readers in plan:
            if how == "plain":
                shown[name] = row.get(name)
            elif how != "encrypted" or self._may_read_secret(subject, row, readers):
                # An encrypted value one may not read is left out, not shown as null: a null shown only to
                # non-readers would tell them which rows hold a secret.
                shown[name] = self._value(how, readers, row.get(name), row, subject)
        return shown

    def _value(
        self, how: str, readers: frozenset[Any] | None, value: Any, row: Mapping[str, Any], subject: Subject
    ) -> Any:
        """A value that is not shown as stored: decrypted for its readers, a permission spelled out."""
        if how == "plain":
            return value
        if value is None:
            return None
        if how == "encrypted":
            return self.crypto.decrypt(value) if self._may_read_secret(subject, row, readers) else None
        if how == "permission":
            return shown_permission(value)
        return None  # a field hidden from this subject

    @staticmethod
    def _may_read_secret(subject: Subject, row: Mapping[str, Any], readers: frozenset[Any] | None) -> bool:
        if subject.is_admin:
            return True
        if not readers or subject.user_id is None:
            return False
        if "owner" in readers and row.get("owner_id") == subject.user_id:
            return True
        return bool(subject.group_ids & readers)
