"""The figures plumbing itself: a probe's figures are kept with its time."""

from __future__ import annotations

from tests.reliability.figures import _collected, probe, sized


def test_a_probe_keeps_its_figures_and_time() -> None:
    with probe("plumbing: probe keeps figures", trace_memory=True) as figures:
        figures.tried = sized(3, 30)
        figures.refused = 1
        kept = [bytes(1000) for _ in range(100)]
    assert kept and _collected[-1] is figures
    assert figures.seconds >= 0 and figures.peak_mb is not None and figures.peak_mb > 0
