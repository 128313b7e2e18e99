"""The import spool: checked batches come back from disk exactly as they went in, typed."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from stateyard.crud.validation import Validated
from stateyard.entities.compiler import Model
from stateyard.entities.types import column_type
from stateyard.io.batches import Checked
from stateyard.io.spool import Spool
from tests.unit.io.conftest import compiled

EVERY_TYPE: dict[str, Any] = {
    "name": "everything",
    "columns": [
        {"name": "s", "type": "string"},
        {"name": "t", "type": "text"},
        {"name": "e", "type": "email"},
        {"name": "u", "type": "url"},
        {"name": "i", "type": "integer"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "decimal", "precision": 12, "scale": 3},
        {"name": "b", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "at", "type": "datetime"},
        {"name": "j", "type": "json"},
        {"name": "k", "type": "enum", "options": ["a", "b"]},
        {"name": "ref", "type": "uuid"},
        {"name": "pw", "type": "password"},
        {"name": "enc", "type": "encrypted"},
        {"name": "sec", "type": "secret"},
        {"name": "perm", "type": "permission"},
    ],
    "relations": [{"name": "parent", "type": "belongs_to", "target": "everything"}],
}


@pytest.fixture(scope="module")
def model() -> Model:
    return compiled(EVERY_TYPE)


def _values(n: int) -> dict[str, Any]:
    return {
        "s": f"text {n}",
        "t": "long\ntext",
        "e": "a@example.com",
        "u": "https://example.com/x",
        "i": -(2**63) + n,
        "f": 0.1 + n,
        "d": Decimal("12.300"),
        "b": n % 2 == 0,
        "day": dt.date(1999, 12, 31),
        "at": dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=dt.UTC),
        "j": {"nested": [1, 2.5, "x", None, True], "1.0": 1.0},
        "k": "b",
        "ref": uuid.uuid4(),
        "pw": "correct horse",
        "enc": "secret text",
        "sec": "token",
        "perm": 123,
        "parent_id": uuid.uuid4(),
    }


def _checked(row: int, values: dict[str, Any], **validated: Any) -> Checked:
    return Checked(row, values, Validated(values, [], **validated))


def _same(got: list[Checked], sent: list[Checked]) -> None:
    def shown(c: Checked) -> tuple[Any, ...]:
        return (c.row, c.values, c.before, c.changes)

    assert [shown(c) for c in got] == [shown(c) for c in sent]
    assert [(c.validated.row_id, c.validated.permission, c.validated.owner_id) for c in got] == [
        (c.validated.row_id, c.validated.permission, c.validated.owner_id) for c in sent
    ]
    for a, b in zip(got, sent, strict=True):
        assert {k: type(v) for k, v in a.values.items()} == {k: type(v) for k, v in b.values.items()}


def _round_trip(model: Model, *batches: list[Checked]) -> list[list[Checked]]:
    spool = Spool(model)
    try:
        for batch in batches:
            spool.add(batch)
        return list(spool)
    finally:
        spool.close()


def test_every_column_type_comes_back_typed(model: Model) -> None:
    first = [_checked(2, _values(0)), _checked(3, {"s": None, "i": 5}, row_id=uuid.uuid4(), permission=7)]
    second = [
        _checked(4, _values(1), owner_id=None),
        _checked(5, {}, owner_id=uuid.uuid4()),
    ]
    got = _round_trip(model, first, second)
    assert len(got) == 2
    _same(got[0], first)
    _same(got[1], second)
    assert got[0][0].values["d"] == Decimal("12.300") and str(got[0][0].values["d"]) == "12.300"
    assert got[0][0].values["at"].tzinfo is not None
    assert got[0][1].validated.owner_id is msgspec.UNSET and got[1][0].validated.owner_id is None
    assert "t" not in got[0][1].values  # a missing value stays missing, a null stays null
    assert got[0][1].values["s"] is None


def test_an_upsert_keeps_the_row_it_found_and_its_changes(model: Model) -> None:
    before = {"id": uuid.uuid4(), "version": 3, "s": "old", "created_at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    item = _checked(9, {"s": "new"})
    item.before, item.changes = before, {"s": "new"}
    (got,) = _round_trip(model, [item])
    _same(got, [item])


@pytest.mark.parametrize(
    "odd",
    [{"j": {"big": 2**70}}, {"s": "half a surrogate \ud800"}, {"j": [2**64]}],
    ids=["integer beyond 64 bits", "not unicode", "unsigned overflow"],
)
def test_a_batch_messagepack_cannot_hold_is_pickled(model: Model, odd: dict[str, Any]) -> None:
    batch = [_checked(2, _values(0)), _checked(3, odd)]
    (got,) = _round_trip(model, [_checked(1, _values(2))], batch)[1:]
    _same(got, batch)


def test_a_value_under_an_unknown_name_is_kept(model: Model) -> None:
    batch = [_checked(2, {"s": "x", "not_a_column": Decimal("1.5")})]
    (got,) = _round_trip(model, batch)
    _same(got, batch)


def test_an_entity_with_a_column_of_no_single_type_is_pickled(model: Model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(type(column_type("json")), "value_type", None)
    batch = [_checked(2, _values(0))]
    (got,) = _round_trip(compiled(EVERY_TYPE), batch)
    _same(got, batch)


def test_every_column_type_declares_its_value_type() -> None:
    for name in ("string", "text", "email", "url", "integer", "float", "decimal", "boolean", "date", "datetime"):
        assert column_type(name).value_type is not None
    for name in ("json", "enum", "uuid", "password", "encrypted", "secret", "permission"):
        assert column_type(name).value_type is not None
