"""Read CSV, XLSX, JSON and JSON Lines files as a stream of records.

Each reader yields ``(row, record)`` pairs: ``row`` is the number a person sees in the file
(the spreadsheet row, counting the header as row 1; the line of a JSON Lines file; the
position of an object in a JSON array), and ``record`` maps the file's own keys to raw
values. Nothing is read ahead beyond a buffer (CSV, JSON, JSON Lines), so a file of any
length streams in constant memory; XLSX sheets are loaded by calamine after
:mod:`stateyard.io.xlsx_guard` has checked the archive.

A file that cannot be read at all is a :class:`SourceError` (400); a bad record inside a
readable file is a :class:`RecordError` the importer reports against its row and goes on.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import IO, Any, Literal

import ijson
import msgspec

from stateyard.io.errors import RecordError, SourceError
from stateyard.io.xlsx_guard import XlsxLimits, check_archive

Format = Literal["csv", "xlsx", "json", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "xlsx", "json", "jsonl")
EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".xlsx": "xlsx",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
CONTENT_TYPES: dict[str, Format] = {
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
}
DELIMITERS = ",;\t|"
SAMPLE_BYTES = 64 * 1024
#: A CSV cell longer than this is refused (the csv module's own default is 128 KiB).
MAX_CELL_CHARS = 1024 * 1024
# Let the csv module read such cells (a longer one is then that row's error, see CsvSource.records);
# beyond four times the limit a cell still makes the whole file unreadable. A process-wide setting.
csv.field_size_limit(max(csv.field_size_limit(), 4 * MAX_CELL_CHARS))
#: What a byte the codec could not decode becomes with ``errors="surrogateescape"``.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


class ReadOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: CSV only: the field separator (detected from the header line when not given).
    delimiter: str | None = None
    #: CSV only: a Python codec name (detected when not given: UTF-8 with or without BOM, else Windows-1252/Latin-1).
    encoding: str | None = None
    #: XLSX only: a sheet name, or its position counting from 1 (default: the first sheet).
    sheet: str | int | None = None


Record = dict[str, Any] | RecordError


class Source(ABC):
    """A readable file: its header (None when each record brings its own keys) and its records."""

    #: True when values arrive typed as JSON (no cell conversion needed).
    typed = False
    headers: list[str] | None = None
    #: The file read (formats that count their progress in bytes) and its size.
    file: IO[bytes]
    size = 0

    @abstractmethod
    def records(self) -> Iterator[tuple[int, Record]]:
        """Each record with the number a person finds it by in the file."""

    def progress(self) -> tuple[int, int]:
        """(done, total) in the unit the format can count cheaply: bytes read (rows for XLSX)."""
        try:
            return (self.file.tell(), self.size)
        except (OSError, ValueError):
            return (0, self.size)


def detect_format(name: str, content_type: str | None, given: str | None) -> Format:
    """The explicit format, else the file name's extension, else its media type."""
    if given is not None:
        if given not in FORMATS:
            raise SourceError(f"unknown format {given!r}; known: {', '.join(FORMATS)}")
        return given
    lowered = name.lower()
    for extension, kind in EXTENSIONS.items():
        if lowered.endswith(extension):
            return kind
    media = (content_type or "").split(";")[0].strip().lower()
    if media in CONTENT_TYPES:
        return CONTENT_TYPES[media]
    raise SourceError(
        f"cannot tell the format of '{name}' ({content_type or 'no media type'}): name it .csv, .xlsx, .json "
        "or .jsonl, or give 'format'"
    )


def open_source(kind: Format, file: IO[bytes], size: int, options: ReadOptions, limits: XlsxLimits) -> Source:
    """A reader over ``file`` (seekable, positioned at its start) for ``kind``."""
    if kind != "csv" and (options.delimiter is not None or options.encoding is not None):
        raise SourceError("'delimiter' and 'encoding' apply to CSV files only")
    if kind != "xlsx" and options.sheet is not None:
        raise SourceError("'sheet' applies to XLSX files only")
    if kind == "csv":
        return CsvSource(file, size, options)
    if kind == "xlsx":
        return XlsxSource(file, size, options, limits)
    if kind == "json":
        return JsonSource(file, size)
    return JsonLinesSource(file, size)


# -- CSV --------------------------------------------------------------------------------------


def detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)  # a character cut by the sample's end is not an error
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        sample.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def detect_delimiter(first_line: str) -> str:
    """The candidate that occurs most often in the header line (a comma when none does)."""
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


class CsvSource(Source):
    def __init__(self, file: IO[bytes], size: int, options: ReadOptions) -> None:
        self.file = file
        self.size = size
        sample = file.read(SAMPLE_BYTES)
        file.seek(0)
        if b"\x00" in sample and not sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise SourceError("this is not a text file (it contains NUL bytes); is it an XLSX file?")
        self.encoding = options.encoding or detect_encoding(sample)
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise SourceError(f"unknown encoding {self.encoding!r}") from None
        self.text = io.TextIOWrapper(file, encoding=self.encoding, newline="")
        if options.delimiter is not None:
            if len(options.delimiter) != 1 or options.delimiter in '"\r\n':
                raise SourceError(
                    f"the delimiter must be one character other than quote or newline, got {options.delimiter!r}"
                )
            self.delimiter = options.delimiter
        else:
            try:
                head = sample.decode(self.encoding, errors="replace").lstrip("\ufeff")
            except LookupError:  # pragma: no cover - looked up above
                head = ""
            self.delimiter = detect_delimiter(head.splitlines()[0] if head else "")
        # Strict: a quote left open (which would swallow every later row into one cell) or text
        # after a closing quote is an error naming the row, not a guess.
        self.reader = csv.reader(self.text, delimiter=self.delimiter, strict=True)
        self._line = 0
        self.headers = self._header()

    def _next(self) -> list[str] | None:
        try:
            cells = next(self.reader)
        except StopIteration:
            return None
        except UnicodeDecodeError as exc:
            row = self._undecodable_row()
            raise SourceError(
                f"row {row} is not valid {self.encoding} ({exc.reason}); give the file's 'encoding'", row=row
            ) from None
        except csv.Error as exc:
            raise SourceError(f"row {self._line + 1} is not valid CSV: {exc}", row=self._line + 1) from None
        self._line += 1
        return cells

    def _undecodable_row(self) -> int:
        """The row holding the first byte the encoding cannot read.

        The text decoder reads ahead of the csv reader, so the row being read when it fails is
        not that row: the file is read again with the bad bytes kept as escapes, to find them.
        """
        self.file.seek(0)
        text = io.TextIOWrapper(self.file, encoding=self.encoding, errors="surrogateescape", newline="")
        try:
            for row, cells in enumerate(csv.reader(text, delimiter=self.delimiter, strict=True), start=1):
                if any(_ESCAPED_BYTE.search(c) for c in cells):
                    return row
        except csv.Error:
            pass
        finally:
            text.detach()  # leave the file open for its owner
        return self._line + 1

    def _header(self) -> list[str]:
        while True:
            cells = self._next()
            if cells is None:
                raise SourceError("the file is empty: the first line must name the columns")
            if any(c.strip() for c in cells):
                return [c.strip() for c in cells]

    def records(self) -> Iterator[tuple[int, Record]]:
        headers = self.headers or []
        width = len(headers)
        while True:
            cells = self._next()
            if cells is None:
                return
            if not any(cells):
                continue  # blank lines and rows of empty cells
            if len(cells) > width and any(cells[width:]):
                yield (
                    self._line,
                    RecordError("cells", f"this row has {len(cells)} cells but the header names {width} columns"),
                )
                continue
            if any(len(c) > MAX_CELL_CHARS for c in cells):
                yield self._line, RecordError("max_length", f"a cell is longer than {MAX_CELL_CHARS} characters")
                continue
            yield self._line, dict(zip(headers, cells, strict=False))


# -- XLSX -------------------------------------------------------------------------------------


def _calamine_error() -> type[Exception]:
    from python_calamine import CalamineError

    return CalamineError


class XlsxSource(Source):
    def __init__(self, file: IO[bytes], size: int, options: ReadOptions, limits: XlsxLimits) -> None:
        from python_calamine import CalamineWorkbook

        check_archive(file, size, limits)
        file.seek(0)
        try:
            book = CalamineWorkbook.from_filelike(file)
            self.sheet = self._sheet(book, options.sheet)
        except (_calamine_error(), ValueError, KeyError, OSError) as exc:
            if isinstance(exc, SourceError):
                raise
            raise SourceError(f"this XLSX file cannot be read: {exc}") from None
        self.total = int(self.sheet.height)
        self.done = 0
        self.offset = int(self.sheet.start[0]) if self.sheet.start else 0
        rows = iter(self.sheet.iter_rows())
        first = next(rows, None)
        if self.offset and first is not None and not any(_filled(c) for c in first):
            # This calamine pads the rows above the first used one: positions count from the top.
            self.total += self.offset
            self.offset = 0
        self.rows = rows if first is None else itertools.chain([first], rows)
        self._index = -1
        self.headers = self._header()

    @staticmethod
    def _sheet(book: Any, wanted: str | int | None) -> Any:
        names = list(book.sheet_names)
        if not names:
            raise SourceError("this XLSX file has no sheets")
        if wanted is None:
            return book.get_sheet_by_index(0)
        if isinstance(wanted, int) and not isinstance(wanted, bool):
            # A form field cannot say whether "2024" is a position or a name: a number that is no
            # position of this file but names one of its sheets means that sheet.
            if not 1 <= wanted <= len(names) and str(wanted) in names:
                return book.get_sheet_by_name(str(wanted))
            if not 1 <= wanted <= len(names):
                raise SourceError(f"there is no sheet {wanted}: the file has {len(names)} (counting from 1)")
            return book.get_sheet_by_index(wanted - 1)
        if wanted not in names:
            raise SourceError(f"there is no sheet named {wanted!r}; sheets: {', '.join(names)}")
        return book.get_sheet_by_name(wanted)

    def _next(self) -> list[Any] | None:
        row = next(self.rows, None)
        if row is None:
            return None
        self._index += 1
        self.done = self._index + 1
        return list(row)

    def _header(self) -> list[str]:
        while True:
            cells = self._next()
            if cells is None:
                raise SourceError("the sheet is empty: its first row must name the columns")
            if any(_filled(c) for c in cells):
                return [_header_text(c) if _filled(c) else "" for c in cells]

    def records(self) -> Iterator[tuple[int, Record]]:
        headers = self.headers or []
        width = len(headers)
        while True:
            cells = self._next()
            if cells is None:
                return
            if not any(_filled(c) for c in cells):
                continue
            row = self.offset + self._index + 1
            if len(cells) > width and any(_filled(c) for c in cells[width:]):
                yield row, RecordError("cells", f"this row has values beyond the {width} named columns")
                continue
            yield row, {h: (None if c == "" else c) for h, c in zip(headers, cells, strict=False)}

    def progress(self) -> tuple[int, int]:
        return (self.done, self.total)


def _filled(cell: Any) -> bool:
    return cell is not None and cell != ""


def _header_text(cell: Any) -> str:
    """A header as the sheet shows it: a year typed as a number is ``2024``, not ``2024.0``."""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip()


# -- JSON and JSON Lines ------------------------------------------------------------------------


class JsonSource(Source):
    """A JSON array of objects, parsed incrementally (ijson), never as a whole."""

    typed = True

    def __init__(self, file: IO[bytes], size: int) -> None:
        self.file = file
        self.size = size
        start = file.read(SAMPLE_BYTES).lstrip(codecs.BOM_UTF8).lstrip()
        file.seek(0)
        if not start.startswith(b"["):
            hint = " (one object per line is the jsonl format)" if start.startswith(b"{") else ""
            raise SourceError(f"a JSON file must hold an array of objects{hint}")
        if file.read(len(codecs.BOM_UTF8)) != codecs.BOM_UTF8:
            file.seek(0)

    def records(self) -> Iterator[tuple[int, Record]]:
        position = 0
        items = ijson.items(self.file, "item", use_float=True)
        while True:
            try:
                item = next(items)
            except StopIteration:
                return
            except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
                raise SourceError(f"the JSON is invalid after object {position}: {exc}", row=position + 1) from None
            position += 1
            if isinstance(item, dict):
                yield position, item
            else:
                yield position, RecordError("type", f"expected an object, got {type(item).__name__}")


class JsonLinesSource(Source):
    """One JSON object per line; a bad line is that row's error, not the file's."""

    typed = True

    def __init__(self, file: IO[bytes], size: int) -> None:
        self.file = file
        self.size = size
        self._decoder = msgspec.json.Decoder()

    def records(self) -> Iterator[tuple[int, Record]]:
        for number, raw in enumerate(self.file, start=1):
            line = raw.strip()
            if number == 1:
                line = line.removeprefix(codecs.BOM_UTF8)
            if not line:
                continue
            try:
                item = self._decoder.decode(line)
            except msgspec.DecodeError as exc:
                yield number, RecordError("invalid_json", f"not valid JSON: {exc}")
                continue
            if isinstance(item, dict):
                yield number, item
            else:
                yield number, RecordError("type", f"expected an object, got {type(item).__name__}")
