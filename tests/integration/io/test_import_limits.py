"""Limits: upload size, row count, XLSX zip bombs and XML entity bombs, damaged archives."""

from __future__ import annotations

import io
import random
import resource
import struct
import time
import zipfile
from typing import Any

import pytest

from stateyard.io import xlsx_guard
from tests.conftest import Api, assert_problem
from tests.integration.io.conftest import (
    XLSX_TYPE,
    Probe,
    csv_bytes,
    jsonl_bytes,
    rebuilt_xlsx,
    result,
    upload,
    xlsx_bytes,
)

SHEET = "xl/worksheets/sheet1.xml"
ROWS = [["code", "quantity"], ["A-1", 1], ["A-2", 2]]


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def bomb(part_bytes: int) -> bytes:
    """A valid workbook whose sheet part unpacks to ``part_bytes`` of highly compressible XML."""
    good = xlsx_bytes({"S": ROWS})
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != SHEET:
                target.writestr(info.filename, source.read(info.filename))
                continue
            xml = source.read(SHEET)
            head, tail = xml.split(b"</sheetData>")
            filler = b"<!-- " + b" " * (1024 * 1024 - 9) + b" -->"
            entry = zipfile.ZipInfo(SHEET)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with target.open(entry, "w") as part:
                part.write(head)
                for _ in range(part_bytes // len(filler)):
                    part.write(filler)
                part.write(b"</sheetData>" + tail)
    return out.getvalue()


def with_lying_sizes(data: bytes, name: str, size: int) -> bytes:
    """``data`` with the uncompressed size of one part declared as ``size`` in both zip headers."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    encoded = name.encode()
    local = info.header_offset
    assert raw[local : local + 4] == b"PK\x03\x04"
    struct.pack_into("<I", raw, local + 22, size)
    central = raw.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", raw, central + 28)[0]
        if raw[central + 46 : central + 46 + name_length] == encoded:
            struct.pack_into("<I", raw, central + 24, size)
            break
        central = raw.find(b"PK\x01\x02", central + 4)
    assert central != -1
    return bytes(raw)


@pytest.mark.parametrize("overrides", [{"import_max_bytes": 2000}])
async def test_a_file_over_the_upload_limit_is_413(admin: Api, item: Any, probe: Probe) -> None:
    small = csv_bytes([["code"], *([f"A-{i}"] for i in range(10))])
    assert result(await upload(admin, "item", "items.csv", small))["imported"] == 10
    unchanged = await probe.unchanged("item")
    large = csv_bytes([["code"], *([f"B-{i}"] for i in range(400))])
    assert len(large) > 2000
    body = assert_problem(await upload(admin, "item", "items.csv", large), 413, "too-large")
    assert "2000" in body["detail"]
    await unchanged.check()


@pytest.mark.parametrize("overrides", [{"max_body_bytes": 4000}])
async def test_a_request_over_the_body_limit_is_413(admin: Api, item: Any, probe: Probe) -> None:
    unchanged = await probe.unchanged("item")
    large = csv_bytes([["code"], *([f"B-{i}"] for i in range(1000))])
    response = await upload(admin, "item", "items.csv", large)
    assert response.status_code == 413, response.text
    await unchanged.check()


@pytest.mark.parametrize("overrides", [{"import_max_rows": 5, "import_batch_size": 2}])
@pytest.mark.parametrize("on_error", ["abort", "skip"])
async def test_more_rows_than_allowed_is_413_and_writes_nothing(
    admin: Api, item: Any, probe: Probe, on_error: str
) -> None:
    assert (
        result(await upload(admin, "item", "ok.csv", csv_bytes([["code"], *([f"A-{i}"] for i in range(5))])))[
            "imported"
        ]
        == 5
    )
    unchanged = await probe.unchanged("item")
    data = csv_bytes([["code"], *([f"B-{i}"] for i in range(6))])
    body = assert_problem(await upload(admin, "item", "items.csv", data, on_error=on_error), 413, "too-many-rows")
    assert body["max_rows"] == 5 and "5" in body["detail"]
    lines = jsonl_bytes([{"code": f"C-{i}"} for i in range(6)])
    assert_problem(await upload(admin, "item", "items.jsonl", lines, on_error=on_error), 413, "too-many-rows")
    await unchanged.check()


async def test_an_xlsx_zip_bomb_is_refused_quickly_without_unpacking_it(admin: Api, item: Any, probe: Probe) -> None:
    data = bomb(128 * 1024 * 1024)
    assert len(data) < 2 * 1024 * 1024
    unchanged = await probe.unchanged("item")
    before = peak_rss_bytes()
    started = time.monotonic()
    body = assert_problem(await upload(admin, "item", "bomb.xlsx", data, XLSX_TYPE), 413, "too-large")
    assert time.monotonic() - started < 5
    assert peak_rss_bytes() - before < 64 * 1024 * 1024
    assert "zip bomb" in body["detail"]
    await unchanged.check()


@pytest.mark.parametrize("overrides", [{"xlsx_max_ratio": 100000.0, "xlsx_max_uncompressed_bytes": 32 * 1024 * 1024}])
async def test_an_xlsx_that_unpacks_beyond_the_size_limit_is_413(admin: Api, item: Any, probe: Probe) -> None:
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "big.xlsx", bomb(64 * 1024 * 1024)), 413, "too-large")
    assert str(32 * 1024 * 1024) in body["detail"]
    await unchanged.check()


async def test_an_xlsx_that_lies_about_its_sizes_is_refused(admin: Api, item: Any, probe: Probe) -> None:
    unchanged = await probe.unchanged("item")
    data = with_lying_sizes(bomb(64 * 1024 * 1024), SHEET, 4096)
    before = peak_rss_bytes()
    started = time.monotonic()
    response = await upload(admin, "item", "liar.xlsx", data)
    assert response.status_code in (400, 413), response.text
    assert_problem(response, response.status_code)
    assert time.monotonic() - started < 10
    assert peak_rss_bytes() - before < 64 * 1024 * 1024
    await unchanged.check()


LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n'
        % (i, b"".join(b"&lol%s;" % (b"" if i == 1 else str(i - 1).encode()) for _ in range(10)))
        for i in range(1, 10)
    )
    + b"]>\n"
)


@pytest.mark.parametrize(
    "part",
    [SHEET, "xl/workbook.xml", "[Content_Types].xml", "xl/_rels/workbook.xml.rels"],
)
async def test_xml_that_declares_entities_is_refused(admin: Api, item: Any, probe: Probe, part: str) -> None:
    good = xlsx_bytes({"S": ROWS})
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        xml = archive.read(part)
    body_start = xml.index(b"<", xml.index(b"?>") + 2) if xml.startswith(b"<?xml") else 0
    hostile = LAUGHS + xml[body_start:].replace(b"A-1", b"&lol9;")
    unchanged = await probe.unchanged("item")
    started = time.monotonic()
    body = assert_problem(
        await upload(admin, "item", "laughs.xlsx", rebuilt_xlsx(good, {part: hostile})), 400, "invalid-file"
    )
    assert time.monotonic() - started < 5
    assert "document type" in body["detail"] and part in body["detail"]
    await unchanged.check()


async def test_a_declaration_across_two_read_chunks_is_found(admin: Api, item: Any) -> None:
    good = xlsx_bytes({"S": ROWS})
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        xml = archive.read(SHEET)
    head, tail = xml.split(b"<sheetData>")
    pad = xlsx_guard.CHUNK - len(head) - 4
    noise = random.Random(5).randbytes(pad).hex().encode()[: pad - 7]  # barely compressible: no zip bomb
    hostile = head + b"<!--" + noise + b"-->" + b"<!ENTITY x 'y'>" + b"<sheetData>" + tail
    assert hostile.index(b"<!ENTITY") < xlsx_guard.CHUNK < hostile.index(b"<!ENTITY") + 8
    body = assert_problem(await upload(admin, "item", "split.xlsx", rebuilt_xlsx(good, {SHEET: hostile})), 400)
    assert "document type" in body["detail"]


def _without(data: bytes, name: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info.filename, source.read(info.filename))
    return out.getvalue()


def _encrypted_flag(data: bytes) -> bytes:
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(SHEET)
    local = info.header_offset
    flags = struct.unpack_from("<H", raw, local + 6)[0]
    struct.pack_into("<H", raw, local + 6, flags | 1)
    central = raw.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", raw, central + 28)[0]
        if raw[central + 46 : central + 46 + name_length] == SHEET.encode():
            flags = struct.unpack_from("<H", raw, central + 8)[0]
            struct.pack_into("<H", raw, central + 8, flags | 1)
        central = raw.find(b"PK\x01\x02", central + 4)
    return bytes(raw)


def corrupted(data: bytes) -> bytes:
    """The archive with bytes inside the sheet's compressed data flipped (its CRC no longer matches)."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(SHEET)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for offset in range(start + 10, start + min(info.compress_size, 60)):
        raw[offset] ^= 0x5A
    return bytes(raw)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda d: d[: len(d) // 2], "not an XLSX file"),
        (lambda d: d[:-30], "not an XLSX file"),
        (corrupted, "damaged"),
        (lambda d: _without(d, "[Content_Types].xml"), "not an XLSX workbook"),
        (lambda d: _without(d, SHEET), "cannot be read"),
        (lambda d: rebuilt_xlsx(d, {SHEET: b"<worksheet><sheetData><row>"}), "cannot be read"),
        (_encrypted_flag, "encrypted"),
    ],
)
async def test_damaged_archives_are_400(admin: Api, item: Any, probe: Probe, damage: Any, words: str) -> None:
    data = damage(xlsx_bytes({"S": ROWS}))
    unchanged = await probe.unchanged("item")
    body = assert_problem(await upload(admin, "item", "damaged.xlsx", data, XLSX_TYPE), 400, "invalid-file")
    assert words in body["detail"], body["detail"]
    await unchanged.check()


async def test_a_normal_workbook_still_passes_the_guard(admin: Api, item: Any) -> None:
    rows = [
        ["code", "name", "quantity"],
        *([f"A-{i}", f"Item number {i * 7919 % 10007}, size {i % 13}", i] for i in range(5000)),
    ]
    report = result(await upload(admin, "item", "big.xlsx", xlsx_bytes({"S": rows})))
    assert report["imported"] == 5000
