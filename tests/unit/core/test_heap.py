"""freeze_startup_heap: what is alive after start-up leaves the cyclic collector's later walks."""

from __future__ import annotations

import gc

from stateyard.core.heap import freeze_startup_heap


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_live_objects_are_frozen_and_garbage_is_collected_first() -> None:
    _Cycle()  # garbage from "start-up": collected, not frozen
    kept = _Cycle()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 0
        assert not any(isinstance(o, _Cycle) for o in gc.get_objects())  # frozen objects are not tracked as live
        assert kept.me is kept
    finally:
        gc.unfreeze()
    assert sum(isinstance(o, _Cycle) for o in gc.get_objects()) == 1
