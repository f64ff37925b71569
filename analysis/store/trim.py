"""Keep the cache folder under a size budget: least recently used entries go first.

Every PR adds to the cache (its head compiles, their snapshots, new lineage records), so a
long-running App worker would fill its disk. :func:`trim_cache` removes the entries used
longest ago until the folder is at 80% of the budget: whole compile slots (a manifest with
its snapshot and status) and package slots (``deps/``), lineage packs, per-model lineage
files, at any depth (an App's cache holds one such tree per installation). The seal keys
(``.meshdiff-mac-key``) are never removed. Use is the modification
time: a compile cache hit and a pack read touch their entry (:func:`touch`).

:func:`maybe_trim` runs it at most once an hour (a marker file's age), so an analysis pays
one ``stat`` almost always. The budget is ``MESHDIFF_CACHE_MAX_MB`` (default 20,000 MB; 0
turns trimming off). Everything removed is rebuilt on demand: trimming never changes a
result, only how long the next run takes.
"""
from __future__ import annotations

import os
import shutil
import time

DEFAULT_MAX_MB = 20_000
_EVERY_S = 3600.0
_MARKER = ".last-trim"


def touch(path: str) -> None:
    """Mark a cache entry as used now (best effort)."""
    try:
        os.utime(path)
    except OSError:
        pass


def max_bytes() -> int:
    try:
        return int(float(os.environ.get("MESHDIFF_CACHE_MAX_MB", DEFAULT_MAX_MB)) * 1024 * 1024)
    except ValueError:
        return DEFAULT_MAX_MB * 1024 * 1024


def maybe_trim(root: str, *, limit: int | None = None, now: float | None = None) -> list[str]:
    """:func:`trim_cache` if the last trim of ``root`` is more than an hour old; what it removed."""
    limit = max_bytes() if limit is None else limit
    now = time.time() if now is None else now
    marker = os.path.join(root, _MARKER)
    try:
        if now - os.stat(marker).st_mtime < _EVERY_S:
            return []
    except OSError:
        pass
    if limit <= 0 or not os.path.isdir(root):
        return []
    try:
        with open(marker, "w", encoding="utf-8"):
            pass
    except OSError:
        return []
    return trim_cache(root, limit)


def trim_cache(root: str, limit: int) -> list[str]:
    """Remove the least recently used entries of ``root`` until it holds at most 80% of
    ``limit`` bytes (nothing when it holds less than ``limit``); the entries removed."""
    entries = list(_entries(root))
    total = sum(size for _, _, size in entries)
    if total <= limit:
        return []
    removed = []
    for used, path, size in sorted(entries):
        if total <= limit * 0.8:
            break
        try:
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError:
            continue
        total -= size
        removed.append(path)
    return removed


_SLOT_KINDS = ("compile", "deps")
_KEEP = (_MARKER, ".meshdiff-mac-key")


def _entries(root: str):
    """(last use, path, bytes) of every entry: a compile or package slot is one entry, any
    other file too."""
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.basename(os.path.dirname(dirpath)) in _SLOT_KINDS:  # compile/<xx>/: each folder below is a slot
            for slot in dirnames:
                full = os.path.join(dirpath, slot)
                yield _slot(full)
            dirnames[:] = []
            continue
        for name in filenames:
            if name in _KEEP or name.startswith(".tmp-"):
                continue
            full = os.path.join(dirpath, name)
            try:
                info = os.stat(full)
            except OSError:
                continue
            yield info.st_mtime, full, info.st_size


def _slot(path: str) -> tuple[float, str, int]:
    used, size = 0.0, 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            try:
                info = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            size += info.st_size
            if dirpath == path:  # the slot's own files say when it was used (status.json, links.json)
                used = max(used, info.st_mtime)
    return used, path, size
