"""Refuse hostile XLSX archives before any parser sees them.

An XLSX file is a zip of XML parts. A few kilobytes can unpack to gigabytes (a zip bomb),
and XML can declare entities that expand exponentially (the "billion laughs"). The sizes a
zip's directory declares can lie, so every part is inflated here in bounded chunks, counting
the real bytes, and scanned for document type declarations, which no spreadsheet needs.
This costs one extra inflate of the archive and never holds more than a chunk in memory.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from typing import IO

import msgspec

from stateyard.io.errors import SourceError

CHUNK = 1024 * 1024
_DECLARATION = re.compile(rb"<!(?i:doctype|entity)")
#: Parts smaller than this are not checked for their ratio (tiny XML compresses well and is harmless).
RATIO_FLOOR_BYTES = 1024 * 1024


class XlsxLimits(msgspec.Struct, frozen=True):
    #: The most all parts of an archive may unpack to.
    max_uncompressed_bytes: int
    #: The most a part may grow when unpacked (uncompressed / compressed).
    max_ratio: float


def check_archive(file: IO[bytes], size: int, limits: XlsxLimits) -> None:
    """Raise :class:`~stateyard.io.readers.SourceError` (400 or 413) unless ``file`` is a sane XLSX archive."""
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise SourceError("this is not an XLSX file (not a zip archive)") from None
    with archive:
        names = set(archive.namelist())
        if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
            raise SourceError("this zip archive is not an XLSX workbook")
        total = 0
        for info in archive.infolist():
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise SourceError("this XLSX file is encrypted; save it without a password")
            declared = info.file_size
            if declared + total > limits.max_uncompressed_bytes:
                raise _too_large(limits)
            if declared > RATIO_FLOOR_BYTES and declared > limits.max_ratio * max(info.compress_size, 1):
                raise SourceError(
                    f"part {info.filename} would unpack {declared // max(info.compress_size, 1)} times larger "
                    f"than it is stored (at most {limits.max_ratio:g}); this looks like a zip bomb",
                    status=413,
                )
            total += _inflate(archive, info, limits, total)


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: XlsxLimits, before: int) -> int:
    """The real unpacked size of one part, scanning XML parts for declarations on the way."""
    xml = info.filename.endswith((".xml", ".rels", ".vml"))
    seen = 0
    tail = b""
    try:
        with archive.open(info) as part:
            while chunk := part.read(CHUNK):
                seen += len(chunk)
                if before + seen > limits.max_uncompressed_bytes:
                    raise _too_large(limits)
                if seen > RATIO_FLOOR_BYTES and seen > limits.max_ratio * max(info.compress_size, 1):
                    raise SourceError(
                        f"part {info.filename} unpacks more than {limits.max_ratio:g} times larger than it is "
                        "stored; this looks like a zip bomb",
                        status=413,
                    )
                if xml and _DECLARATION.search(tail + chunk):
                    raise SourceError(
                        f"part {info.filename} declares a document type or entities, which spreadsheets never need "
                        "and which can expand without bound; refused"
                    )
                tail = chunk[-16:]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError, NotImplementedError) as exc:
        raise SourceError(f"this XLSX file is damaged: {exc}") from None
    return seen


def _too_large(limits: XlsxLimits) -> Exception:
    return SourceError(
        f"this XLSX file unpacks to more than {limits.max_uncompressed_bytes} bytes, the most accepted",
        status=413,
    )
