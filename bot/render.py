"""Markdown rendering of reports: the PR comment, the CLI's markdown, the check-run text.

Layout (verdict first, Atlantis-style): one verdict line, the policy reasons, a per-project
summary table, the changes of the PR's project, one folded section per impacted project,
a Mermaid picture of the impacted part of the mesh, warnings and errors.

:func:`render_markdown` fits a character budget: it drops, in this order, the picture,
then rows of the per-project tables ("... and N more") and cuts errors and warnings (fewer,
each shorter), and never the verdict or any report's per-project summary.
"""
from __future__ import annotations

import re

from analysis.report import Change, Impact, Report

MARKER = "<!-- meshdiff:impact -->"
_ICON = {"breaking": "🔴", "unknown": "🟠", "changed": "🟡"}
_CAT_ICON = {"breaking": "🔴", "unknown": "🟠", "partial": "🟡", "additive": "🟢", "metadata": "⚪"}
_MERMAID_MAX = 20_000
#: per row cap of the budget attempts: at most this many characters of one error or warning
_TEXT_CAP = {50: 4_000, 20: 2_000, 5: 800, 0: 300}


def _esc(text: str) -> str:
    """Escape text for a Markdown table cell (no pipes, no raw HTML, one line)."""
    text = re.sub(r"[\r\n]+", " ", str(text))
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _short(node_id: str) -> str:
    parts = node_id.split(".")
    return ".".join(parts[1:]) if len(parts) > 2 else node_id


def verdict(reports: list[Report]) -> str:
    failing = [r for r in reports if r.conclusion == "failure"]
    impacts = [i for r in reports for i in r.impacts]
    projects = {i.project for i in impacts}
    counts = {s: sum(1 for i in impacts if i.severity == s) for s in ("breaking", "unknown", "changed")}
    if any(r.errors for r in reports):
        return "❌ **meshdiff could not complete the analysis** — see the errors below"
    if failing:
        bits = [f"{counts[s]} {s}" for s in ("breaking", "unknown") if counts[s]]
        tail = f": {', '.join(bits)} impacted node(s) in {len(projects)} project(s)" if bits else ""
        return f"❌ **This change blocks the merge**{tail}"
    if impacts:
        return f"⚠️ **Values may change in {len(impacts)} downstream node(s) of {len(projects)} project(s)**; nothing breaks"
    return "✅ **No downstream impact**: nothing in the mesh reads what this change touches"


def _header(report: Report) -> list[str]:
    line = (f"`{report.changed_project}` · `{report.base.ref}@{report.base.sha[:7]}` → "
            f"`{report.head.ref}@{report.head.sha[:7]}` · projects: "
            + ", ".join(f"`{p}`" for p in report.projects))
    out = [line, ""]
    if report.policy:
        out.append("**Why:** " + "; ".join(_esc(p) for p in report.policy))
        out.append("")
    return out


def _summary_table(report: Report) -> list[str]:
    by_project = report.impacts_by_project()
    if not by_project:
        return []
    out = ["| Project | 🔴 Breaking | 🟠 Unknown | 🟡 Changed | Owners |", "|---|---:|---:|---:|---|"]
    for project in sorted(by_project, key=lambda p: (p != report.changed_project, p)):
        items = by_project[project]
        owners = sorted({o for i in items for o in i.owners})
        out.append(f"| `{project}` | " + " | ".join(
            str(sum(1 for i in items if i.severity == s)) for s in ("breaking", "unknown", "changed")
        ) + f" | {_esc(', '.join(owners[:4]) + (' …' if len(owners) > 4 else ''))} |")
    return out + [""]


def _change_rows(changes: list[Change]) -> list[str]:
    rows = []
    for change in changes:
        cols = ", ".join(
            f"`{c.name}`→`{c.renamed_to}`" if c.change == "renamed" else
            f"`{c.name}` {c.change}" + (f" ({c.detail})" if c.detail else "")
            for c in change.columns[:12]
        ) + (f" … +{len(change.columns) - 12}" if len(change.columns) > 12 else "")
        reasons = "; ".join(r.replace("governance:", "⛔").strip() for r in change.reasons[:4])
        rows.append(f"| {_CAT_ICON.get(change.category, '')} `{_short(change.node)}` | {change.category} "
                    f"| {_esc(cols) or '—'} | {_esc(reasons)} |")
    return rows


def _impact_rows(impacts: list[Impact]) -> list[str]:
    rows = []
    for impact in impacts:
        cols = ", ".join(f"`{c}`" for c in impact.columns[:10]) + (
            f" … +{len(impact.columns) - 10}" if len(impact.columns) > 10 else "")
        via = " → ".join(f"`{_short(v)}`" for v in impact.via[-4:])
        why = _esc("; ".join(impact.reasons[:2]))
        rows.append(f"| {_ICON[impact.severity]} `{_short(impact.node)}` | {impact.resource_type} | "
                    f"{impact.severity} | {_esc(cols) or 'whole node'} | {via} | {why} | "
                    f"{_esc(', '.join(impact.owners)) or '—'} |")
    return rows


_IMPACT_HEAD = ["| Node | Type | Severity | Columns | Via | Why | Owners |", "|---|---|---|---|---|---|---|"]
_CHANGE_HEAD = ["| Node | Category | Columns | Why |", "|---|---|---|---|"]


def mermaid(report: Report) -> list[str]:
    nodes = {c.node: c.category for c in report.changes if c.category != "metadata"}
    sev = {i.node: i.severity for i in report.impacts}
    if not sev:
        return []
    ids = {n: f"n{i}" for i, n in enumerate(sorted(set(nodes) | set(sev)))}
    lines = ["```mermaid", "graph LR"]
    by_project: dict[str, list[str]] = {}
    for node in ids:
        by_project.setdefault(node.split(".")[1], []).append(node)
    for project, members in sorted(by_project.items()):
        lines.append(f'  subgraph {re.sub(r"[^A-Za-z0-9_]", "_", project)}["{project}"]')
        for node in sorted(members):
            label = _short(node).replace('"', "'")
            lines.append(f'    {ids[node]}["{label}"]')
        lines.append("  end")
    for a, b in report.edges:
        if a in ids and b in ids:
            lines.append(f"  {ids[a]} --> {ids[b]}")
    styles = {"breaking": "fill:#fdd,stroke:#c00", "unknown": "fill:#fec,stroke:#c60",
              "changed": "fill:#ffd,stroke:#aa0", "change": "fill:#def,stroke:#06c"}
    for node, ident in ids.items():
        key = "change" if node in nodes else sev.get(node, "changed")
        lines.append(f"  style {ident} {styles[key]}")
    lines.append("```")
    return lines if sum(len(x) + 1 for x in lines) <= _MERMAID_MAX else []


def _cut(text: str, limit: int | None) -> str:
    return text if limit is None or len(text) <= limit else text[:limit].rstrip() + " … [cut]"


def _report_sections(report: Report, rows_cap: int | None, picture: bool) -> list[str]:
    out = _header(report) + _summary_table(report)
    text_cap = _TEXT_CAP.get(rows_cap) if rows_cap is not None else None
    if report.errors:
        shown = report.errors if rows_cap is None else report.errors[:max(rows_cap, 1)]
        out += ["**Errors**", ""] + [f"```\n{_cut(e.strip(), text_cap)}\n```" for e in shown]
        if len(shown) < len(report.errors):
            out.append(f"… and {len(report.errors) - len(shown)} more error(s) (the JSON report has them all)")
        out.append("")
    if report.changes:
        visible = report.changes if rows_cap is None else report.changes[:rows_cap]
        out += [f"#### Changes in `{report.changed_project}`", ""] + _CHANGE_HEAD + _change_rows(visible)
        if len(visible) < len(report.changes):
            out.append(f"| … and {len(report.changes) - len(visible)} more | | | |")
        out.append("")
    for project, items in sorted(report.impacts_by_project().items(),
                                 key=lambda kv: (kv[0] != report.changed_project, kv[0])):
        counts = ", ".join(f"{n} {s}" for s in ("breaking", "unknown", "changed")
                           if (n := sum(1 for i in items if i.severity == s)))
        visible = items if rows_cap is None else items[:rows_cap]
        out += [f"<details><summary><b>{_esc(project)}</b>: {len(items)} impacted ({counts})</summary>", ""]
        out += _IMPACT_HEAD + _impact_rows(visible)
        if len(visible) < len(items):
            out.append(f"| … and {len(items) - len(visible)} more (full list in the JSON report) | | | | | | |")
        out += ["", "</details>", ""]
    if picture and (pic := mermaid(report)):
        out += ["<details><summary>Picture of the impacted mesh</summary>", ""] + pic + ["", "</details>", ""]
    if report.warnings:
        shown = report.warnings if rows_cap is None else report.warnings[:rows_cap]
        out += [f"<details><summary>{len(report.warnings)} warning(s)</summary>", ""]
        out += [f"- {_esc(_cut(w, text_cap))}" for w in shown]
        if len(shown) < len(report.warnings):
            out.append(f"- … and {len(report.warnings) - len(shown)} more")
        out += ["", "</details>", ""]
    return out


def render_markdown(reports: list[Report] | Report, *, max_chars: int = 60_000, footer: str = "",
                    marker: str = "") -> str:
    """The Markdown for ``reports``, at most ``max_chars`` characters."""
    if isinstance(reports, Report):
        reports = [reports]
    attempts = [(None, True), (None, False), (50, False), (20, False), (5, False), (0, False)]
    text = ""
    for rows_cap, picture in attempts:
        lines = ([marker] if marker else []) + ["### meshdiff impact report", "", verdict(reports), ""]
        for report in reports:
            if len(reports) > 1:
                lines += [f"---", f"#### `{report.changed_project}`", ""]
            lines += _report_sections(report, rows_cap, picture)
        if rows_cap is not None:
            lines.append("_Some rows were left out to fit GitHub's size limit; the JSON report has them all._")
        if footer:
            lines += ["", footer]
        text = "\n".join(lines).rstrip() + "\n"
        if len(text) <= max_chars:
            return text
    cut = text[: max_chars - 80]
    return cut[: cut.rfind("\n")] + "\n\n_[truncated to fit GitHub's size limit]_\n"
