"""Read the declarative definitions under ``schema/`` (YAML or JSON files).

Each file is a :class:`SchemaDocument`; files are read in name order and merged. Every
problem names its file and the path inside it, and a name declared twice is refused, so
the folder can be split however a team likes without ambiguity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import yaml

from stateyard.entities.schemas import SchemaDocument

SUFFIXES = (".yaml", ".yml", ".json")


class SchemaFileError(ValueError):
    """A schema file that cannot be used; the message names the file and the place in it."""


def schema_files(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    if not folder.is_dir():
        raise SchemaFileError(f"{folder} is not a folder")
    return sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file())


def read_document(path: Path) -> SchemaDocument:
    try:
        text = path.read_text(encoding="utf-8")
        raw: Any = msgspec.json.decode(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, msgspec.DecodeError) as exc:
        raise SchemaFileError(f"{path}: cannot be read: {exc}") from None
    if raw is None:
        return SchemaDocument()
    try:
        return msgspec.convert(raw, SchemaDocument)
    except msgspec.ValidationError as exc:
        raise SchemaFileError(f"{path}: {exc}") from None


def load_folder(folder: Path) -> SchemaDocument:
    """All files of ``folder`` merged into one document."""
    merged = SchemaDocument()
    seen: dict[str, Path] = {}
    for path in schema_files(folder):
        document = read_document(path)
        for section in msgspec.structs.fields(SchemaDocument):
            items = getattr(document, section.name)
            for item in items:
                # Actions are named per entity (order.approve); everything else by its name alone.
                name = f"{item.entity}.{item.name}" if section.name == "actions" else item.name
                key = f"{section.name}:{name}"
                if key in seen:
                    raise SchemaFileError(f"{path}: '{name}' in {section.name} is already declared in {seen[key]}")
                seen[key] = path
            getattr(merged, section.name).extend(items)
    return merged
