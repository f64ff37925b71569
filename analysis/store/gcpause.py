"""Keep CPython's cyclic garbage collector off the analysis' large, long-lived working set.

Decoding snapshots and packs, and computing the keys of thousands of nodes, allocates
hundreds of thousands of containers that hold no reference cycles and live as long as the
analysis (nodes, records, keys). Each allocation burst triggers collections that walk every
young object, then walk them again as they age: a tenth of a warm analysis of a 5,000-model
mesh. So:

- :func:`gc_paused` switches the collector off inside a bulk block; within a
  :func:`gc_session` it also *freezes* what exists when the block ends (``gc.freeze``:
  never scanned again until unfrozen);
- :func:`gc_session` (around one analysis) unfreezes everything at its end
  (``gc.unfreeze``), so whatever became garbage is collected as usual afterwards;
- :func:`gc_resumed` turns the collector back on inside a paused block for code that does
  create cycles (sqlglot's syntax trees have parent links).

Reference counting frees non-cyclic garbage at once in every case; the only cost of a
freeze is that cyclic garbage made during the session waits for its end.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

_paused = 0  # nesting depth of gc_paused blocks that switched the collector off
_sessions = 0  # nesting depth of gc_session blocks


@contextmanager
def gc_session():
    """One analysis: objects frozen by :func:`gc_paused` blocks inside are unfrozen at the end."""
    global _sessions
    _sessions += 1
    try:
        yield
    finally:
        _sessions -= 1
        if not _sessions:
            gc.unfreeze()


@contextmanager
def gc_paused():
    """Disable the cyclic collector inside the block (restored as it was, even on error)."""
    global _paused
    if not gc.isenabled():
        yield
        return
    gc.disable()
    _paused += 1
    try:
        yield
    finally:
        _paused -= 1
        if _sessions:
            gc.freeze()
        gc.enable()


@contextmanager
def gc_resumed():
    """Inside :func:`gc_paused`, run the block with the collector on (a no-op elsewhere)."""
    if not _paused or gc.isenabled():
        yield
        return
    gc.enable()
    try:
        yield
    finally:
        gc.disable()
