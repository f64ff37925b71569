"""Column types from the ``catalog.json`` files ``dbt docs generate`` wrote (``--catalog``).

Input: ``{PROJECT: path of its catalog.json}``. Output: node id -> ordered columns
(lower-cased name -> the warehouse's type), which replace the types meshdiff infers
(:mod:`analysis.lineage.schema`). Only the entries of PROJECT's own nodes and sources (unique
ids ``<type>.PROJECT.<...>``) are taken from its file; a file that is no catalog, or holds
nothing of PROJECT, is an :class:`~analysis.errors.AnalysisError` saying which file and why.
"""
from __future__ import annotations

import json

from analysis.errors import AnalysisError

_HINT = "pass the target/catalog.json that `dbt docs generate` wrote for that project: --catalog PROJECT=FILE"


def read_catalogs(paths: dict[str, str]) -> dict[str, dict[str, str | None]] | None:
    """Column types by node id from ``{PROJECT: path}``; ``None`` when no file is given."""
    if not paths:
        return None
    out: dict[str, dict[str, str | None]] = {}
    for project, path in paths.items():
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise AnalysisError(f"cannot read catalog {path} for {project}: {exc}", hint=_HINT) from None
        sections = [data.get(s) for s in ("nodes", "sources")] if isinstance(data, dict) else [None, None]
        if all(s is None for s in sections) or any(s is not None and not isinstance(s, dict) for s in sections):
            raise AnalysisError(f"{path} (--catalog {project}) is not a dbt catalog: it needs `nodes` and "
                                "`sources` objects", hint=_HINT)
        others: set[str] = set()
        found = 0
        for node_id, entry in ((k, v) for s in sections if s for k, v in s.items()):
            owner = str(node_id).split(".")[1] if str(node_id).count(".") >= 2 else ""
            if owner != project:
                others.add(owner or str(node_id))
                continue
            cols = entry.get("columns") if isinstance(entry, dict) else None
            if not isinstance(cols, dict) or not all(isinstance(c, dict) for c in cols.values()):
                raise AnalysisError(f"{path} (--catalog {project}): `{node_id}` has no `columns` object of "
                                    "columns", hint=_HINT)
            ordered = sorted(cols.values(), key=lambda c: c.get("index") if isinstance(c.get("index"), int) else 0)
            out[node_id] = {str(c["name"]).lower(): c.get("type") for c in ordered if c.get("name")}
            found += 1
        if not found:
            seen = ", ".join(sorted(others)[:5]) or "none"
            raise AnalysisError(f"{path} (--catalog {project}) holds no node of project {project} "
                                f"(it holds nodes of: {seen})", hint=_HINT)
    return out
