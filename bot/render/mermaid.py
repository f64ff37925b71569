"""A picture that reads: the impact paths of the mesh as a Mermaid flowchart.

Only impact edges (the path of each impacted node from the change, never plain dependencies),
one subgraph per project, short labels, generated ids (``n0``, ``p0``: no project name can
collide with a Mermaid keyword such as ``end``, ``default`` or ``interpolate``), explicit fill,
stroke *and* text colours that read in light and dark mode, and a legend. Past
:data:`MAX_NODES` nodes (or :data:`MAX_EDGES` edges) it draws one box per project instead, with
its counts; past that too, nothing (the impact page has the full graph).
"""
from __future__ import annotations

from analysis.report import Report
from bot.render import escape as esc
from bot.render.facts import SEVERITIES, by_severity, project_of, short

MAX_NODES = 25
MAX_EDGES = 60
STYLE = {
    "change": "fill:#ddf4ff,stroke:#0969da,color:#1f2328,stroke-width:2px",
    "breaking": "fill:#ffebe9,stroke:#cf222e,color:#1f2328,stroke-width:2px",
    "unknown": "fill:#fff1e5,stroke:#bc4c00,color:#1f2328,stroke-width:2px",
    "changed": "fill:#fff8c5,stroke:#9a6700,color:#1f2328",
    "project": "fill:#f6f8fa,stroke:#59636e,color:#1f2328",
}
LEGEND = {"change": "changed in this PR", "breaking": "breaking", "unknown": "unknown: gates like breaking",
          "changed": "may change values"}


def _node_of(item: str, nodes: set[str]) -> str:
    """A ``via`` entry is a node id or ``<node id>.<column>``."""
    if item in nodes:
        return item
    head = item.rsplit(".", 1)[0]
    return head if head in nodes else item


def graph(report: Report) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """(node -> style key, impact edges) of the report."""
    kinds: dict[str, str] = {}
    for impact in by_severity(report.impacts):
        kinds.setdefault(impact.node, impact.severity)
    changed = {c.node for c in report.changes}
    known = set(kinds) | changed
    edges: dict[tuple[str, str], None] = {}
    for impact in report.impacts:
        # nodes of the path that are not drawn (not impacted themselves) are skipped over
        path = [n for n in (_node_of(v, known) for v in [*impact.via, impact.node]) if n in known]
        path = [p for i, p in enumerate(path) if i == 0 or p != path[i - 1]]
        for a, b in zip(path, path[1:]):
            edges[(a, b)] = None
    for a, _ in edges:
        if a in changed:
            kinds[a] = "change"
    return kinds, list(edges)


def lines(report: Report) -> list[str]:
    """The fenced Mermaid block, or ``[]`` when nothing is impacted."""
    kinds, edges = graph(report)
    if not report.impacts:
        return []
    if len(kinds) <= MAX_NODES and len(edges) <= MAX_EDGES:
        body, used = _detailed(kinds, edges), set(kinds.values())
    else:
        body = _summary(report)
        if body is None:
            return []
        used = {i.severity for i in report.impacts}
    legend = ['  subgraph legend["Legend"]', "    direction LR"]
    legend += [f'    L{i}["{LEGEND[k]}"]:::{k}' for i, k in enumerate(("change", *SEVERITIES)) if k in used]
    legend.append("  end")
    classes = [f"  classDef {k} {v}" for k, v in STYLE.items()]
    return ["```mermaid", "flowchart LR", *body, *legend, *classes, "```"]


def _detailed(kinds: dict[str, str], edges: list[tuple[str, str]]) -> list[str]:
    ids = {n: f"n{i}" for i, n in enumerate(sorted(kinds))}
    by_project: dict[str, list[str]] = {}
    for node in sorted(kinds):
        by_project.setdefault(project_of(node), []).append(node)
    out = []
    for p, (project, members) in enumerate(sorted(by_project.items())):
        out.append(f'  subgraph p{p}["{esc.mermaid_label(project)}"]')
        for node in members:
            out.append(f'    {ids[node]}["{esc.mermaid_label(short(node, project=project))}"]:::{kinds[node]}')
        out.append("  end")
    out += [f"  {ids[a]} --> {ids[b]}" for a, b in edges]
    return out


def _summary(report: Report) -> list[str] | None:
    """One box per project with its counts, an edge where an impact path crosses projects."""
    counts: dict[str, dict[str, int]] = {}
    for impact in report.impacts:
        per = counts.setdefault(impact.project, {})
        per[impact.severity] = per.get(impact.severity, 0) + 1
    counts.setdefault(report.changed_project, {})
    if len(counts) > MAX_NODES:
        return None
    ids = {p: f"p{i}" for i, p in enumerate(sorted(counts))}
    edges: dict[tuple[str, str], None] = {}
    for impact in report.impacts:
        chain = [project_of(v) for v in impact.via] + [impact.project]
        for a, b in zip(chain, chain[1:]):
            if a != b and a in ids and b in ids:
                edges[(a, b)] = None
    out = []
    for project, per in sorted(counts.items()):
        worst = next((s for s in SEVERITIES if per.get(s)), "change")
        what = ", ".join(f"{n} {s}" for s in SEVERITIES if (n := per.get(s))) or "changed in this PR"
        out.append(f'  {ids[project]}["{esc.mermaid_label(project)}: {esc.mermaid_label(what, limit=60)}"]:::{worst}')
    out += [f"  {ids[a]} --> {ids[b]}" for a, b in edges]
    return out
