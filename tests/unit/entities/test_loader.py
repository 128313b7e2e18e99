"""Reading schema folders: files merged in name order, every problem naming its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from stateyard.entities.loader import SchemaFileError, load_folder

BOARD = """
entities:
  - name: board
    columns:
      - {{name: title, type: string}}
    permissions:
      table: {{owner: [all], group: [{verbs}]}}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("entities:\n  - name: board\n    colour: red\n", "colour"),
        ("entities:\n  - name: board\n    columns: [{name: a, type: string, size: 3}]\n", "size"),
        ("tables:\n  - name: board\n", "tables"),
        ("entities: [\n  - name: board\n", "cannot be read"),
        ("entities:\n  - name: board\n   columns: []\n", "cannot be read"),
        ("entities: {name: board}\n", "entities"),
    ],
)
def test_a_bad_file_is_refused_naming_it(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, "good.yaml", "groups: [{name: editors}]\n")
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(SchemaFileError) as refused:
        load_folder(tmp_path)
    assert str(path) in str(refused.value)
    assert expected in str(refused.value)


def test_a_bad_json_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '{"entities": [}')
    with pytest.raises(SchemaFileError, match=r"bad\.json"):
        load_folder(tmp_path)
    path.write_text('{"entities": [{"name": "board", "columns": 3}]}')
    with pytest.raises(SchemaFileError, match=r"bad\.json.*columns"):
        load_folder(tmp_path)


def test_the_same_entity_in_two_files_is_refused(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", BOARD.format(verbs="peek"))
    second = write(tmp_path, "sub/b.yaml", BOARD.format(verbs="read"))
    with pytest.raises(SchemaFileError) as refused:
        load_folder(tmp_path)
    message = str(refused.value)
    assert str(first) in message and str(second) in message and "'board'" in message


def test_the_same_group_in_two_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "groups: [{name: editors}]\n")
    write(tmp_path, "b.json", '{"groups": [{"name": "editors"}]}')
    with pytest.raises(SchemaFileError, match="'editors' in groups is already declared"):
        load_folder(tmp_path)


def test_files_of_a_folder_are_merged(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "groups: [{name: editors}]\n")
    write(tmp_path, "b.yml", BOARD.format(verbs="peek"))
    write(tmp_path, "c.json", '{"entities": [{"name": "page"}]}')
    write(tmp_path, "empty.yaml", "")
    write(tmp_path, "notes.txt", "not a schema file")
    document = load_folder(tmp_path)
    assert [g.name for g in document.groups] == ["editors"]
    assert [e.name for e in document.entities] == ["board", "page"]
    assert load_folder(tmp_path / "missing").entities == []
