"""Tune Python's cyclic garbage collector for a process that serves one platform until it exits.

A started process holds a large, long-lived heap: the imported modules, the metadata snapshot
with its SQLAlchemy tables, compiled statements, the web app. Python's full collections walk
all of it, and work that allocates many short-lived containers (an import batch, an export
page) triggers a full collection every few batches: measured on a 100,000-row import, a fifth
of the time went into walking that heap again and again. Freezing it once start-up is done
takes it out of every later collection.

Young objects are collected less often too: at the default threshold (700 new containers) a
batch of rows is walked by several collections while it is still in use, which promotes it
to the older generations for nothing; at 20,000 it is mostly freed by reference counting
before any collection looks at it (the same import: another tenth faster).

The price: a frozen object that becomes garbage and is part of a reference cycle is never
collected (plain reference counting still frees the rest). Only the start-up snapshot can
become such garbage, once, when the definitions change; a bounded cost for a server.
Tests build and drop many platforms in one process, so only the commands that run one
platform for the life of the process (``serve``, ``worker``, ``import``, ``export``) do this.
"""

from __future__ import annotations

import gc

#: New containers (net of those freed) between two collections of the youngest generation.
YOUNG_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """Collect what start-up left behind, exempt everything alive from later collections, and
    collect young objects less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
