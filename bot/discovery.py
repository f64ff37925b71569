"""Which dbt projects a repository holds, and which of them a change touches.

:func:`discover_projects` finds the folders holding a ``dbt_project.yml`` (used when
``.meshdiff.yml`` lists no project); :func:`find_changed_projects` gives the configured projects
that own a changed path (the deepest project folder holding it).
"""
from __future__ import annotations

import os
import posixpath

from bot.config import MeshConfig, ProjectEntry

#: directories never searched for dbt projects
_SKIP_DIRS = {".git", "node_modules", "target", "dbt_packages", "logs", ".venv", "venv", "__pycache__"}


def _under(path: str, project_path: str) -> bool:
    return project_path == "" or path == project_path or path.startswith(project_path + "/")


def find_changed_projects(config: MeshConfig, changed_paths) -> list[ProjectEntry]:
    """The configured projects that own at least one changed path (a path belongs to the deepest
    project folder that contains it), in configuration order."""
    owners: set[str] = set()
    for raw in changed_paths:
        path = posixpath.normpath(str(raw).replace("\\", "/")).lstrip("/")
        best = None
        for project in config.projects:
            if _under(path, project.path) and (best is None or len(project.path) > len(best.path)):
                best = project
        if best is not None:
            owners.add(best.path)
    return [p for p in config.projects if p.path in owners]


def discover_projects(root: str, *, max_depth: int = 4, max_dirs: int = 5000) -> list[ProjectEntry]:
    """Find dbt projects (folders holding a regular-file ``dbt_project.yml``) under ``root``:
    at most ``max_depth`` levels deep, at most ``max_dirs`` folders visited, symlinks never
    followed, vendored/build folders skipped; a project's own subfolders are not searched."""
    root = os.path.abspath(root)
    found: list[ProjectEntry] = []
    visited = 0
    for current, dirs, files in os.walk(root, followlinks=False):
        visited += 1
        rel = os.path.relpath(current, root)
        depth = 0 if rel == "." else rel.count(os.sep) + 1
        marker = os.path.join(current, "dbt_project.yml")
        if "dbt_project.yml" in files and os.path.isfile(marker) and not os.path.islink(marker):
            found.append(ProjectEntry(path="" if rel == "." else rel.replace(os.sep, "/")))
            dirs[:] = []
            continue
        dirs[:] = sorted(
            d for d in dirs
            if d not in _SKIP_DIRS and not d.startswith(".") and not os.path.islink(os.path.join(current, d))
        ) if depth < max_depth and visited < max_dirs else []
    return sorted(found, key=lambda p: p.path)
