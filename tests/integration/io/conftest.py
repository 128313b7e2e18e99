"""Entities and helpers for import and export tests.

``item`` has a column of most types with constraints, a unique code, and a belongs_to
``customer``; files are sent as multipart uploads (or JSON data URLs) to the real actions.
A test module (or a parametrized test) changes settings through ``overrides``.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from typing import Any

import msgspec
import openpyxl
import pytest

from stateyard.config import Settings
from tests.conftest import Api
from tests.integration.crud.conftest import Probe, probe  # noqa: F401 - fixture re-exported

CUSTOMER = {"name": "customer", "columns": [{"name": "name", "type": "string", "required": True}]}
ITEM = {
    "name": "item",
    "columns": [
        {"name": "code", "type": "string", "required": True, "unique": True, "max_length": 20},
        {"name": "name", "type": "string", "label": "Item name"},
        {"name": "quantity", "type": "integer", "min": 0, "default": 0},
        {"name": "price", "type": "decimal", "precision": 10, "scale": 2},
        {"name": "weight", "type": "float"},
        {"name": "active", "type": "boolean", "default": True},
        {"name": "due", "type": "date"},
        {"name": "seen_at", "type": "datetime"},
        {"name": "kind", "type": "enum", "options": ["tool", "toy"], "default": "tool"},
        {"name": "meta", "type": "json"},
        {"name": "contact", "type": "email"},
    ],
    "relations": [{"name": "customer", "type": "belongs_to", "target": "customer"}],
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def overrides() -> dict[str, Any]:
    """Settings a test module (or a parametrized test) changes."""
    return {}


@pytest.fixture
def settings(settings: Settings, overrides: dict[str, Any]) -> Settings:
    return msgspec.structs.replace(settings, **overrides)


@pytest.fixture
async def item(admin: Api) -> dict[str, Any]:
    for definition in (CUSTOMER, ITEM):
        response = await admin.post("/api/entity", definition)
        assert response.status_code == 201, response.text
    return ITEM


@pytest.fixture
async def alice(guest: Api) -> Api:
    return await guest.signup("alice@example.com", name="Alice")


@pytest.fixture
async def bob(guest: Api) -> Api:
    return await guest.signup("bob@example.com", name="Bob")


async def define(admin: Api, definition: dict[str, Any]) -> dict[str, Any]:
    response = await admin.post("/api/entity", definition)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def created(api: Api, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(f"/api/{entity}", body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def listed(api: Api, entity: str, **params: Any) -> list[dict[str, Any]]:
    """Every row ``api`` may read, by code when the entity has one (else by id)."""
    response = await api.get(f"/api/{entity}", params={"per_page": 500, **params})
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return sorted(rows, key=lambda r: (str(r.get("code", "")), r["id"]))


def csv_bytes(rows: list[list[Any]], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return text.getvalue().encode(encoding)


def json_bytes(records: list[Any]) -> bytes:
    return json.dumps(records).encode()


def jsonl_bytes(records: list[Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def xlsx_bytes(sheets: dict[str, list[list[Any]]]) -> bytes:
    """A workbook (written by openpyxl) with one sheet per entry, rows as given (typed cells stay typed)."""
    book = openpyxl.Workbook()
    first = True
    for title, rows in sheets.items():
        sheet = book.active if first else book.create_sheet()
        assert sheet is not None
        sheet.title = title
        first = False
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def rebuilt_xlsx(data: bytes, replace: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """``data`` (an XLSX archive) with some parts replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", compression) as target:
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
    return out.getvalue()


def read_xlsx(data: bytes) -> list[list[Any]]:
    """Every row of the first sheet, read back by openpyxl (another library than the writer)."""
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


async def upload(
    api: Api, entity: str, name: str, data: bytes, content_type: str = "text/csv", /, **fields: Any
) -> Any:
    """POST /action/<entity>/import with the file as a multipart part and the other inputs as form fields."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    headers = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    return await api.client.post(
        f"/action/{entity}/import", files={"file": (name, data, content_type)}, data=form, headers=headers
    )


async def upload_new(api: Api, file_name: str, data: bytes, content_type: str = "text/csv", /, **fields: Any) -> Any:
    """POST /action/entity/import_new with a multipart upload."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    headers = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    return await api.client.post(
        "/action/entity/import_new", files={"file": (file_name, data, content_type)}, data=form, headers=headers
    )


def file_value(name: str, data: bytes, content_type: str = "application/octet-stream") -> dict[str, str]:
    return {"name": name, "content_type": content_type, "content": base64.b64encode(data).decode()}


async def import_json(api: Api, entity: str, name: str, data: bytes, /, **attributes: Any) -> Any:
    """The same import with the file inside JSON attributes, as ``{name, content_type, content}``."""
    return await api.post(f"/action/{entity}/import", {"attributes": {"file": file_value(name, data), **attributes}})


def result(response: Any) -> dict[str, Any]:
    """The import report of a 200 answer."""
    assert response.status_code == 200, response.text
    return next(d["attributes"] for d in response.json() if d["type"] == "import_result")


def counts(report: dict[str, Any]) -> dict[str, int]:
    keys = ("rows", "imported", "updated", "unchanged", "failed", "skipped")
    return {k: report[k] for k in keys}


def row_errors(report: dict[str, Any]) -> list[tuple[int, str | None, str]]:
    """(row, column, code) of every error of a report or an import problem."""
    return [(e["row"], e["column"], e["code"]) for e in report["errors"]]


async def export_link(api: Api, entity: str, /, **attributes: Any) -> dict[str, Any]:
    response = await api.post(f"/action/{entity}/export", {"attributes": attributes})
    assert response.status_code == 200, response.text
    return next(d["attributes"] for d in response.json() if d["type"] == "client.file.download")


async def download(api: Api, entity: str, /, **attributes: Any) -> Any:
    link = await export_link(api, entity, **attributes)
    return await api.as_guest().get(link["url"])


async def audits(db: Probe, entity: str) -> list[dict[str, Any]]:
    """Audit records of ``entity`` rows, read past the API."""
    return [r for r in await db.rows("audit_log") if r["entity"] == entity]
