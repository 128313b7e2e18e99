"""The XLSX guard: archives checked part by part, in bounded chunks, before any parser sees them."""

from __future__ import annotations

import io
import random
import struct
import zipfile

import pytest

from stateyard.io import xlsx_guard
from stateyard.io.errors import SourceError
from stateyard.io.xlsx_guard import XlsxLimits, check_archive

MB = 1024 * 1024
LIMITS = XlsxLimits(max_uncompressed_bytes=8 * MB, max_ratio=100.0)
PARTS = {
    "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="x"/>',
    "xl/workbook.xml": b'<?xml version="1.0"?><workbook/>',
    "xl/worksheets/sheet1.xml": b"<worksheet><sheetData/></worksheet>",
}


def archive(parts: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return out.getvalue()


def check(data: bytes, limits: XlsxLimits = LIMITS) -> None:
    check_archive(io.BytesIO(data), len(data), limits)


def refusal(data: bytes, limits: XlsxLimits = LIMITS) -> SourceError:
    with pytest.raises(SourceError) as caught:
        check(data, limits)
    return caught.value


def noise(size: int) -> bytes:
    return random.Random(size).randbytes(size // 2).hex().encode()[:size]


def test_a_sane_archive_passes() -> None:
    check(archive({**PARTS, "xl/media/image.png": noise(3 * MB)}))


def test_a_highly_compressed_part_is_a_bomb_413() -> None:
    error = refusal(archive({**PARTS, "xl/worksheets/sheet1.xml": b" " * (4 * MB)}))
    assert error.status == 413 and "zip bomb" in error.message


def test_small_parts_are_not_judged_by_their_ratio() -> None:
    check(archive({**PARTS, "xl/styles.xml": b" " * (MB - 1)}))


def test_the_total_unpacked_size_is_bounded_413() -> None:
    parts = {**PARTS, **{f"xl/media/image{i}.bin": noise(3 * MB) for i in range(3)}}
    error = refusal(archive(parts))
    assert error.status == 413 and str(8 * MB) in error.message


def test_a_stored_part_larger_than_the_limit_is_413() -> None:
    error = refusal(archive({**PARTS, "xl/media/big.bin": noise(9 * MB)}, method=zipfile.ZIP_STORED))
    assert error.status == 413


def lie_about_size(data: bytes, name: str, size: int) -> bytes:
    raw = bytearray(data)
    offset = 0
    while (offset := raw.find(b"PK\x03\x04", offset)) != -1:
        length = struct.unpack_from("<H", raw, offset + 26)[0]
        if raw[offset + 30 : offset + 30 + length] == name.encode():
            struct.pack_into("<I", raw, offset + 22, size)
        offset += 4
    offset = 0
    while (offset := raw.find(b"PK\x01\x02", offset)) != -1:
        length = struct.unpack_from("<H", raw, offset + 28)[0]
        if raw[offset + 46 : offset + 46 + length] == name.encode():
            struct.pack_into("<I", raw, offset + 24, size)
        offset += 4
    return bytes(raw)


def test_a_part_that_lies_about_its_size_is_refused_without_unpacking_it_all() -> None:
    data = lie_about_size(
        archive({**PARTS, "xl/worksheets/sheet1.xml": b" " * (64 * MB)}), "xl/worksheets/sheet1.xml", 100
    )
    error = refusal(data)
    assert error.status in (400, 413)


@pytest.mark.parametrize(
    "xml",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><worksheet/>',
        b"<!doctype worksheet><worksheet/>",
        b'<worksheet><!ENTITY a SYSTEM "file:///etc/passwd"></worksheet>',
    ],
)
@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "_rels/.rels", "xl/drawings/vmlDrawing1.vml"])
def test_document_type_and_entity_declarations_are_refused(xml: bytes, part: str) -> None:
    error = refusal(archive({**PARTS, part: xml}))
    assert error.status == 400 and part in error.message


def test_a_declaration_split_across_chunks_is_found() -> None:
    prefix = noise(xlsx_guard.CHUNK - 3)
    error = refusal(archive({**PARTS, "xl/worksheets/sheet1.xml": prefix + b"<!DOCTYPE x><worksheet/>"}))
    assert "document type" in error.message


def test_declarations_in_binary_parts_are_not_xml() -> None:
    check(archive({**PARTS, "xl/media/image.png": b"\x89PNG<!DOCTYPE is just bytes here"}))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not a zip at all", "not an XLSX file"),
        (b"", "not an XLSX file"),
        (archive({"word/document.xml": b"<w/>", "[Content_Types].xml": b"<T/>"}), "not an XLSX workbook"),
        (archive({"xl/workbook.xml": b"<w/>"}), "not an XLSX workbook"),
    ],
)
def test_what_is_not_a_workbook(data: bytes, words: str) -> None:
    error = refusal(data)
    assert error.status == 400 and words in error.message


def test_a_damaged_part_is_400() -> None:
    data = bytearray(archive({**PARTS, "xl/worksheets/sheet1.xml": noise(200_000)}))
    middle = data.find(b"xl/worksheets/sheet1.xml") + 200
    for offset in range(middle, middle + 50):
        data[offset] ^= 0xFF
    error = refusal(bytes(data))
    assert error.status == 400 and "damaged" in error.message


def test_an_encrypted_part_is_400() -> None:
    raw = bytearray(archive(PARTS))
    offset = 0
    while (offset := raw.find(b"PK\x01\x02", offset)) != -1:
        struct.pack_into("<H", raw, offset + 8, struct.unpack_from("<H", raw, offset + 8)[0] | 1)
        offset += 4
    error = refusal(bytes(raw))
    assert "encrypted" in error.message
