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
    millis = time.time_ns() // 1_000_000 & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big") & ((1 << _RANDOM_BITS) - 1)
    with _lock:
        if (millis, rand) <= (_last[0], _last[1]):
            # A random step, so that an id does not give away the next one.
            millis, rand = _last[0], _last[1] + 1 + (rand & 0xFFFFFFFF)
            if rand >> _RANDOM_BITS:
                millis, rand = millis + 1, 0
        _last[:] = (millis, rand)
    value = millis << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & _RAND_A_MASK) << 64
    value |= 0b10 << 62
    value |= rand & _RAND_B_MASK
    return uuid.UUID(int=value)
