"""The compile cache: one folder (*slot*) per compile key, written by the trusted process, sealed.

A slot holds ``status.json`` (ok, dbt's error, seconds, the manifest's interface, and the sha256
of the files below),
``manifest.json`` (the checked manifest, kept byte for byte: dbt-loom reads copies of it),
its snapshot (:mod:`analysis.dbt.snapshot`) and dbt's parse state when it left one
(:mod:`analysis.dbt.partialparse`: never read by meshdiff, only handed to a later dbt run). ``status.json`` carries the seal
(:mod:`analysis.store.seal`): a slot whose status is not validly sealed, or whose manifest is
not the one the status names, is a miss (removed, compiled again). A snapshot that differs from
the one the status names is made again from the (checked) manifest and the status resealed: the
snapshot is derived data, and meshdiff itself rewrites a stale one.

A slot is published whole: written in a private folder, then renamed into place, so a reader
sees all of it or none; a slot another writer published first stays. A slot is removed by being
renamed aside first. One compile per slot at a time (:func:`slot_lock`: threads and processes),
and at most :func:`compile_slots` dbt runs at once in a process (:data:`DBT_SLOTS`).
"""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager

from analysis.dbt.partialparse import FILE as PARTIAL_PARSE_FILE
from analysis.errors import AnalysisError
from analysis.store import Sealer, file_sha256, touch


def read_slot(slot: str, sealer: Sealer, project_dir: str) -> dict | None:
    """The status of the slot, checked; ``None`` for a miss (a damaged slot is removed)."""
    status_file = os.path.join(slot, "status.json")
    try:
        raw = sealer.read(status_file)
    except OSError:
        return None
    if raw is None:
        if os.path.lexists(status_file):  # present but not sealed by us: never trusted, rebuilt
            discard(slot)
        return None
    try:
        status = json.loads(raw)
    except ValueError:
        return None
    manifest = os.path.join(slot, "manifest.json")
    if status.get("ok"):
        try:
            if file_sha256(manifest) != status.get("manifest_sha256"):
                discard(slot)
                return None
        except OSError:
            return None
        _check_snapshot(slot, manifest, status, sealer, project_dir)
    touch(status_file)  # used now: the cache trims what was used longest ago
    return status


def write_slot(slot: str, sealer: Sealer, *, ok: bool, error: str, seconds: float, interface: str | None,
               manifest_path: str | None, manifest: dict | None, project_dir: str,
               partial_parse: bytes | None = None) -> None:
    """Publish the slot: the manifest, its snapshot made from ``manifest`` (already parsed) when
    given, dbt's parse state ``partial_parse`` when given, the sealed status; a slot another
    writer published first stays."""
    parent = os.path.dirname(slot)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=os.path.basename(slot) + ".tmp-")
    try:
        status = {"ok": ok, "error": error, "seconds": seconds, "interface": interface}
        if ok and manifest_path:
            target = os.path.join(tmp, "manifest.json")
            shutil.copyfile(manifest_path, target)
            status["manifest_sha256"] = file_sha256(target)
            if manifest is not None:
                status["snapshot_sha256"] = _write_snapshot(target, manifest, project_dir)
            if partial_parse:
                with open(os.path.join(tmp, PARTIAL_PARSE_FILE), "wb") as handle:
                    handle.write(partial_parse)
                status["partial_parse_sha256"] = hashlib.sha256(partial_parse).hexdigest()
        with open(os.path.join(tmp, "status.json"), "wb") as handle:  # sealed for where it will live
            handle.write(sealer.seal(os.path.join(slot, "status.json"), json.dumps(status).encode()))
        if os.path.isdir(slot) and read_slot(slot, sealer, project_dir) is None:
            discard(slot)  # a broken or foreign slot: replaced
        try:
            os.rename(tmp, slot)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise  # anything else than "another writer was first"
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def discard(folder: str) -> None:
    """Remove ``folder`` without a moment where it is half there: renamed aside first."""
    if not os.path.isdir(folder):
        return
    aside = tempfile.mkdtemp(dir=os.path.dirname(folder), prefix=".discard-")
    try:
        os.rename(folder, os.path.join(aside, "old"))
    except OSError:
        pass
    shutil.rmtree(aside, ignore_errors=True)


def _write_snapshot(manifest_path: str, manifest: dict, project_dir: str) -> str | None:
    """The snapshot of the manifest at ``manifest_path`` (parsed as ``manifest``); its sha256."""
    from analysis.dbt.manifest import parse_manifest
    from analysis.dbt.snapshot import snapshot_path, write_snapshot

    try:
        write_snapshot(manifest_path, parse_manifest(manifest, source=manifest_path, project_dir=project_dir))
        return file_sha256(snapshot_path(manifest_path))
    except (AnalysisError, OSError, KeyError, TypeError, ValueError):
        return None  # a damaged manifest: the analysis that loads it says so


def _check_snapshot(slot: str, manifest: str, status: dict, sealer: Sealer, project_dir: str) -> None:
    from analysis.dbt.snapshot import snapshot_path

    path = snapshot_path(manifest)
    try:
        found = file_sha256(path)
    except OSError:
        return  # none yet: the loader makes it from the checked manifest
    if found == status.get("snapshot_sha256"):
        return
    try:
        with open(manifest, "rb") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError):
        os.remove(path)
        return
    status["snapshot_sha256"] = _write_snapshot(manifest, data, project_dir)
    sealer.write(os.path.join(slot, "status.json"), json.dumps(status).encode())


def compile_slots() -> int:
    """dbt compiles run at once by one process: ``MESHDIFF_COMPILE_SLOTS``, default the number of cores."""
    raw = os.environ.get("MESHDIFF_COMPILE_SLOTS", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else max(1, os.cpu_count() or 1)


class _DbtSlots:
    """At most :func:`compile_slots` dbt runs at once in this process; how many run now."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._semaphore = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self.running = 0

    def __enter__(self) -> "_DbtSlots":
        self._semaphore.acquire()
        with self._lock:
            self.running += 1
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            self.running -= 1
        self._semaphore.release()

    def idle(self) -> int:
        """Slots no dbt run holds now."""
        return self.slots - self.running


#: dbt processes at once in this process (one per core by default)
DBT_SLOTS = _DbtSlots(compile_slots())
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@contextmanager
def slot_lock(slot: str):
    """Hold the compile of cache slot ``slot``: one thread of this process (a lock per slot) and
    one process on this cache folder (``flock`` on ``<slot>.lock``; where the file system has no
    locks, threads are still kept apart). Waiting is bounded by the holder's own time limit."""
    with _locks_guard:
        lock = _locks.setdefault(slot, threading.Lock())
    with lock:
        handle = None
        try:
            os.makedirs(os.path.dirname(slot), exist_ok=True)
            handle = open(slot + ".lock", "a+b")  # noqa: SIM115 - held for the block
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        except OSError:
            pass  # no locks on this file system (or no cache folder): compiles may overlap, results stay whole
        try:
            yield
        finally:
            if handle is not None:
                handle.close()  # releases the flock
