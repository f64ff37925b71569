"""Reading files of untrusted trees from the trusted process: never through a link that leaves them.

Two kinds of untrusted trees:

- a **checkout** (a PR's project): a file is read only when its real path (every symbolic
  link resolved) is inside the tree's real path and it is a regular file of bounded size. A
  seed ``seeds/raw.csv -> /etc/meshdiff/app.pem`` or a ``dbt_project.yml`` linked to a key is
  refused, not read (its first line would land in the report as a column name or a YAML error);
- a sandbox's **writable folder** (what dbt wrote): read with ``O_NOFOLLOW`` on every path
  component from the folder down, so a ``target`` or ``manifest.json`` that dbt's Jinja turned
  into a link is refused, and within a size cap (:func:`accept_manifest`: the manifest a
  compile wrote, checked before anything is cached).
"""
from __future__ import annotations

import json
import os
import re
import stat

from analysis.errors import AnalysisError

#: YAML files of a project meshdiff reads itself (dbt_project.yml, packages.yml, ...)
MAX_YAML_BYTES = 4 << 20
#: largest manifest.json meshdiff accepts from a compile (MESHDIFF_MAX_MANIFEST_MB)
MAX_MANIFEST_MB = 1024


def within(path: str, root: str) -> bool:
    """Whether ``path`` (lexically) is ``root`` or below it."""
    path, root = os.path.normpath(path), os.path.normpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_inside(root: str, path: str) -> str | None:
    """``path`` (absolute, or relative to ``root``) when its real path is a regular file inside
    ``root``'s real path; ``None`` otherwise (missing, a folder, a device, or reached through a
    link that leaves ``root``)."""
    full = os.path.normpath(os.path.join(root, path))
    try:
        real = os.path.realpath(full, strict=True)
        if not within(real, os.path.realpath(root)):
            return None
        if not stat.S_ISREG(os.stat(real).st_mode):
            return None
    except (OSError, ValueError):
        return None
    return full


def seed_file(project_dir: str, rel: str) -> str | None:
    """The path of a seed's CSV (``rel`` from the manifest) in ``project_dir``: ``None`` when it
    lies outside the project or is reached through a link leaving it; a missing file keeps its
    path (its header simply cannot be read)."""
    if not project_dir or not rel or os.path.isabs(rel):
        return None
    full = os.path.normpath(os.path.join(project_dir, rel))
    if not within(full, project_dir):
        return None
    if os.path.lexists(full) and resolve_inside(project_dir, full) is None:
        return None
    return full


def read_inside(root: str, path: str, *, limit: int = MAX_YAML_BYTES, what: str = "") -> bytes:
    """The bytes of ``path`` under ``root`` (see :func:`resolve_inside`); a clear
    :class:`AnalysisError` when it leaves the tree or is too large."""
    full = os.path.normpath(os.path.join(root, path))
    safe = resolve_inside(root, full)
    if safe is None:
        if os.path.lexists(full):
            raise AnalysisError(
                f"{what or full} is not a regular file of the project (a symbolic link that leaves "
                f"{root}, a folder or a device); meshdiff does not read it",
                hint="commit the file itself, not a link to a file outside the project")
        raise AnalysisError(f"{what or full} does not exist")
    with open(safe, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise AnalysisError(f"{what or full} is larger than {limit >> 20} MB; meshdiff does not read it",
                            hint="keep configuration files small")
    return data


class OutputError(RuntimeError):
    """A file the sandbox wrote is missing, a link, not a regular file, or too large."""


def read_output(folder: str, rel: str, *, limit: int) -> bytes:
    """The bytes of ``folder/rel`` written by a sandboxed run: no component below ``folder`` may
    be a symbolic link, the file must be regular and at most ``limit`` bytes."""
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise OutputError(f"not a relative path: {rel!r}")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                raise OutputError(f"{rel}: {part} is missing or not a folder ({exc.strerror})") from None
            os.close(fd)
            fd = nxt
        try:
            file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except OSError as exc:
            raise OutputError(f"{rel} is missing or a link ({exc.strerror})") from None
    finally:
        os.close(fd)
    with os.fdopen(file_fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(f"{rel} is not a regular file")
        if info.st_size > limit:
            raise OutputError(f"{rel} is {info.st_size >> 20} MB, above the {limit >> 20} MB limit")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OutputError(f"{rel} is above the {limit >> 20} MB limit")
    return data


_LOCATION_PATH = re.compile(r"'((?:[^']|'')*)'")


def location_file(project_dir: str, location: str | None) -> str | None:
    """The file a source's rendered ``external_location`` reads (``read_csv('data/x.csv', ...)``,
    ``'data/x.parquet'``): its first string, relative to ``project_dir`` or absolute, when it is
    one regular file inside the project, not reached through a link that leaves it (``None`` for
    a glob, a URL, a list of files or anything outside)."""
    if not project_dir or not location:
        return None
    match = _LOCATION_PATH.search(location)
    if match is None:
        return None
    path = match.group(1).replace("''", "'")
    if not path or any(ch in path for ch in "*?[{") or "://" in path:
        return None
    if re.search(r"\[\s*'", location[:match.start() + 1]):
        return None  # a list of files: which one's header is the table's is not ours to guess
    full = os.path.normpath(os.path.join(project_dir, path))
    if not within(full, project_dir):
        return None
    return resolve_inside(project_dir, full)


def same_content(a: str | None, b: str | None) -> bool:
    """Whether the files ``a`` and ``b`` (paths :func:`location_file` gave) hold the same bytes;
    ``False`` when either is missing or cannot be read (nothing proves them the same)."""
    if not a or not b:
        return False
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    return False
                if not x:
                    return True
    except OSError:
        return False


def accept_manifest(out: str, project_name: str, rel: str = "target/manifest.json") -> tuple[bytes, dict]:
    """``target/manifest.json`` (or ``rel``) from the sandbox's folder, checked: no link on the
    way, a regular file within the size cap, JSON, the manifest of ``project_name``."""
    limit = _max_manifest_mb() << 20
    raw = read_output(out, rel, limit=limit)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise OutputError(f"target/manifest.json is not JSON ({str(exc)[:200]})") from None
    meta = data.get("metadata") if isinstance(data, dict) else None
    if not isinstance(meta, dict) or not isinstance(data.get("nodes"), dict):
        raise OutputError("target/manifest.json is not a dbt manifest (no metadata, no nodes)")
    if meta.get("project_name") != project_name:
        raise OutputError(f"target/manifest.json is the manifest of {str(meta.get('project_name'))[:100]!r}, "
                          f"not of {project_name!r}")
    return raw, data


def _max_manifest_mb() -> int:
    raw = os.environ.get("MESHDIFF_MAX_MANIFEST_MB", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_MANIFEST_MB


def max_manifest_bytes() -> int:
    """The size cap of a manifest (and of dbt's parse state) a compile may leave."""
    return _max_manifest_mb() << 20
