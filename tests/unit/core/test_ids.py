"""new_id and new_ids: version 7 UUIDs that sort in the order they were made, even within one millisecond."""

from __future__ import annotations

import uuid

from stateyard.core.ids import new_id, new_ids


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


def test_ids_made_in_batches_sort_after_single_ones_and_each_other() -> None:
    made = [new_id(), *new_ids(3000), new_id(), *new_ids(1), *new_ids(2000), new_id()]
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in made)


def test_a_batch_carries_the_current_millisecond() -> None:
    import time

    before = time.time_ns() // 1_000_000
    stamps = {i.int >> 80 for i in new_ids(50)}
    assert all(before <= stamp <= time.time_ns() // 1_000_000 + 1 for stamp in stamps)


def test_no_ids_asked_none_made() -> None:
    assert new_ids(0) == []
