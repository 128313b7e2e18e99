"""new_id: version 7 UUIDs that sort in the order they were made, even within one millisecond."""

from __future__ import annotations

import uuid

from stateyard.core.ids import new_id


def test_ids_are_version_7() -> None:
    found = new_id()
    assert found.version == 7 and found.variant == uuid.RFC_4122


def test_ids_made_in_a_burst_sort_in_order_and_differ() -> None:
    made = [new_id() for _ in range(5000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in made)


def test_the_timestamp_is_the_current_millisecond() -> None:
    import time

    before = time.time_ns() // 1_000_000
    stamp = new_id().int >> 80
    assert before <= stamp <= time.time_ns() // 1_000_000 + 1
