"""Fire times across Europe/Berlin's daylight-saving changes (2026: 29 March and 25 October).

Spring: local 02:00-02:59 does not exist; a slot inside the gap fires at its end (03:00 CEST,
01:00 UTC), and several slots inside it become that one instant. Autumn: local 02:00-02:59
happens twice; a slot in it fires once, at its first occurrence (CEST).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stateyard.jobs import cron

BERLIN = "Europe/Berlin"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def fires(expression: str, after: datetime, hours: float, timezone: str = BERLIN) -> list[datetime]:
    return cron.fires_between(expression, timezone, after, after + timedelta(hours=hours), 100)


def test_daily_slot_in_the_spring_gap_fires_at_the_end_of_the_gap() -> None:
    assert fires("30 2 * * *", utc(2026, 3, 28, 12), 72) == [
        utc(2026, 3, 29, 1, 0),  # 02:30 CET does not exist: 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
        utc(2026, 3, 31, 0, 30),
    ]


def test_several_slots_inside_the_gap_fire_once() -> None:
    assert fires("*/15 * * * *", utc(2026, 3, 29, 0, 0), 1.5) == [
        utc(2026, 3, 29, 0, 15),
        utc(2026, 3, 29, 0, 30),
        utc(2026, 3, 29, 0, 45),
        utc(2026, 3, 29, 1, 0),  # 02:00, 02:15, 02:30, 02:45 and 03:00 local: one instant
        utc(2026, 3, 29, 1, 15),
        utc(2026, 3, 29, 1, 30),
    ]


def test_slot_after_the_gap_keeps_its_local_time() -> None:
    assert cron.next_fire("0 9 * * *", BERLIN, utc(2026, 3, 28, 12)) == utc(2026, 3, 29, 7, 0)  # 09:00 CEST


def test_daily_slot_in_the_repeated_autumn_hour_fires_once_at_its_first_occurrence() -> None:
    assert fires("30 2 * * *", utc(2026, 10, 24, 12), 72) == [
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST; 02:30 CET (01:30 UTC) does not fire again
        utc(2026, 10, 26, 1, 30),
        utc(2026, 10, 27, 1, 30),
    ]


def test_half_hourly_slots_in_the_repeated_hour_fire_once_each() -> None:
    assert fires("*/30 * * * *", utc(2026, 10, 24, 23, 0), 4) == [
        utc(2026, 10, 24, 23, 30),  # 01:30 CEST
        utc(2026, 10, 25, 0, 0),  # 02:00 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 2, 0),  # 03:00 CET: the second 02:00 and 02:30 are not fired again
        utc(2026, 10, 25, 2, 30),
        utc(2026, 10, 25, 3, 0),
    ]


def test_asking_during_the_second_pass_of_the_repeated_hour_does_not_fire_it_again() -> None:
    # 01:10 UTC is 02:10 CET, the repeated hour; 02:30 local was fired at 00:30 UTC already.
    assert cron.next_fire("30 2 * * *", BERLIN, utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1, 30)


def test_hourly_across_the_year_keeps_one_fire_per_local_hour() -> None:
    spring = fires("@hourly", utc(2026, 3, 28, 23, 0), 24)
    autumn = fires("@hourly", utc(2026, 10, 24, 22, 0), 25)
    assert len(spring) == len(set(spring)) == 24  # 23 local hours exist; the 02:00 slot becomes 03:00, shared
    assert utc(2026, 3, 29, 1, 0) in spring
    assert len(autumn) == len(set(autumn)) == 24  # 25 real hours, 24 local hours: the repeated one fires once
    assert utc(2026, 10, 25, 1, 0) not in autumn


def test_utc_has_no_changes() -> None:
    assert fires("30 2 * * *", utc(2026, 3, 28, 12), 48, "UTC") == [utc(2026, 3, 29, 2, 30), utc(2026, 3, 30, 2, 30)]


def test_other_zones_follow_their_own_rules() -> None:
    # New York springs forward on 8 March 2026: 02:30 EST does not exist, 03:00 EDT is 07:00 UTC.
    assert cron.next_fire("30 2 * * *", "America/New_York", utc(2026, 3, 8, 0)) == utc(2026, 3, 8, 7, 0)
    # Kolkata has no daylight-saving time and a half-hour offset.
    assert cron.next_fire("0 9 * * *", "Asia/Kolkata", utc(2026, 3, 29, 0)) == utc(2026, 3, 29, 3, 30)


def _from_hours_before(expression: str, timezone: str, after: datetime) -> datetime:
    """The next fire found the slow way: walking the cron from three hours of local time earlier."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    tz = ZoneInfo(timezone)
    walk = croniter(expression, after.astimezone(tz).replace(tzinfo=None) - timedelta(hours=3))
    while True:
        moment = cron._to_utc(walk.get_next(datetime), tz)
        if moment > after:
            return moment


#: The 2026 changes of each zone, in UTC (Lord Howe moves by half an hour).
CHANGES = {
    BERLIN: (utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)),
    "America/New_York": (utc(2026, 3, 8, 7), utc(2026, 11, 1, 6)),
    "Australia/Lord_Howe": (utc(2026, 4, 4, 15), utc(2026, 10, 3, 15, 30)),
}


@pytest.mark.parametrize("timezone", sorted(CHANGES))
@pytest.mark.parametrize("expression", ["* * * * *", "*/7 * * * *", "30 2 * * *", "15 1-3 * * *", "@hourly"])
def test_starting_at_the_local_time_itself_finds_the_same_fires(expression: str, timezone: str) -> None:
    for change in CHANGES[timezone]:
        after = change - timedelta(hours=4)
        while after < change + timedelta(hours=4):
            assert cron.next_fire(expression, timezone, after) == _from_hours_before(expression, timezone, after), after
            after += timedelta(minutes=7, seconds=30)
