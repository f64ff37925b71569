"""A ref to a version of another project's model that does not exist there: dbt's error, with
the versions the upstream project has (the consumer's side of governance, issue 9).

dbt says ``depends on a node named 'orders' with version '1' in package or project 'shop' which
was not found``; :func:`with_hint` adds which versions ``shop`` has in the compile meshdiff made
of it (the upstream as given: ``--upstream``, or in the App its default branch), so a version
removed there reads as removed.
"""
from __future__ import annotations

import re

_MISSING = re.compile(r"depends on a node named '([^']+)' with version '([^']+)' in package or project '([^']+)' "
                      r"which was not found")


def with_hint(error: str, upstream: dict) -> str:
    """``error`` with, for each missing upstream version it names, the versions that project has.
    ``upstream``: project name -> its :class:`~analysis.dbt.compile.CompileResult`."""
    from analysis.dbt.snapshot import ProjectLoader

    hints = []
    for model, version, project in dict.fromkeys(_MISSING.findall(error)):
        result = upstream.get(project)
        if result is None or not getattr(result, "ok", False) or not result.manifest_path:
            continue
        try:
            nodes = ProjectLoader().load(result.manifest_path, project_dir=result.project_dir).nodes.values()
        except Exception:  # noqa: BLE001 - a hint only: dbt's error stands on its own
            continue
        found = sorted({str(n.version) for n in nodes if n.name == model and n.project == project
                        and n.resource_type == "model" and n.version is not None}, key=_order)
        latest = next((str(n.latest_version) for n in nodes if n.name == model and n.project == project
                       and n.latest_version is not None), None)
        if found:
            has = ", ".join(f"v{v}" for v in found) + (f" (latest v{latest})" if latest else "")
            hints.append(f"→ {project}.{model} v{version} does not exist in {project} as meshdiff compiled it (its "
                         f"default branch, or the --upstream folder): it has {has}. v{version} was removed there or "
                         f"is not merged yet: ref a version it has")
        else:
            hints.append(f"→ {project} has no versioned model `{model}` as meshdiff compiled it (its default branch, "
                         f"or the --upstream folder): it was removed there, or is not merged yet")
    return error + ("\n" + "\n".join(hints) if hints else "")


def _order(version: str):
    return (0, int(version), "") if version.isdigit() else (1, 0, version)
