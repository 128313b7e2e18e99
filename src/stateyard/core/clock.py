"""The one source of "now".

Cron, delays, retries and token expiry all read time from an injected :class:`Clock`,
so tests move time forward instead of sleeping.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to; for tests and simulations."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("FrozenClock needs timezone-aware times")
        self._now = moment


class FileClock:
    """Reads "now" (an ISO 8601 time) from a file: lets tests move time for several real processes at once.

    Chosen with ``STATEYARD_CLOCK=file:/path/to/now.txt``; never meant for production.
    """

    def __init__(self, path: str) -> None:
        from pathlib import Path

        self.path = Path(path)

    def now(self) -> datetime:
        text = self.path.read_text().strip()
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def clock_from_setting(value: str | None) -> Clock:
    if not value or value == "system":
        return SystemClock()
    if value.startswith("file:"):
        return FileClock(value.removeprefix("file:"))
    raise ValueError(f"unknown clock {value!r}: use 'system' or 'file:<path>'")
