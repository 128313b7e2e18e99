"""Write rows as CSV, XLSX, JSON or JSON Lines into a binary sink, a batch at a time.

Writers never hold more than one batch: CSV and JSON text goes to the sink as each batch is
written (the download stream drains it between batches), and XLSX rows go to xlsxwriter in
constant-memory mode, which keeps them in temporary files until :meth:`TableWriter.finish`
assembles the workbook. Strings that a spreadsheet would run as formulas are neutralised
(see :mod:`stateyard.io.cells`); values keep their types in XLSX (numbers, dates, booleans).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, ClassVar, Protocol

import msgspec

from stateyard.io.cells import TEXT_KINDS, csv_converter, json_cell, json_text, neutralise
from stateyard.io.readers import Format

#: The byte order mark that makes spreadsheet programs read a CSV file as UTF-8.
UTF8_BOM = "\ufeff"


class Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class TableWriter(ABC):
    media_type: ClassVar[str]
    extension: ClassVar[str]

    def __init__(self, sink: Sink, columns: Sequence[str], kinds: Sequence[str]) -> None:
        self.sink = sink
        self.columns = list(columns)
        self.kinds = list(kinds)

    @abstractmethod
    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        """Write these rows (values in ``columns`` order) to the sink."""

    def finish(self) -> None:
        """Write what closes the file (a JSON array's bracket, a workbook's archive)."""


class CsvWriter(TableWriter):
    media_type = "text/csv; charset=utf-8"
    extension = "csv"

    def __init__(self, sink: Sink, columns: Sequence[str], kinds: Sequence[str]) -> None:
        super().__init__(sink, columns, kinds)
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\r\n")
        self._text.write(UTF8_BOM)
        self._csv.writerow(neutralise(c) for c in self.columns)
        self._flush()
        self._converters = [csv_converter(kind) for kind in self.kinds]

    def _flush(self) -> None:
        self.sink.write(self._text.getvalue().encode("utf-8"))
        self._text.seek(0)
        self._text.truncate()

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        converters = self._converters
        self._csv.writerows(
            [v if c is None or v is None else c(v) for c, v in zip(converters, row, strict=True)] for row in rows
        )
        self._flush()


class JsonWriter(TableWriter):
    """An array of objects, one per line, so that a reader can also follow it line by line."""

    media_type = "application/json"
    extension = "json"

    def __init__(self, sink: Sink, columns: Sequence[str], kinds: Sequence[str]) -> None:
        super().__init__(sink, columns, kinds)
        self._encoder = msgspec.json.Encoder()
        self._first = True
        sink.write(b"[")

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        parts = []
        for row in rows:
            parts.append(b"\n" if self._first else b",\n")
            parts.append(self._encoder.encode(dict(zip(self.columns, row, strict=True))))
            self._first = False
        self.sink.write(b"".join(parts))

    def finish(self) -> None:
        self.sink.write(b"]\n" if self._first else b"\n]\n")


class JsonLinesWriter(TableWriter):
    media_type = "application/x-ndjson"
    extension = "jsonl"

    def __init__(self, sink: Sink, columns: Sequence[str], kinds: Sequence[str]) -> None:
        super().__init__(sink, columns, kinds)
        self._encoder = msgspec.json.Encoder()

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        encode = self._encoder.encode
        self.sink.write(b"".join(encode(dict(zip(self.columns, row, strict=True))) + b"\n" for row in rows))


CellWriter = Callable[[int, int, Any], Any]


class XlsxWriter(TableWriter):
    """A typed worksheet: numbers stay numbers, dates dates (UTC), booleans booleans."""

    media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    extension = "xlsx"
    #: Excel's largest number of rows on a sheet.
    MAX_ROWS = 1_048_576

    def __init__(self, sink: Sink, columns: Sequence[str], kinds: Sequence[str]) -> None:
        import xlsxwriter

        super().__init__(sink, columns, kinds)
        self._tmp = tempfile.TemporaryDirectory(prefix="stateyard-xlsx-")
        self.book = xlsxwriter.Workbook(
            sink,
            {
                "constant_memory": True,
                "tmpdir": self._tmp.name,
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
                "remove_timezone": True,
            },
        )
        self.sheet = self.book.add_worksheet("data")
        bold = self.book.add_format({"bold": True})
        self._date = self.book.add_format({"num_format": "yyyy-mm-dd"})
        self._datetime = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        for index, name in enumerate(self.columns):
            self.sheet.write_string(0, index, neutralise(name), bold)
        self.sheet.freeze_panes(1, 0)
        self._cells = [self._cell_writer(kind) for kind in self.kinds]
        self._row = 1

    def _cell_writer(self, kind: str) -> CellWriter:
        sheet = self.sheet
        if kind in ("integer", "float", "version"):
            return sheet.write_number  # type: ignore[no-any-return]
        if kind == "decimal":
            return lambda r, c, v: sheet.write_number(r, c, float(v))
        if kind == "boolean":
            return sheet.write_boolean  # type: ignore[no-any-return]
        if kind == "uuid":
            return lambda r, c, v: sheet.write_string(r, c, str(v))
        if kind == "datetime":
            style = self._datetime
            return lambda r, c, v: sheet.write_datetime(r, c, v.astimezone(dt.UTC).replace(tzinfo=None), style)
        if kind == "date":
            style = self._date
            return lambda r, c, v: sheet.write_datetime(r, c, dt.datetime.combine(v, dt.time(0)), style)
        if kind in TEXT_KINDS:
            return lambda r, c, v: sheet.write_string(r, c, neutralise(v))
        if kind == "json":  # JSON text, as in CSV: a number or a string value reads back as it was
            return lambda r, c, v: sheet.write_string(r, c, json_cell(v))
        return self._typed_cell

    def _typed_cell(self, r: int, c: int, value: Any) -> Any:
        sheet = self.sheet
        if isinstance(value, str):
            return sheet.write_string(r, c, neutralise(value))
        if isinstance(value, bool):
            return sheet.write_boolean(r, c, value)
        if isinstance(value, int | float | Decimal):
            return sheet.write_number(r, c, float(value))
        if isinstance(value, dt.datetime):
            moment = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
            return sheet.write_datetime(r, c, moment, self._datetime)
        if isinstance(value, dt.date):
            return sheet.write_datetime(r, c, dt.datetime.combine(value, dt.time(0)), self._date)
        if isinstance(value, uuid.UUID):
            return sheet.write_string(r, c, str(value))
        return sheet.write_string(r, c, neutralise(json_text(value)))

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        cells = self._cells
        r = self._row
        for row in rows:
            if r >= self.MAX_ROWS:
                raise OverflowError(f"an XLSX sheet holds at most {self.MAX_ROWS - 1} rows; export to CSV instead")
            for c, value in enumerate(row):
                if value is not None:
                    cells[c](r, c, value)
            r += 1
        self._row = r

    def finish(self) -> None:
        try:
            self.book.close()
        finally:
            self._tmp.cleanup()


WRITERS: dict[Format, type[TableWriter]] = {
    "csv": CsvWriter,
    "xlsx": XlsxWriter,
    "json": JsonWriter,
    "jsonl": JsonLinesWriter,
}
