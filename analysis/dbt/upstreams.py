"""Which project each upstream declaration of a dbt project names.

A consumer declares the projects it reads in two ways, and meshdiff takes both:

- a **dbt-loom entry** (``dbt_loom.config.yml``). Its ``name`` is only a label: dbt-loom injects
  the nodes of the manifest the entry points at, under that manifest's project name (dbt-loom's
  own test project calls its entry ``potato``). So an entry is bound to the project its manifest
  belongs to: the dbt project folder holding the manifest's path (``../revenue/target/
  manifest.json`` -> the ``name:`` of ``../revenue/dbt_project.yml``), else the
  ``metadata.project_name`` of a manifest file committed at that path, else, only when neither
  can be read (a path outside the checkout, a URL), the label itself;
- a project listed under ``projects:`` in **``dependencies.yml``** (dbt Mesh's own syntax, which
  dbt Core resolves only with a plugin): a synthetic entry meshdiff turns into dbt-loom wiring
  against the manifest it compiled for that project (:mod:`analysis.dbt.loom`).

Everything is read from the trusted process through :mod:`analysis.dbt.paths`: only regular files
inside the checkout, never through a link leaving it; a file that cannot be read binds nothing.
"""
from __future__ import annotations

import os
import re
from dataclasses import replace
from urllib.parse import unquote, urlparse

import yaml

from analysis.dbt.paths import read_inside, resolve_inside, within
from analysis.errors import AnalysisError
from analysis.store import decode_text

#: key meshdiff adds to an entry: the project it names (never passed to dbt-loom)
PROJECT_KEY = "meshdiff_project"
#: key of a synthetic entry made from ``dependencies.yml``
ORIGIN_KEY = "meshdiff_from"
#: key of an entry whose manifest could not be read: the folder its path names as the project's
#: (``../platform/target/manifest.json`` -> ``platform``), matched against the analysed projects
FOLDER_KEY = "meshdiff_folder"
DEPENDENCIES = "dependencies.yml"
#: how far above a manifest's folder the project folder holding it is looked for
_LEVELS = 3
_PROJECT_NAME = re.compile(rb'"project_name"\s*:\s*"([^"\\]{1,256})"')


def entry_project(entry: dict) -> str:
    """The project an upstream entry names (bound by :func:`bind`, else its label)."""
    return str(entry.get(PROJECT_KEY) or entry.get("name"))


def from_dependencies(entry: dict) -> bool:
    return entry.get(ORIGIN_KEY) == DEPENDENCIES


def bind(folder: str, root: str, entries: tuple[dict, ...], dependencies: tuple[str, ...]) -> tuple[dict, ...]:
    """``entries`` (dbt-loom's, of the project at ``folder`` in checkout ``root``) each with the
    project it names, then one synthetic entry per ``dependencies.yml`` project no entry names."""
    out = []
    for entry in entries:
        bound = dict(entry)
        found = _manifest_project(folder, root, entry)
        bound[PROJECT_KEY] = found or str(entry.get("name"))
        if not found and _project_folder(entry):
            bound[FOLDER_KEY] = _project_folder(entry)
        out.append(bound)
    named = {entry_project(e) for e in out}
    for name in dependencies:
        if name not in named:
            named.add(name)
            out.append({"name": name, "type": "file", "config": {}, PROJECT_KEY: name, ORIGIN_KEY: DEPENDENCIES})
    return tuple(out)


def bind_by_folder(files: list, names: dict[str, str]) -> list:
    """``files`` (:class:`~analysis.dbt.project.DbtProjectFile`) with each entry whose manifest
    could not be read, and whose label names no analysed project, bound to the analysed project
    whose folder its path names (``names``: folder name -> project name): a consumer checked out
    apart from its upstream (another repository) still reads it."""
    known = set(names.values())
    out = []
    for file in files:
        entries = []
        for entry in file.loom_entries:
            folder = entry.get(FOLDER_KEY)
            if folder and entry_project(entry) not in known and names.get(folder):
                entry = {**entry, PROJECT_KEY: names[folder]}
            entries.append(entry)
        out.append(replace(file, loom_entries=tuple(entries)) if entries != list(file.loom_entries) else file)
    return out


def _project_folder(entry: dict) -> str | None:
    """The folder a local manifest path names as its project's: the one holding ``target/``
    (``../platform/target/manifest.json``), else the manifest's own folder."""
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    path = config.get("path")
    if str(entry.get("type", "file")) != "file" or not isinstance(path, str) or "://" in path.replace("file://", ""):
        return None
    parts = [p for p in os.path.normpath(unquote(urlparse(path).path) if path.startswith("file://") else path)
             .split(os.sep) if p not in ("", ".")]
    if len(parts) >= 3 and parts[-2] == "target":
        return parts[-3] if parts[-3] != ".." else None
    return parts[-2] if len(parts) >= 2 and parts[-2] != ".." else None


def dependency_projects(folder: str, data) -> tuple[str, ...]:
    """The ``projects:`` names of a parsed ``dependencies.yml`` (an error naming the file when the
    list is not one dbt reads)."""
    if not isinstance(data, dict) or data.get("projects") is None:
        return ()
    where = os.path.join(folder, DEPENDENCIES)
    projects = data["projects"]
    hint = "dbt reads `projects: [{name: platform}]`"
    if not isinstance(projects, list):
        raise AnalysisError(f"{where}: `projects` must be a list, not a {type(projects).__name__}", hint=hint)
    names = []
    for i, item in enumerate(projects):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise AnalysisError(f"{where}: entry {i + 1} of `projects` has no `name`", hint=hint)
        names.append(name.strip())
    return tuple(dict.fromkeys(names))


def _manifest_project(folder: str, root: str, entry: dict) -> str | None:
    """The project of the manifest a local dbt-loom entry points at, when it can be read."""
    if str(entry.get("type", "file")) != "file":
        return None
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    path = config.get("path")
    if not isinstance(path, str) or not path.strip() or "$" in path:
        return None
    if path.lower().startswith("file://"):
        path = unquote(urlparse(path).path)
    elif urlparse(path).scheme and len(urlparse(path).scheme) > 1:
        return None
    manifest = os.path.normpath(os.path.join(folder, path))
    current = os.path.dirname(manifest)
    for _ in range(_LEVELS + 1):
        if not within(current, root):
            break
        if resolve_inside(root, os.path.join(current, "dbt_project.yml")):
            return _project_name(current)
        current = os.path.dirname(current)
    if within(manifest, root) and resolve_inside(root, manifest):
        return _manifest_name(manifest)
    return None


def _project_name(folder: str) -> str | None:
    try:
        data = yaml.safe_load(decode_text(read_inside(folder, "dbt_project.yml"), folder))
    except (AnalysisError, yaml.YAMLError, ValueError):
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name else None


def _manifest_name(path: str) -> str | None:
    """``metadata.project_name`` of a manifest: dbt writes ``metadata`` first, so the head of
    the file is enough (a 100 MB manifest is not parsed for one name)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return None
    match = _PROJECT_NAME.search(head)
    return match.group(1).decode("utf-8", "replace") if match else None
