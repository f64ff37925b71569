"""Compile one dbt project in a sandboxed subprocess, against manifests meshdiff produced.

For each invocation meshdiff writes, in a fresh temporary directory:

- ``profiles/profiles.yml``: the project's profile name pointing at an embedded DuckDB file
  (no warehouse, no credentials); dbt never sees a ``profiles.yml`` from the checkout. Its
  target is named ``meshdiff``, or the target name asked for (``.meshdiff.yml`` ``target:``,
  ``--target``), so Jinja that branches on ``target.name`` renders as in that environment;
- ``dbt_loom.config.yml``: the consumer's own dbt-loom entries, where every entry naming a
  project of the mesh points at the manifest meshdiff compiled for it (other entries are kept,
  with relative file paths resolved against the project directory);
- ``target/`` and ``logs/``, so the project directory is not written to.

Results are cached by content: the key covers the project's files, the keys of the upstream
compiles it reads, the dbt/adapter/loom versions and this module's version. An unchanged
project is never compiled twice.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata

import yaml

from analysis.dbt import sandbox
from analysis.errors import AnalysisError
from analysis.store.files import read_text
from analysis.store.trim import touch

COMPILE_VERSION = "1"
_SKIP_DIRS = {"target", "logs", ".git", "__pycache__", ".venv", "node_modules"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TIMESTAMP = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d+)?\s+", re.M)
DEFAULT_TARGET = "meshdiff"
#: a dbt target name meshdiff accepts (it becomes a profiles.yml key and a ``--target`` argument)
TARGET_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class DbtProjectFile:
    """What meshdiff reads from ``dbt_project.yml`` and ``dbt_loom.config.yml``."""

    path: str
    name: str
    profile: str
    #: dbt-loom manifest entries of the project's own config (raw dicts)
    loom_entries: tuple[dict, ...] = ()
    has_packages: bool = False

    @property
    def upstream_names(self) -> tuple[str, ...]:
        return tuple(str(e.get("name")) for e in self.loom_entries if e.get("name"))


@dataclass
class CompileResult:
    project: str
    project_dir: str
    key: str
    manifest_path: str | None
    ok: bool
    error: str = ""
    seconds: float = 0.0
    cached: bool = False
    log: str = field(default="", repr=False)


def read_project(path: str) -> DbtProjectFile:
    """Read ``dbt_project.yml`` (and the dbt-loom config) of the project at ``path``."""
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise AnalysisError(
            f"{path} {'is a file, not a folder' if os.path.exists(path) else 'does not exist'}",
            hint="pass the folder that holds dbt_project.yml",
        )
    project_file = os.path.join(path, "dbt_project.yml")
    if not os.path.isfile(project_file):
        raise AnalysisError(
            f"{path} is not a dbt project: it has no dbt_project.yml",
            hint="pass the folder that holds dbt_project.yml (in a monorepo, the project's subfolder)",
        )
    data = _read_yaml(project_file)
    if not isinstance(data, dict) or not data.get("name"):
        raise AnalysisError(
            f"{project_file} has no `name`",
            hint="every dbt project needs `name:` in dbt_project.yml",
        )
    loom_file = os.path.join(path, "dbt_loom.config.yml")
    entries = _loom_entries(loom_file) if os.path.isfile(loom_file) else ()
    has_packages = any(
        isinstance(d := _read_yaml(os.path.join(path, f)), dict) and d.get("packages")
        for f in ("packages.yml", "dependencies.yml")
        if os.path.isfile(os.path.join(path, f))
    )
    return DbtProjectFile(
        path=path,
        name=str(data["name"]),
        profile=str(data.get("profile") or data["name"]),
        loom_entries=entries,
        has_packages=has_packages,
    )


_LOOM_SHAPE = "manifests: [{name: shop, type: file, config: {path: ../shop/target/manifest.json}}]"


def _loom_entries(loom_file: str) -> tuple[dict, ...]:
    """The manifest entries of a ``dbt_loom.config.yml``; a file dbt-loom cannot read (empty,
    not a mapping, no ``manifests`` list, an entry without ``name``) is an error naming it."""
    loom = _read_yaml(loom_file)
    hint = f"dbt-loom reads `{_LOOM_SHAPE}`; fix the file, or delete it if the project reads no other project"
    if loom is None:
        raise AnalysisError(f"{loom_file} is empty", hint=hint)
    if not isinstance(loom, dict) or "manifests" not in loom:
        found = f"keys {', '.join(map(str, loom))}" if isinstance(loom, dict) else f"a {type(loom).__name__}"
        raise AnalysisError(f"{loom_file} has no `manifests` list (it holds {found})", hint=hint)
    manifests = loom["manifests"]
    if not isinstance(manifests, list):
        raise AnalysisError(f"{loom_file}: `manifests` must be a list, not a {type(manifests).__name__}", hint=hint)
    for i, entry in enumerate(manifests):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise AnalysisError(f"{loom_file}: entry {i + 1} of `manifests` has no `name` ({entry!r})", hint=hint)
    return tuple(manifests)


def _read_yaml(path: str):
    stream = io.StringIO(read_text(path))
    stream.name = path  # YAML errors name the file
    try:
        return yaml.safe_load(stream)
    except yaml.YAMLError as exc:
        raise AnalysisError(f"{path} is not valid YAML: {exc}", hint="fix the YAML syntax") from None


def content_key(project: DbtProjectFile, upstream_keys: dict[str, str], extra: str = "") -> str:
    """Content hash of a compile: project files + upstream compile keys + tool versions, and the
    dbt-loom entries for projects outside the mesh (with the content of local manifests)."""
    digest = hashlib.sha256()
    digest.update(f"meshdiff-compile-{COMPILE_VERSION}\n{_tool_versions()}\n{extra}\n".encode())
    for name in sorted(upstream_keys):
        digest.update(f"upstream {name} {upstream_keys[name]}\n".encode())
    for entry in project.loom_entries:  # upstream manifests from outside the mesh
        if str(entry.get("name")) in upstream_keys:
            continue
        digest.update(f"loom {json.dumps(entry, sort_keys=True, default=str)}\n".encode())
        path = _local_manifest(project, entry)
        if path:
            try:
                with open(path, "rb") as handle:
                    digest.update(hashlib.sha256(handle.read()).digest())
            except OSError:
                digest.update(b"missing")
    for rel in _project_files(project.path):
        digest.update(f"file {rel}\n".encode())
        digest.update(_file_digest(os.path.join(project.path, rel)))
    return digest.hexdigest()


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
        with open(path, "rb") as handle:
            found = _digests[stamp] = hashlib.sha256(handle.read()).digest()
    return found


def _project_files(root: str) -> list[str]:
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if os.path.islink(full) or name.endswith((".duckdb", ".duckdb.wal")):
                continue
            out.append(os.path.relpath(full, root))
    return out


def _tool_versions() -> str:
    parts = []
    for dist in ("dbt-core", "dbt-duckdb", "dbt-loom"):
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=missing")
    return " ".join(parts)


def compile_project(
    project: DbtProjectFile,
    upstream: dict[str, CompileResult],
    *,
    cache_dir: str,
    timeout_s: float = 300.0,
    target: str | None = None,
) -> CompileResult:
    """Compile ``project`` against the ``upstream`` compiles (by project name), with the
    generated profile's target named ``target`` (default ``meshdiff``).

    Never raises for a dbt failure: the result carries ``ok=False`` and dbt's error text.
    """
    target = check_target(target)
    key = content_key(project, {n: r.key for n, r in upstream.items()},
                      extra=f"target {target}" if target != DEFAULT_TARGET else "")
    absent = absent_manifests(project, upstream)
    if absent:  # not cached: the file may exist on the next run
        return CompileResult(project.name, project.path, key, None, False, error=_absent_text(project, absent))
    slot = os.path.join(cache_dir, "compile", key[:2], key)
    cached = _read_cached(project, slot, key)
    if cached is not None:
        return cached
    work = tempfile.mkdtemp(prefix=f"meshdiff-{project.name}-")
    try:
        result = _run_compile(project, upstream, work, key, timeout_s, target)
        _store(slot, result)
        stored = _read_cached(project, slot, key)
        if stored is None:  # pragma: no cover - the cache folder is not writable
            return result
        stored.cached, stored.log = False, result.log
        if stored.ok:
            _snapshot(stored)
        return stored
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _snapshot(result: CompileResult) -> None:
    """Parse the new manifest once, now, into its compact snapshot (:mod:`analysis.dbt.snapshot`):
    every later analysis that reads this compile loads the snapshot instead."""
    from analysis.dbt.snapshot import snapshot_lines

    try:
        snapshot_lines(result.manifest_path, project_dir=result.project_dir)
    except (AnalysisError, OSError):
        pass  # a damaged or missing manifest: the analysis that loads it says so


def _read_cached(project: DbtProjectFile, slot: str, key: str) -> CompileResult | None:
    status_file = os.path.join(slot, "status.json")
    if not os.path.isfile(status_file):
        return None
    try:
        with open(status_file, encoding="utf-8") as handle:
            status = json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None
    touch(status_file)  # used now: the cache trims what was used longest ago
    manifest = os.path.join(slot, "manifest.json")
    ok = bool(status.get("ok")) and os.path.isfile(manifest)
    return CompileResult(
        project=project.name,
        project_dir=project.path,
        key=key,
        manifest_path=manifest if ok else None,
        ok=ok,
        error=status.get("error", ""),
        seconds=float(status.get("seconds", 0.0)),
        cached=True,
    )


def _store(slot: str, result: CompileResult) -> None:
    tmp = slot + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    if result.ok and result.manifest_path:
        shutil.copyfile(result.manifest_path, os.path.join(tmp, "manifest.json"))
    with open(os.path.join(tmp, "status.json"), "w", encoding="utf-8") as handle:
        json.dump({"ok": result.ok, "error": result.error, "seconds": result.seconds}, handle)
    shutil.rmtree(slot, ignore_errors=True)
    os.makedirs(os.path.dirname(slot), exist_ok=True)
    os.replace(tmp, slot)


def absent_manifests(project: DbtProjectFile, upstream: dict[str, CompileResult]) -> list[tuple[str, str]]:
    """(name, path) of the dbt-loom entries outside ``upstream`` whose local manifest file does not
    exist and that are not ``optional``: dbt-loom would stop the compile on them."""
    out = []
    for entry in loom_config(project, upstream)["manifests"]:
        path = (entry.get("config") or {}).get("path")
        if (str(entry.get("name")) not in upstream and entry.get("type", "file") == "file" and not entry.get("optional")
                and isinstance(path, str) and "://" not in path and not path.startswith("$")
                and not os.path.exists(path)):
            out.append((str(entry.get("name")), path))
    return out


def _absent_text(project: DbtProjectFile, absent: list[tuple[str, str]]) -> str:
    return (f"{project.name} reads project(s) {', '.join(n for n, _ in absent)} through dbt-loom, but no manifest "
            "of it is available: " + "; ".join(f"{p} does not exist (entry `{n}` of dbt_loom.config.yml)" for n, p in absent)
            + "\n→ give meshdiff that project too: `--upstream DIR` on the command line, or `upstream:` in "
              ".meshdiff.yml (or mark the entry `optional: true` if the project can do without it)")


def loom_config(project: DbtProjectFile, upstream: dict[str, CompileResult]) -> dict:
    """The dbt-loom config for a compile: the project's entries, mesh ones re-pointed."""
    manifests = []
    for entry in project.loom_entries:
        entry = json.loads(json.dumps(entry))  # deep copy of plain YAML data
        name = str(entry.get("name"))
        if name in upstream:
            result = upstream[name]
            entry["type"] = "file"
            entry["config"] = {"path": os.path.abspath(result.manifest_path or "")}
            entry["optional"] = False
            if not entry.get("included_packages") and not entry.get("excluded_packages"):
                # never re-inject the consumer's own nodes from an upstream copy (dbt-loom #181)
                entry["excluded_packages"] = [project.name]
        elif (path := _local_manifest(project, entry)) is not None:
            entry.setdefault("config", {})["path"] = path
        manifests.append(entry)
    return {"enable_telemetry": False, "manifests": manifests}


def _local_manifest(project: DbtProjectFile, entry: dict) -> str | None:
    """The absolute path of a dbt-loom ``file`` entry's manifest (relative to the project);
    ``None`` for remote ones (URLs, dbt Cloud, object stores) and ``$VAR`` paths."""
    if entry.get("type", "file") != "file":
        return None
    path = (entry.get("config") or {}).get("path")
    if isinstance(path, str) and "://" not in path and not path.startswith("$"):
        return os.path.normpath(os.path.join(project.path, path))
    return None


def check_target(target: str | None) -> str:
    """The target name to compile with (``meshdiff`` when none is given)."""
    if target is None:
        return DEFAULT_TARGET
    if not isinstance(target, str) or not TARGET_RE.match(target):
        raise AnalysisError(f"{target!r} is not a dbt target name",
                            hint="use letters, digits, `_`, `-` or `.`, e.g. prod")
    return target


def profiles_yml(project: DbtProjectFile, db_path: str, target: str | None = None) -> dict:
    """A DuckDB profile under the project's profile name: no warehouse needed. Its one target
    is named ``target`` (what ``target.name`` renders to), by default ``meshdiff``."""
    target = check_target(target)
    return {
        project.profile: {
            "target": target,
            "outputs": {
                target: {"type": "duckdb", "path": db_path, "schema": "main", "threads": 1}
            },
        }
    }


def _dbt_executable() -> str:
    candidate = os.path.join(os.path.dirname(sys.executable), "dbt")
    return candidate if os.path.exists(candidate) else (shutil.which("dbt") or "dbt")


def _run_compile(
    project: DbtProjectFile,
    upstream: dict[str, CompileResult],
    work: str,
    key: str,
    timeout_s: float,
    target: str = DEFAULT_TARGET,
) -> CompileResult:
    missing = [n for n in project.upstream_names if n in upstream and not upstream[n].ok]
    if missing:
        return CompileResult(
            project.name, project.path, key, None, False,
            error=f"upstream project(s) {', '.join(missing)} did not compile, so {project.name} cannot be compiled",
        )
    for sub in ("profiles", "target", "logs", "home"):
        os.makedirs(os.path.join(work, sub))
    with open(os.path.join(work, "profiles", "profiles.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(profiles_yml(project, os.path.join(work, "mesh.duckdb"), target), handle)
    loom_path = os.path.join(work, "dbt_loom.config.yml")
    with open(loom_path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(loom_config(project, upstream), handle)
    env = sandbox.sandbox_env(
        os.path.join(work, "home"),
        {
            "DBT_LOOM_CONFIG": loom_path,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
            "DBT_PROFILES_DIR": os.path.join(work, "profiles"),
        },
    )
    common = [
        "--project-dir", project.path,
        "--profiles-dir", os.path.join(work, "profiles"),
        "--target", target,
        "--target-path", os.path.join(work, "target"),
        "--log-path", os.path.join(work, "logs"),
    ]
    dbt = _dbt_executable()
    total = 0.0
    if project.has_packages and not os.path.isdir(os.path.join(project.path, "dbt_packages")):
        deps = sandbox.run([dbt, "--no-use-colors", "deps", *common], cwd=work, env=env, timeout_s=timeout_s)
        total += deps.seconds
        if not deps.ok:
            return CompileResult(
                project.name, project.path, key, None, False,
                error=_failure_text("dbt deps", deps, timeout_s), seconds=total, log=deps.output,
            )
    argv = [
        dbt, "--no-use-colors", "--log-format", "text", "compile", *common,
        "--select", "resource_type:model", "resource_type:snapshot", "resource_type:analysis",
    ]
    result = sandbox.run(argv, cwd=work, env=env, timeout_s=timeout_s)
    total += result.seconds
    manifest = os.path.join(work, "target", "manifest.json")
    if not result.ok or not os.path.isfile(manifest):
        return CompileResult(
            project.name, project.path, key, None, False,
            error=_failure_text("dbt compile", result, timeout_s), seconds=total, log=result.output,
        )
    return CompileResult(project.name, project.path, key, manifest, True, seconds=total, log=result.output)


def _failure_text(what: str, result: sandbox.RunResult, timeout_s: float) -> str:
    if result.timed_out:
        return f"{what} did not finish within {timeout_s:.0f} s and was stopped"
    return dbt_error_text(result.output) or f"{what} failed with exit code {result.returncode}"


def dbt_error_text(output: str, limit: int = 4000) -> str:
    """dbt's own error lines from its console output (timestamps and colours removed)."""
    text = _TIMESTAMP.sub("", _ANSI.sub("", output))
    lines = [line.rstrip() for line in text.splitlines()]
    start = next(
        (i for i, line in enumerate(lines)
         if re.search(r"(Compilation|Parsing|Runtime|Database|Dependency|Internal|Env var)? ?Error", line)
         and "Encountered an error" not in line and not line.startswith("Done.")),
        None,
    )
    if start is None:
        return ""
    picked = [ln for ln in lines[start:] if ln.strip() and not ln.startswith(("Done.", "Finished running"))]
    out = "\n".join(picked).strip()
    return out if len(out) <= limit else out[:limit] + "\n[...]"
