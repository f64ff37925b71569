"""Pause CPython's cyclic garbage collector while handling bulk plain data.

Decoding a snapshot or a pack, or computing the keys of thousands of nodes, allocates tens
of thousands of containers that hold no reference cycles; each allocation burst triggers
collections that walk every object the process holds (seconds on a 5,000-model mesh).
Reference counting frees what is dropped, so pausing the collector there loses nothing.
Code that does create cycles inside a paused block (sqlglot's syntax trees have parent
links) runs under :func:`gc_resumed`, so that garbage is collected as usual.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

_paused = 0  # nesting depth of gc_paused blocks that switched the collector off


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
