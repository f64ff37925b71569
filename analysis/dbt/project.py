"""What meshdiff reads of a dbt project itself: ``dbt_project.yml``, its dbt-loom config, whether
it has packages. Read from the trusted process, so through :mod:`analysis.dbt.paths`: a file
reached through a link leaving the project is refused with a clear message, never read.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass

import yaml

from analysis.dbt.paths import read_inside, within
from analysis.dbt.upstreams import DEPENDENCIES, bind, dependency_projects, entry_project
from analysis.errors import AnalysisError
from analysis.store import decode_text


@dataclass(frozen=True)
class DbtProjectFile:
    """What meshdiff reads from ``dbt_project.yml`` and ``dbt_loom.config.yml``."""

    path: str
    name: str
    profile: str
    #: dbt-loom manifest entries of the project's own config (raw dicts, each with the project it
    #: names, :mod:`analysis.dbt.upstreams`), then one per ``dependencies.yml`` project no entry names
    loom_entries: tuple[dict, ...] = ()
    has_packages: bool = False
    #: the checkout holding the project: what a sandboxed dbt may read (``local:`` packages,
    #: dbt-loom files); the project folder itself when not given
    root: str = ""
    #: dbt's ``packages-install-path`` (relative to the project)
    packages_dir: str = "dbt_packages"
    #: the top-level folders the ``*-paths`` settings of ``dbt_project.yml`` name (dbt reads
    #: files there); ``None`` when a setting is not a list of plain relative paths
    read_dirs: tuple[str, ...] | None = ()

    @property
    def upstream_names(self) -> tuple[str, ...]:
        """The projects it reads: its dbt-loom entries bound to the project of the manifest each
        points at, and its ``dependencies.yml`` projects (:mod:`analysis.dbt.upstreams`)."""
        return tuple(dict.fromkeys(entry_project(e) for e in self.loom_entries if e.get("name")))

    @property
    def checkout(self) -> str:
        return self.root or self.path


def checkout_root(path: str) -> str:
    """The folder of the git checkout holding ``path`` (the nearest one with a ``.git``), or
    ``path`` itself outside any checkout. Never the home folder or ``/``: a dotfiles repository
    must not widen what a sandbox sees to the user's whole home."""
    path = os.path.abspath(path)
    home = os.path.realpath(os.path.expanduser("~"))
    current = path
    while True:
        if os.path.lexists(os.path.join(current, ".git")):
            real = os.path.realpath(current)
            return path if real in (home, "/") else current
        parent = os.path.dirname(current)
        if parent == current:
            return path
        current = parent


def read_project(path: str, root: str | None = None) -> DbtProjectFile:
    """Read ``dbt_project.yml`` (and the dbt-loom config) of the project at ``path``; ``root`` is
    the checkout holding it (default: :func:`checkout_root`)."""
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise AnalysisError(
            f"{path} {'is a file, not a folder' if os.path.exists(path) else 'does not exist'}",
            hint="pass the folder that holds dbt_project.yml",
        )
    root = os.path.abspath(root) if root else checkout_root(path)
    if not within(path, root):
        root = path
    project_file = os.path.join(path, "dbt_project.yml")
    if not os.path.lexists(project_file):
        raise AnalysisError(
            f"{path} is not a dbt project: it has no dbt_project.yml",
            hint="pass the folder that holds dbt_project.yml (in a monorepo, the project's subfolder)",
        )
    data = read_yaml(path, "dbt_project.yml")
    if not isinstance(data, dict) or not data.get("name"):
        raise AnalysisError(
            f"{project_file} has no `name`",
            hint="every dbt project needs `name:` in dbt_project.yml",
        )
    entries = _loom_entries(path) if os.path.lexists(os.path.join(path, "dbt_loom.config.yml")) else ()
    package_files = {f: read_yaml(path, f) for f in ("packages.yml", DEPENDENCIES)
                     if os.path.lexists(os.path.join(path, f))}
    has_packages = any(isinstance(d, dict) and d.get("packages") for d in package_files.values())
    entries = bind(path, root, entries, dependency_projects(path, package_files.get(DEPENDENCIES)))
    packages_dir = data.get("packages-install-path") or "dbt_packages"
    if not isinstance(packages_dir, str) or os.path.isabs(packages_dir) or ".." in packages_dir.split("/") \
            or "{" in packages_dir:
        raise AnalysisError(f"{project_file}: `packages-install-path: {packages_dir}` is not a folder of the project",
                            hint="use a relative folder such as dbt_packages")
    return DbtProjectFile(
        path=path,
        name=str(data["name"]),
        profile=str(data.get("profile") or data["name"]),
        loom_entries=entries,
        has_packages=has_packages,
        root=root,
        packages_dir=os.path.normpath(packages_dir),
        read_dirs=_read_dirs(data),
    )


#: dbt_project.yml settings naming folders dbt reads files from
_PATH_SETTINGS = ("model-paths", "seed-paths", "test-paths", "analysis-paths", "macro-paths", "snapshot-paths",
                  "docs-paths", "asset-paths", "function-paths", "source-paths", "data-paths")


def _read_dirs(data: dict) -> tuple[str, ...] | None:
    """The top-level folders of every ``*-paths`` setting (``None``: one is not a list of plain
    relative paths, so any folder may be read)."""
    out: set[str] = set()
    for key in _PATH_SETTINGS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None
        for item in value:
            parts = [p for p in os.path.normpath(item).split(os.sep) if p not in ("", ".")]
            if os.path.isabs(item) or not parts or parts[0] == ".." or "{" in item:
                return None
            out.add(parts[0])
    return tuple(sorted(out))


_LOOM_SHAPE = "manifests: [{name: shop, type: file, config: {path: ../shop/target/manifest.json}}]"


def _loom_entries(folder: str) -> tuple[dict, ...]:
    """The manifest entries of a ``dbt_loom.config.yml``; a file dbt-loom cannot read (empty,
    not a mapping, no ``manifests`` list, an entry without ``name``) is an error naming it."""
    loom_file = os.path.join(folder, "dbt_loom.config.yml")
    loom = read_yaml(folder, "dbt_loom.config.yml")
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


def read_yaml(folder: str, name: str):
    """A YAML file of the project at ``folder``, UTF-8 (refused when it leaves the project)."""
    full = os.path.join(folder, name)
    stream = io.StringIO(decode_text(read_inside(folder, name, what=full), full))
    stream.name = full  # YAML errors name the file; read from a stream, they quote no line of it
    try:
        return yaml.safe_load(stream)
    except yaml.YAMLError as exc:
        raise AnalysisError(f"{full} is not valid YAML: {exc}", hint="fix the YAML syntax") from None
