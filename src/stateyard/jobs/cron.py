"""Cron expressions, behind one small wrapper around croniter.

Fire times are computed in the task's local wall-clock time and then placed on the UTC
timeline with two documented rules for daylight-saving changes:

- a local time that does not exist (the hour skipped in spring) fires at the next valid
  instant, the end of the gap; several slots inside one gap become that one instant;
- a local time that happens twice (the hour repeated in autumn) fires once, at its first
  occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

ALIASES = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})


def cron_problem(expression: str) -> str | None:
    """Why ``expression`` is not a usable cron expression (five fields or an alias), or None."""
    text = expression.strip()
    if text.startswith("@"):
        return None if text in ALIASES else f"unknown alias '{text}' (known: {', '.join(sorted(ALIASES))})"
    if len(text.split()) != 5:
        return "a cron expression has five fields: minute hour day-of-month month day-of-week"
    if not croniter.is_valid(text):
        return f"'{text}' is not a valid cron expression"
    try:  # valid field by field, yet a date that never comes (31 February) would fail every fire later
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        return f"'{text}' never fires (no such date)"
    return None


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{name}' is not an IANA time zone name (e.g. Europe/Berlin)") from None


def zone_problem(name: str) -> str | None:
    try:
        zone(name)
    except ValueError as exc:
        return str(exc)
    return None


def _to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """A naive local wall time on the UTC timeline, by the module's DST rules."""
    candidate = local
    for _ in range(24 * 60):
        aware = candidate.replace(tzinfo=tz, fold=0)
        if aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == candidate:
            return aware.astimezone(UTC)
        candidate += timedelta(minutes=1)  # inside a gap: walk to its end
    raise ValueError(f"no valid local time near {local}")


def fire_times(expression: str, timezone: str, after: datetime) -> Iterator[datetime]:
    """Fire times (UTC, strictly after ``after``) in order, without duplicates."""
    tz = zone(timezone)
    # Local wall time maps onto UTC without ever going back (a gap's times move to its end, a repeated
    # hour takes its first occurrence), so no local time before ``after``'s own can map past ``after``.
    start_local = after.astimezone(tz).replace(tzinfo=None)
    iterator = croniter(expression.strip(), start_local)
    last: datetime | None = None
    while True:
        local = iterator.get_next(datetime)
        moment = _to_utc(local, tz)
        if moment <= after or moment == last:
            continue
        last = moment
        yield moment


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    return next(fire_times(expression, timezone, after))


def fires_between(expression: str, timezone: str, after: datetime, until: datetime, limit: int) -> list[datetime]:
    """Fire times in (after, until], at most ``limit`` of them."""
    found: list[datetime] = []
    for moment in fire_times(expression, timezone, after):
        if moment > until or len(found) >= limit:
            break
        found.append(moment)
    return found
