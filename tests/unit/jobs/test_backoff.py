"""Retry delays: ``min(maximum, initial * multiplier**(attempt-1))``, spread by at most +-jitter of it."""

from __future__ import annotations

import random

import msgspec
import pytest

from stateyard.jobs.queue import Backoff


@pytest.mark.parametrize(("attempt", "base"), [(1, 10.0), (2, 30.0), (3, 90.0), (4, 100.0), (10, 100.0)])
def test_delay_grows_by_the_multiplier_up_to_the_maximum(attempt: int, base: float) -> None:
    assert Backoff(initial=10, multiplier=3, maximum=100, jitter=0).delay(attempt) == base


def test_jitter_stays_within_its_bounds_and_does_spread() -> None:
    backoff = Backoff(initial=10, multiplier=2, maximum=1000, jitter=0.25)
    rng = random.Random(7)
    delays = [backoff.delay(3, rng) for _ in range(2000)]
    assert all(30.0 <= d <= 50.0 for d in delays)  # 40 +- 25 %
    assert max(delays) - min(delays) > 15  # not one fixed value


def test_no_delay_is_negative() -> None:
    backoff = Backoff(initial=1, multiplier=1, maximum=1, jitter=5.0)
    assert all(backoff.delay(1, random.Random(i)) >= 0 for i in range(200))


def test_defaults() -> None:
    assert Backoff() == Backoff(initial=5.0, multiplier=2.0, maximum=3600.0, jitter=0.1)


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"initial": 1, "factor": 2}, Backoff)
