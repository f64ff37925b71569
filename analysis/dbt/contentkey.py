"""The content key of a compile: everything dbt may read of the project, and what it compiles against.

:func:`content_key` hashes the tool versions, meshdiff's own settings of the run (target,
sandboxing, env and vars), the upstream compiles' interfaces, the dbt-loom entries and local
manifest files of projects outside the mesh, and **every file of the project dbt may read**.
Two compiles with one key are one compile (the cache serves the second), so a file dbt reads but
the key misses would let a PR change what dbt compiles while meshdiff reuses an older result:
its change would go unseen. So:

- every folder below the top level is walked, hidden ones included (dbt's own walk of
  ``model-paths`` and the others descends into ``.hidden/``, ``logs/`` or ``target/`` folders);
- at the top level, build output and tools (``target``, ``logs``, ``.git``, virtualenvs,
  ``node_modules``, ``__pycache__``) are left out, unless a ``*-paths`` setting of
  ``dbt_project.yml`` names one of them (:attr:`DbtProjectFile.read_dirs`; a setting meshdiff
  cannot read leaves nothing out);
- a symbolic link counts by its target's text and, when it resolves to a regular file inside the
  checkout, by that file's content (dbt follows it; the sandbox shows only the checkout);
- DuckDB files are left out (the generated profile never opens them, and external access is off).
"""
from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata

from analysis.dbt import loom
from analysis.dbt.paths import resolve_inside
from analysis.dbt.project import DbtProjectFile
from analysis.dbt.upstreams import entry_project

#: top-level folders of a project that are no input of dbt's (unless a ``*-paths`` setting names one)
OUTPUT_DIRS = frozenset({"target", "logs", ".git", "__pycache__", ".venv", "venv", "node_modules"})


def content_key(project: DbtProjectFile, upstream_keys: dict[str, str], extra: str = "",
                version: str = "") -> str:
    """Content hash of a compile (see the module docstring); ``upstream_keys``: the upstream
    compiles' :attr:`~analysis.dbt.compile.CompileResult.upstream_key` (their interfaces);
    ``version``: the compile step's own version."""
    digest = hashlib.sha256()
    digest.update(f"meshdiff-compile-{version}\n{_tool_versions()}\n{extra}\n".encode())
    for name in sorted(upstream_keys):
        digest.update(f"upstream {name} {upstream_keys[name]}\n".encode())
    for entry in project.loom_entries:  # upstream manifests from outside the mesh
        if entry_project(entry) not in upstream_keys:
            digest.update(f"loom {json.dumps(entry, sort_keys=True, default=str)}\n".encode())
    for path in loom.plan(project, {n: None for n in upstream_keys}).local_files:
        digest.update(f"loom-file {path}\n".encode())
        digest.update(_file_digest(path))
    for rel, link in project_files(project):
        full = os.path.join(project.path, rel)
        if link is None:
            digest.update(f"file {rel}\n".encode())
            digest.update(_file_digest(full))
            continue
        digest.update(f"link {rel} -> {link}\n".encode())
        target = resolve_inside(project.checkout, full)
        digest.update(_file_digest(target) if target is not None else b"outside or not a file")
    return digest.hexdigest()


def project_files(project: DbtProjectFile) -> list[tuple[str, str | None]]:
    """(path relative to the project, the link's text or ``None`` for a regular file) of every
    file the key covers, in a stable order."""
    root = project.path
    read = set(project.read_dirs) if project.read_dirs is not None else None
    out: list[tuple[str, str | None]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root:
            dirnames[:] = [d for d in dirnames if d not in OUTPUT_DIRS or read is None or d in read]
        for name in sorted(dirnames):  # a linked folder: dbt does not descend into it, its link counts
            if os.path.islink(os.path.join(dirpath, name)):
                out.append((os.path.relpath(os.path.join(dirpath, name), root),
                            os.readlink(os.path.join(dirpath, name))))
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if name.endswith((".duckdb", ".duckdb.wal")):
                continue
            if os.path.islink(full):
                out.append((os.path.relpath(full, root), os.readlink(full)))
            elif os.path.isfile(full):
                out.append((os.path.relpath(full, root), None))
    return out


_digests: dict[tuple[str, int, int, int], bytes] = {}


def _file_digest(path: str) -> bytes:
    """sha256 of a file's content, remembered for the process by (path, inode, size, mtime):
    an analysis keys each downstream project twice (against the base and the head)."""
    info = os.stat(path)
    stamp = (path, info.st_ino, info.st_size, info.st_mtime_ns)
    found = _digests.get(stamp)
    if found is None:
        if len(_digests) > 200_000:  # a long-lived worker sees many checkouts: forget, never grow
            _digests.clear()
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        found = _digests[stamp] = digest.digest()
    return found


def _tool_versions() -> str:
    parts = []
    for dist in ("dbt-core", "dbt-duckdb", "dbt-loom"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=missing")
    return " ".join(parts)
