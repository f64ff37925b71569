"""The dbt-loom config meshdiff writes for a compile: what the sandboxed dbt may read of other projects.

Entries of the consumer's ``dbt_loom.config.yml`` and its ``dependencies.yml`` projects
(:mod:`analysis.dbt.upstreams`: an entry names the project of the manifest it points at, whatever
its label):

- naming a project of the mesh: re-pointed at the manifest meshdiff compiled for it (a copy
  placed among the sandbox's inputs), required, and never re-injecting the consumer's own nodes
  (dbt-loom #181);
- a local ``file`` (relative to the project, absolute, or ``file://``) whose real path is a
  regular file inside the checkout: kept, with its absolute path;
- anything else is **dropped with a warning and never fetched**: URLs (``http(s)://``,
  ``s3://``...), cloud types (``dbt_cloud``, ``s3``, ``gcs``, ``azure``, ``paradime``,
  ``snowflake``, ``databricks``), ``$VARIABLE`` paths, files outside the checkout (or reached
  through a link leaving it). A required one of those makes the consumer's refs to that project
  fail to compile; the warning says how to give meshdiff the project instead.

Only known keys are kept (``name``, ``type``, ``config.path``, ``optional``,
``included_packages``, ``excluded_packages``); telemetry is off.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from analysis.dbt.paths import resolve_inside
from analysis.dbt.upstreams import entry_project, from_dependencies

_KEYS = ("name", "type", "config", "optional", "included_packages", "excluded_packages")
HOW_TO_GIVE = ("give meshdiff that project (`--upstream DIR` on the command line, `upstream:` in "
               ".meshdiff.yml) or commit its manifest.json into the repository")


@dataclass
class LoomPlan:
    """The generated config, what was dropped and why, and the local manifests it reads."""

    config: dict
    warnings: list[str] = field(default_factory=list)
    #: (entry name, path) of required local manifests that do not exist
    absent: list[tuple[str, str]] = field(default_factory=list)
    #: absolute paths of local manifests inside the checkout that the config reads
    local_files: list[str] = field(default_factory=list)


def plan(project, upstream: dict, staged: dict[str, str] | None = None) -> LoomPlan:
    """The dbt-loom config of ``project`` compiled against ``upstream`` (``{name: result}`` with
    ``manifest_path``); ``staged`` gives the path to use for a mesh project's manifest (a copy
    among the sandbox's inputs), default the result's own path."""
    staged = staged or {}
    out = LoomPlan(config={"enable_telemetry": False, "manifests": []})
    for raw in project.loom_entries:
        entry = {k: json.loads(json.dumps(raw[k], default=str)) for k in _KEYS if k in raw}
        name = entry_project(raw)  # the project of the manifest it points at, not its label
        if name in upstream:
            result = upstream[name]
            entry["type"] = "file"
            entry["config"] = {"path": os.path.abspath(staged.get(name) or getattr(result, "manifest_path", None) or "")}
            entry["optional"] = False
            if not entry.get("included_packages") and not entry.get("excluded_packages"):
                entry["excluded_packages"] = [project.name]
            out.config["manifests"].append(entry)
            continue
        if from_dependencies(raw):
            out.warnings.append(
                f"{project.name} reads project `{name}` (`projects:` of its dependencies.yml), which is not part "
                f"of the analysis: its refs to `{name}` do not compile and are not analysed. → {HOW_TO_GIVE}")
            continue
        kind = str(entry.get("type", "file"))
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        path = config.get("path")
        why = _unfetchable(kind, path)
        if why:
            out.warnings.append(_dropped(project, name, why))
            continue
        local = _local_path(project, path)
        if not os.path.lexists(local):
            if not entry.get("optional"):
                out.absent.append((name, local))
            entry["config"] = {"path": local}
            out.config["manifests"].append(entry)
            continue
        if resolve_inside(project.checkout, local) is None:
            out.warnings.append(_dropped(project, name, f"its manifest `{path}` is not a file inside the checkout "
                                                        f"({project.checkout}) or is reached through a link leaving it"))
            continue
        entry["config"] = {"path": local}
        out.local_files.append(local)
        out.config["manifests"].append(entry)
    return out


def _unfetchable(kind: str, path) -> str:
    """Why an entry is never followed ("" when it is a local file)."""
    if kind != "file":
        return f"type `{kind}` fetches its manifest from a service or a cloud store"
    if not isinstance(path, str) or not path.strip():
        return "it names no `config.path`"
    if "$" in path:
        return f"its path `{path}` uses an environment variable"
    scheme = urlparse(path).scheme.lower()
    if scheme and scheme != "file" and len(scheme) > 1:
        return f"its path `{path}` is a {scheme}:// URL"
    return ""


def _local_path(project, path: str) -> str:
    if path.lower().startswith("file://"):
        path = unquote(urlparse(path).path)
    return os.path.normpath(os.path.join(project.path, path))


def _dropped(project, name: str, why: str) -> str:
    return (f"{project.name}: the dbt-loom entry `{name}` was dropped: {why}, and meshdiff never lets dbt-loom "
            f"fetch a manifest from the network or read one outside the checkout. "
            f"→ {HOW_TO_GIVE}")


def absent_text(project, absent: list[tuple[str, str]]) -> str:
    return (f"{project.name} reads project(s) {', '.join(n for n, _ in absent)} through dbt-loom, but no manifest "
            "of it is available: " + "; ".join(f"{p} does not exist (entry `{n}` of dbt_loom.config.yml)" for n, p in absent)
            + "\n→ give meshdiff that project too: `--upstream DIR` on the command line, or `upstream:` in "
              ".meshdiff.yml (or mark the entry `optional: true` if the project can do without it)")
