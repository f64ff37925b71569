"""The impact page: one self-contained HTML file per analysis.

The verdict, how to unblock, a searchable list of every impacted node and column with its path
and owners, and an interactive graph of the impacted mesh (Cytoscape.js with the dagre layered
layout, vendored in ``static/``: no CDN, nothing fetched). The web process serves it
(``webhooks.pages``) and ``meshdiff analyze --format html`` writes it.

The page's data is the report, as JSON inside ``<script type="application/json">`` with ``<``,
``>`` and ``&`` escaped; the page script reads it and writes it to the DOM with ``textContent``
only. A Content-Security-Policy allows exactly the page's own scripts (by hash), no network.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import os
from functools import lru_cache

from analysis.report import Report
from bot.render import escape as esc
from bot.render import mermaid, verdict
from bot.render.facts import by_severity, path_items, short

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
SCRIPTS = ("cytoscape.min.js", "cytoscape-dagre.min.js", "page.js")


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    with open(os.path.join(STATIC, name), encoding="utf-8") as handle:
        return handle.read()


def _script_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


@lru_cache(maxsize=None)
def csp() -> str:
    """The page's Content-Security-Policy: its own scripts only, no connection anywhere."""
    hashes = " ".join(_script_hash(_script_text(name)) for name in SCRIPTS)
    return (f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; img-src data:; "
            "base-uri 'none'; form-action 'none'")


def _script_text(name: str) -> str:
    # a script's text may not hold "</script" (it would end the element early)
    return _asset(name).replace("</script", "<\\/script")


def _impact(i) -> dict:
    return {"node": i.node, "short": short(i.node, project=i.project), "project": i.project,
            "resource_type": i.resource_type, "severity": i.severity, "columns": list(i.columns),
            "path": [x for x in path_items_full(i)], "owners": list(i.owners),
            "handles": list(i.handles), "reasons": list(i.reasons), "file": i.file}


def path_items_full(impact) -> list[str]:
    """The whole path (never shortened: the page has room)."""
    items = [short(v) for v in impact.via]
    last = impact.via[-1] if impact.via else ""
    if not (last == impact.node or last.startswith(impact.node + ".")):
        items.append(short(impact.node))
    return items


def _change(c) -> dict:
    bits = []
    for col in c.columns:
        bits.append(f"{col.name} renamed to {col.renamed_to}" if col.change == "renamed" and col.renamed_to
                    else f"{col.name} {col.change}" + (f" ({col.detail})" if col.detail else ""))
    return {"node": c.node, "category": c.category, "summary": "; ".join(bits) or "; ".join(c.reasons[:2]),
            "reasons": list(c.reasons), "file": c.file, "owners": list(c.owners)}


def _graph(reports: list[Report]) -> dict:
    nodes: dict[str, dict] = {}
    edges: dict[tuple[str, str], None] = {}
    for report in reports:
        kinds, pairs = mermaid.graph(report)
        for node, kind in kinds.items():
            project = node.split(".")[1] if node.count(".") >= 2 else report.changed_project
            nodes.setdefault(node, {"id": node, "label": short(node, project=project), "project": project, "kind": kind})
        edges.update(dict.fromkeys(pairs))
    projects = sorted({n["project"] for n in nodes.values()})
    return {"nodes": sorted(nodes.values(), key=lambda n: n["id"]), "edges": [list(e) for e in edges],
            "projects": projects}


def page_data(reports: list[Report], *, expires: str | None = None) -> dict:
    kind, _, _ = verdict.parts(reports, lambda p: p)
    meta = " · ".join(f"{r.changed_project}: {r.base.ref} ({r.base.sha[:7]}) ← {r.head.ref} ({r.head.sha[:7]}), "
                      f"{len(r.projects)} projects analysed" for r in reports)
    return {
        "verdict": {"kind": kind, "text": verdict.title(reports).replace("\u2060", "")},
        "meta": meta,
        "expires": expires,
        "reports": [{"project": r.changed_project, "conclusion": r.conclusion,
                     "impacts": [_impact(i) for i in by_severity(r.impacts)],
                     "changes": [_change(c) for c in r.changes],
                     "suggestions": [s.__dict__ | {"snippets": [x.__dict__ for x in s.snippets]} for s in r.suggestions],
                     "broken": [b.__dict__ for b in r.broken], "errors": list(r.errors), "warnings": list(r.warnings)}
                    for r in reports],
        "graph": _graph(reports),
    }


def build_page(reports: list[Report] | Report, *, expires: str | None = None) -> str:
    """The whole page as one HTML string (scripts and styles inline)."""
    if isinstance(reports, Report):
        reports = [reports]
    data = esc.json_for_script(json.dumps(page_data(reports, expires=expires), ensure_ascii=False))
    title = html.escape(esc.normalize(verdict.title(reports)).replace("\u2060", ""), quote=True)
    scripts = "\n".join(f"<script>{_script_text(name)}</script>" for name in SCRIPTS)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{html.escape(csp(), quote=True)}">
<meta name="referrer" content="no-referrer">
<title>meshdiff · {title}</title>
<style>{_asset("page.css")}</style>
</head>
<body>
<main>
<header id="verdict"></header>
<section>
<h2>Impacted mesh</h2>
<div class="legend"><span class="change">changed in this PR</span><span class="breaking">breaking</span><span class="unknown">unknown (gates like breaking)</span><span class="changed">may change values</span></div>
<div id="graph" role="img" aria-label="graph of the impacted nodes"></div>
</section>
<section>
<h2>Impacted nodes</h2>
<div class="controls"><input id="search" type="search" placeholder="Filter by node, column, project, owner, severity…" aria-label="filter"><span id="count"></span></div>
<table><thead><tr><th>Severity</th><th>Node</th><th>Columns</th><th>Path from the change</th><th>Owners</th></tr></thead>
<tbody id="impact-rows"></tbody></table>
</section>
<section id="unblock"></section>
<section id="details"></section>
</main>
<script type="application/json" id="meshdiff-data">{data}</script>
{scripts}
</body>
</html>
"""
