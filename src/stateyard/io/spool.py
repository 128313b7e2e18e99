"""Checked batches kept on disk between an import's two passes.

The first pass reads and checks the whole file before anything is written (see
:mod:`stateyard.io.importer`); what it checked waits here, so memory stays flat whatever the
file's size. Only this process writes and reads a spool, within one import.

Batches are written as MessagePack and read back typed: a row's values are decoded as the
entity's column types (decimals, dates, ids come back as such), several times cheaper than
pickling the same objects, which was a sixth of an import's time. A batch MessagePack cannot
hold (a JSON value with an integer beyond 64 bits, text that is not valid Unicode) and every
batch of an entity with a column of no single Python type are pickled instead.
"""

from __future__ import annotations

import pickle
import struct
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec

from stateyard.crud.validation import Validated
from stateyard.entities.compiler import Model
from stateyard.io.batches import Checked

_PACKED, _PICKLED = b"m", b"p"
_HEADER = struct.Struct("<cQ")
_UNSET = msgspec.UNSET


def _row_type(model: Model) -> type | None:
    """The typed shape of one spooled row, or None when a column's values have no one type."""
    fields: list[tuple[str, Any, Any]] = []
    for name, ctype in model.types.items():
        if ctype.value_type is None:
            return None
        fields.append((name, ctype.value_type | None | msgspec.UnsetType, _UNSET))
    fields += [(name, uuid.UUID | None | msgspec.UnsetType, _UNSET) for name in model.foreign_keys]
    values = msgspec.defstruct("SpooledValues", fields)
    return msgspec.defstruct(
        "SpooledRow",
        [
            ("row", int),
            ("values", values),
            ("row_id", uuid.UUID | None),
            ("permission", int | None),
            ("owner_set", bool),
            ("owner_id", uuid.UUID | None),
            # An upsert's stored row and changes: rows of all columns, pickled (updates are the rare case).
            ("found", bytes | None),
        ],
        array_like=True,
    )


class Spool:
    def __init__(self, model: Model) -> None:
        self.file = tempfile.TemporaryFile(prefix="stateyard-import-")  # noqa: SIM115 - closed by close()
        self.batches = 0
        row_type = _row_type(model)
        self._fields = frozenset(model.types) | frozenset(model.foreign_keys)
        self._encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
        self._decoder = None if row_type is None else msgspec.msgpack.Decoder(list[row_type])  # type: ignore[valid-type]

    def add(self, items: list[Checked]) -> None:
        payload = self._packed(items) if self._decoder is not None else None
        if payload is not None:
            kind = _PACKED
        else:
            kind = _PICKLED
            payload = pickle.dumps([_pickled(item) for item in items], protocol=pickle.HIGHEST_PROTOCOL)
        self.file.write(_HEADER.pack(kind, len(payload)))
        self.file.write(payload)
        self.batches += 1

    def _packed(self, items: list[Checked]) -> bytes | None:
        fields = self._fields
        rows = []
        for item in items:
            if not item.values.keys() <= fields:
                return None
            validated = item.validated
            owner_set = validated.owner_id is not _UNSET
            found = None if item.before is None else pickle.dumps((item.before, item.changes))
            rows.append(
                (
                    item.row,
                    item.values,
                    validated.row_id,
                    validated.permission,
                    owner_set,
                    validated.owner_id if owner_set else None,
                    found,
                )
            )
        try:
            return self._encoder.encode(rows)
        except (msgspec.EncodeError, OverflowError, TypeError, UnicodeEncodeError):
            return None

    def __iter__(self) -> Iterator[list[Checked]]:
        self.file.seek(0)
        for _ in range(self.batches):
            kind, size = _HEADER.unpack(self.file.read(_HEADER.size))
            payload = self.file.read(size)
            if kind == _PICKLED:
                rows = pickle.loads(payload)  # noqa: S301 - our own temp file, written just before
                yield [_restored(*row) for row in rows]
            else:
                assert self._decoder is not None
                yield [_unpacked(row) for row in self._decoder.decode(payload)]

    def close(self) -> None:
        self.file.close()


def _unpacked(row: Any) -> Checked:
    values = {k: v for k, v in msgspec.structs.asdict(row.values).items() if v is not _UNSET}
    before, changes = (None, {}) if row.found is None else pickle.loads(row.found)  # noqa: S301 - as above
    owner_id = row.owner_id if row.owner_set else _UNSET
    return _restored(row.row, values, row.row_id, row.permission, owner_id, before, changes)


def _pickled(item: Checked) -> tuple[Any, ...]:
    checked = item.validated
    return (item.row, item.values, checked.row_id, checked.permission, checked.owner_id, item.before, item.changes)


def _restored(
    row: int, values: dict[str, Any], row_id: Any, permission: Any, owner_id: Any, before: Any, changes: Any
) -> Checked:
    """A spooled row as the checker left it (whichever way it was written)."""
    return Checked(row, values, Validated(values, [], row_id, None, permission, owner_id), before, changes)
