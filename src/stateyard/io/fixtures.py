"""Load demo and test rows from ``fixtures/<entity>.json`` files (arrays of objects).

Rows go through the same validation, permission checks and audit as API writes. Rows that
carry an ``id`` already present are skipped, so loading twice changes nothing.
"""

from __future__ import annotations

import uuid
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import msgspec

from stateyard.auth.permissions import Subject
from stateyard.core.errors import ProblemError
from stateyard.platform import Platform


class FixtureError(ValueError):
    pass


def _ordered(platform: Platform, files: dict[str, Path]) -> list[str]:
    snapshot = platform.registry.snapshot
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        model = snapshot.get(name)
        if model is None:
            raise FixtureError(f"{path}: there is no entity named '{name}'")
        graph[name] = {r.target for r in model.definition.relations if r.type == "belongs_to" and r.target in files}
    try:
        return list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise FixtureError(f"fixtures reference each other in a cycle: {exc.args[1]}") from None


def fixture_files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


async def load_fixtures(platform: Platform, folder: Path, subject: Subject) -> dict[str, int]:
    """Create the rows of every ``<entity>.json`` file in ``folder``; returns rows created per entity."""
    files = fixture_files(folder)
    created: dict[str, int] = {}
    for name in _ordered(platform, files):
        try:
            rows: Any = msgspec.json.decode(files[name].read_bytes())
        except msgspec.DecodeError as exc:
            raise FixtureError(f"{files[name]}: not valid JSON: {exc}") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise FixtureError(f"{files[name]}: expected an array of objects")
        snapshot, model = await platform.records.resolve(name)
        count = 0
        async with platform.db.write() as conn:
            for index, row in enumerate(rows):
                if "id" in row and await platform.store.load(conn, model, uuid.UUID(str(row["id"]))) is not None:
                    continue
                try:
                    await platform.records.create_in(conn, snapshot, subject, model, dict(row))
                except ProblemError as exc:
                    detail = "; ".join(f"{e.field}: {e.message}" for e in exc.errors or []) or exc.detail
                    raise FixtureError(f"{files[name]} row {index + 1}: {detail}") from None
                count += 1
        created[name] = count
    return created
