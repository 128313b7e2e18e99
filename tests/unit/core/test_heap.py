"""tune_garbage_collector: what is alive after start-up leaves the cyclic collector's later walks."""

from __future__ import annotations

import gc

from stateyard.core.heap import YOUNG_THRESHOLD, tune_garbage_collector


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_live_objects_are_frozen_garbage_is_collected_first_and_young_objects_less_often() -> None:
    thresholds = gc.get_threshold()
    _Cycle()  # garbage from "start-up": collected, not frozen
    kept = _Cycle()
    try:
        tune_garbage_collector()
        assert gc.get_freeze_count() > 0
        assert not any(isinstance(o, _Cycle) for o in gc.get_objects())  # frozen objects are not tracked as live
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *thresholds[1:])
        assert kept.me is kept
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert sum(isinstance(o, _Cycle) for o in gc.get_objects()) == 1
