"""The two ways a data file can be wrong: as a whole, or in one record."""

from __future__ import annotations


class SourceError(ValueError):
    """The file as a whole cannot be read (wrong format, undecodable, unsafe)."""

    def __init__(self, message: str, *, status: int = 400, row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.row = row


class RecordError(ValueError):
    """One record of a readable file is malformed (a JSON Lines line that is not an object)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
