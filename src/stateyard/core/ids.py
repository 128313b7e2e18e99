"""Row ids: time-ordered UUIDs (version 7 layout, RFC 9562).

Time ordering keeps B-tree inserts local on both SQLite and PostgreSQL, which random
v4 ids do not; the id reveals nothing but a millisecond timestamp.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_RAND_A_MASK = (1 << 12) - 1
_RAND_B_MASK = (1 << 62) - 1
_RANDOM_BITS = 74

_lock = threading.Lock()
#: (millisecond, random bits) of the last id made: the next one must sort after it.
_last = [0, 0]


def new_id() -> uuid.UUID:
    """A v7 id greater than every id this process made before (RFC 9562, 6.2 method 3).

    Ids made within one millisecond (the records of one transition, say) therefore sort in
    the order they were made, which is the order readers of the outbox and history rely on.
    """
    return new_ids(1)[0]


def new_ids(count: int) -> list[uuid.UUID]:
    """``count`` ids in the order made, each as :func:`new_id` would make it: one clock reading,
    one draw from the system's random source and one lock for all (a batch of rows needs
    thousands, and these dominate the cost of one)."""
    millis = time.time_ns() // 1_000_000 & ((1 << 48) - 1)
    random = os.urandom(10 * count)
    values = []
    with _lock:
        last_millis, last_rand = _last
        for start in range(0, 10 * count, 10):
            rand = int.from_bytes(random[start : start + 10], "big") & ((1 << _RANDOM_BITS) - 1)
            if (millis, rand) <= (last_millis, last_rand):
                # A random step, so that an id does not give away the next one.
                millis, rand = last_millis, last_rand + 1 + (rand & 0xFFFFFFFF)
                if rand >> _RANDOM_BITS:
                    millis, rand = millis + 1, 0
            last_millis, last_rand = millis, rand
            values.append(_layout(millis, rand))
        _last[:] = (last_millis, last_rand)
    return [uuid.UUID(int=value) for value in values]


def _layout(millis: int, rand: int) -> int:
    """The 128 bits of a v7 id: 48 bits of milliseconds, version 7, 12 random bits, variant, 62 random bits."""
    return millis << 80 | 0x7 << 76 | ((rand >> 62) & _RAND_A_MASK) << 64 | 0b10 << 62 | rand & _RAND_B_MASK
