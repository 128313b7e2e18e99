"""Keep what start-up builds out of the cyclic garbage collector's way.

A started process holds a large, long-lived heap: the imported modules, the metadata snapshot
with its SQLAlchemy tables, compiled statements, the web app. Python's full collections walk
all of it, and work that allocates many short-lived containers (an import batch, an export
page) triggers a full collection every few batches: measured on a 100,000-row import, a fifth
of the time went into walking that heap again and again. Freezing it once start-up is done
takes it out of every later collection.

The price: a frozen object that becomes garbage and is part of a reference cycle is never
collected (plain reference counting still frees the rest). Only the start-up snapshot can
become such garbage, once, when the definitions change; a bounded cost for a server.
Tests build and drop many platforms in one process, so only the commands that run one
platform for the life of the process (``serve``, ``worker``, ``import``, ...) freeze.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect what start-up left behind, then exempt everything alive from later collections."""
    gc.collect()
    gc.freeze()
