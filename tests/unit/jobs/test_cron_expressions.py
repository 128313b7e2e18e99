"""What a cron expression may be (five fields or a known alias) and when it fires."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stateyard.jobs import cron

START = datetime(2026, 5, 13, 10, 17, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("@hourly", datetime(2026, 5, 13, 11, 0, tzinfo=UTC)),
        ("@daily", datetime(2026, 5, 14, 0, 0, tzinfo=UTC)),
        ("@midnight", datetime(2026, 5, 14, 0, 0, tzinfo=UTC)),
        ("@weekly", datetime(2026, 5, 17, 0, 0, tzinfo=UTC)),  # Sunday
        ("@monthly", datetime(2026, 6, 1, 0, 0, tzinfo=UTC)),
        ("@yearly", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
        ("@annually", datetime(2027, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_aliases(alias: str, expected: datetime) -> None:
    assert cron.cron_problem(alias) is None
    assert cron.next_fire(alias, "UTC", START) == expected


def test_alias_follows_the_time_zone() -> None:
    assert cron.next_fire("@daily", "Europe/Berlin", START) == datetime(2026, 5, 13, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * *", datetime(2026, 5, 13, 10, 18, tzinfo=UTC)),
        ("*/5 * * * *", datetime(2026, 5, 13, 10, 20, tzinfo=UTC)),
        ("0 9 * * mon-fri", datetime(2026, 5, 14, 9, 0, tzinfo=UTC)),
        ("0 0 1 */3 *", datetime(2026, 7, 1, 0, 0, tzinfo=UTC)),
        ("15 10 13 5 3", datetime(2026, 5, 20, 10, 15, tzinfo=UTC)),  # day-of-month OR day-of-week
        ("  */5 * * * *  ", datetime(2026, 5, 13, 10, 20, tzinfo=UTC)),
    ],
)
def test_five_field_expressions(expression: str, expected: datetime) -> None:
    assert cron.cron_problem(expression) is None
    assert cron.next_fire(expression, "UTC", START) == expected


def test_a_fire_time_is_strictly_after_the_given_instant() -> None:
    on_the_minute = datetime(2026, 5, 13, 10, 18, tzinfo=UTC)
    assert cron.next_fire("* * * * *", "UTC", on_the_minute) == datetime(2026, 5, 13, 10, 19, tzinfo=UTC)


def test_fires_between_is_bounded_by_the_limit_and_the_end() -> None:
    until = datetime(2026, 5, 13, 10, 30, tzinfo=UTC)
    assert len(cron.fires_between("* * * * *", "UTC", START, until, 1000)) == 13  # 10:18 to 10:30 inclusive
    assert len(cron.fires_between("* * * * *", "UTC", START, until, 5)) == 5
    assert cron.fires_between("@yearly", "UTC", START, until, 1000) == []


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("", "five fields"),
        ("   ", "five fields"),
        ("* * * *", "five fields"),
        ("* * * * * *", "five fields"),  # seconds are not part of the supported form
        ("0 0 * * * 2026", "five fields"),
        ("61 * * * *", "not a valid"),
        ("* 24 * * *", "not a valid"),
        ("* * 32 * *", "not a valid"),
        ("* * * 13 *", "not a valid"),
        ("0 0 * * 8", "not a valid"),
        ("*/0 * * * *", "not a valid"),
        ("a b c d e", "not a valid"),
        ("H * * * *", "not a valid"),
        ("@reboot", "unknown alias"),
        ("@every 5m", "unknown alias"),
        ("@Daily", "unknown alias"),
        ("0 0 31 2 *", "never"),  # 31 February
        ("0 0 30 2 *", "never"),
    ],
)
def test_invalid_expressions_are_explained(expression: str, says: str) -> None:
    problem = cron.cron_problem(expression)
    assert problem is not None
    assert says in problem


def test_a_rare_but_real_date_is_valid() -> None:
    assert cron.cron_problem("0 0 29 2 *") is None
    assert cron.next_fire("0 0 29 2 *", "UTC", START) == datetime(2028, 2, 29, tzinfo=UTC)


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_iana_zones(name: str) -> None:
    assert cron.zone_problem(name) is None


@pytest.mark.parametrize(
    "name", ["", "Mars/Base", "europe/berlin", "../etc/passwd", "/usr/share/zoneinfo/UTC", "Europe/Berlin ", "x" * 70]
)
def test_unknown_zones_are_explained(name: str) -> None:
    problem = cron.zone_problem(name)
    assert problem is not None
    assert "IANA" in problem
