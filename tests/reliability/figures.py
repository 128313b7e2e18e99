"""Figures of the standing reliability suite (a pytest plugin, loaded with ``-p`` from pyproject).

Each probe reports its figures (how many inputs it tried, how many were refused, how long it
took, the peak memory it saw) through :func:`probe`; the figures of every probe are printed in
one table at the end of the run, whichever xdist worker ran it.

``STATEYARD_RELIABILITY=full`` runs every probe at full size (the README's reliability section
gives the command); without it the probes run a bounded size that fits in CI.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import pytest

FULL = os.environ.get("STATEYARD_RELIABILITY", "").strip().lower() == "full"
_FIGURES_KEY = "stateyard_reliability_figures"


class Figures(msgspec.Struct):
    """What one probe measured; ``peak_mb`` is None where memory was not traced."""

    name: str
    tried: int = 0
    refused: int = 0
    seconds: float = 0.0
    peak_mb: float | None = None
    note: str = ""


_collected: list[Figures] = []


def sized(bounded: int, full: int) -> int:
    """A probe's size: ``full`` under STATEYARD_RELIABILITY=full, ``bounded`` otherwise."""
    return full if FULL else bounded


@contextmanager
def probe(name: str, *, trace_memory: bool = False) -> Iterator[Figures]:
    """Time a probe (and trace its Python heap when asked) and keep its figures for the summary.

    The probe fills in ``tried``, ``refused`` and ``note`` on the yielded :class:`Figures`.
    A probe that measures another process's memory sets ``peak_mb`` itself.
    """
    figures = Figures(name)
    tracing = trace_memory and not tracemalloc.is_tracing()
    if tracing:
        tracemalloc.start()
        tracemalloc.reset_peak()
    started = time.perf_counter()
    try:
        yield figures
    finally:
        figures.seconds = round(time.perf_counter() - started, 3)
        if tracing:
            figures.peak_mb = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
            tracemalloc.stop()
        _collected.append(figures)


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput: dict[str, Any] | None = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_FIGURES_KEY] = msgspec.json.encode(_collected).decode()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    raw = getattr(node, "workeroutput", {}).get(_FIGURES_KEY)
    if raw:
        _collected.extend(msgspec.json.decode(raw, type=list[Figures]))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _collected:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"reliability probes ({'full' if FULL else 'bounded'})")
    write(f"{'probe':<58} {'tried':>9} {'refused':>9} {'seconds':>9} {'peak MB':>8}  note")
    for f in sorted(_collected, key=lambda f: f.name):
        peak = "" if f.peak_mb is None else f"{f.peak_mb:.1f}"
        write(f"{f.name:<58} {f.tried:>9} {f.refused:>9} {f.seconds:>9.2f} {peak:>8}  {f.note}")
