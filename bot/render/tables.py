"""The impact tables and the folded paths.

A table has four columns that fit GitHub's ~880 px comment: severity, node, what it reads,
owner. Inside a project's fold the project prefix is dropped. Paths go from the change to the
node on one line each, shortened with ``…``, folded under the table.
"""
from __future__ import annotations

from analysis.report import Change, Impact, Report
from bot.render import escape as esc
from bot.render.facts import CAT_ICON, ICON, path_items, plural, short
from bot.render.owners import owner_cell

HEAD = ["| Severity | Node | Reads | Owner |", "|---|---|---|---|"]
_KIND_WORD = {"removed": "removed", "renamed": "renamed", "retyped": "retyped", "modified": "changed",
              "added": "added", "unknown": "unproven"}


def _origin_kind(impact: Impact, report: Report) -> str:
    if not impact.via:
        return ""
    origin = impact.via[0]
    for change in report.changes:
        if origin == change.node:
            return {"unknown": "unproven change"}.get(change.category, "changed")
        if origin.startswith(change.node + "."):
            col = origin[len(change.node) + 1:]
            if change.category == "unknown":
                return "unproven change"
            kind = next((c.change for c in change.columns if c.name == col), "modified")
            return _KIND_WORD.get(kind, kind)
    return ""


def reads_cell(impact: Impact, report: Report, *, project: str | None = None) -> str:
    """What the node reads that the change touches: the changed column and its fate, and the
    node it comes through when that is not the change itself."""
    broken = {b.project for b in report.broken}
    if not impact.via:
        return esc.text(impact.reasons[0], limit=80) if impact.reasons else "—"
    origin = esc.code(short(impact.via[0], project=report.changed_project))
    kind = _origin_kind(impact, report)
    through = [v for v in impact.via[1:] if not (v == impact.node or v.startswith(impact.node + "."))]
    out = f"{origin} {kind}".rstrip()
    if through:
        out += " via " + esc.code(short(through[-1], project=impact.project))
    if impact.project in broken and impact.severity == "breaking" and any("no longer compiles" in r for r in impact.reasons):
        out += " · does not compile"
    elif impact.severity == "unknown" and any("lineage is unknown" in r or "may read" in r for r in impact.reasons):
        out += " · its lineage is unknown"
    return out


def node_cell(impact: Impact, *, project: str | None = None) -> str:
    """The node, short: its project prefix is dropped (inside a fold the fold names it, in the
    blocking table it is shown under the name)."""
    name = esc.code(short(impact.node, project=impact.project))
    kind = "" if impact.resource_type == "model" else f" <sub>{esc.text(impact.resource_type)}</sub>"
    where = "" if project else f"<br><sub>{esc.text(impact.project)}</sub>"
    return name + kind + where


def rows(impacts: list[Impact], report: Report, *, project: str | None = None) -> list[str]:
    return [f"| {ICON.get(i.severity, '')} {esc.text(i.severity)} | {node_cell(i, project=project)} | "
            f"{reads_cell(i, report, project=project)} | {owner_cell(i)} |" for i in impacts]


def table(impacts: list[Impact], report: Report, *, project: str | None = None, hidden: int = 0,
          where: str = "the impact page") -> list[str]:
    if not impacts:
        return []
    out = HEAD + rows(impacts, report, project=project)
    if hidden:
        out.append(f"| | … and {plural(hidden, 'more node')} | listed on {where} | |")
    return out


def path_bullets(impacts: list[Impact], *, project: str | None = None) -> list[str]:
    """``- `customer_segments`: `shop.customers.lifetime_value` → … → `customer_segments.value_segment` ``"""
    out = []
    for impact in impacts:
        items = [x[len(project) + 1:] if project and x.startswith(project + ".") else x for x in path_items(impact)]
        shown = " → ".join("…" if x == "…" else esc.code(x) for x in items)
        out.append(f"- {esc.code(short(impact.node, project=project))}: {shown}")
    return out


def change_bullets(changes: list[Change], report: Report, *, limit: int = 6) -> list[str]:
    """One line per change of the PR's project that matters (breaking and unknown first)."""
    order = {"breaking": 0, "unknown": 1, "partial": 2, "additive": 3, "metadata": 4}
    ranked = sorted(changes, key=lambda c: (order.get(c.category, 9), c.node))
    out = []
    for change in ranked[:limit]:
        out.append(f"- {CAT_ICON.get(change.category, '')} {esc.code(short(change.node, project=report.changed_project))}"
                   f" {esc.text(change.category)}: {change_summary(change)}")
    if len(ranked) > limit:
        out.append(f"- … and {plural(len(ranked) - limit, 'more change')} on the impact page")
    return out


def change_summary(change: Change, *, columns: int = 4) -> str:
    """``lifetime_value`` → ``lifetime_value_usd``; governance findings; or why it is unproven."""
    if change.category == "unknown":
        why = next((r for r in change.reasons if "could not be" in r), change.reasons[0] if change.reasons else "")
        return esc.reason(why.replace("SQL changed but its lineage could not be proven: ", "lineage unproven: "),
                          limit=160)
    bits = []
    for col in change.columns[:columns]:
        if col.change == "renamed" and col.renamed_to:
            bits.append(f"{esc.code(col.name)} renamed to {esc.code(col.renamed_to)}")
        elif col.change == "retyped" and col.detail:
            bits.append(f"{esc.code(col.name)} retyped ({esc.text(col.detail, limit=40)})")
        else:
            bits.append(f"{esc.code(col.name)} {esc.text(col.change)}")
    if len(change.columns) > columns:
        bits.append(f"+{len(change.columns) - columns} more columns")
    governance = [r.split(":", 1)[1].strip() for r in change.reasons if r.startswith("governance:")]
    rename_dupes = ("contract column", "contract columns added")
    governance = [g for g in governance if not (change.columns and g.startswith(rename_dupes))]
    bits += [esc.reason(g, limit=140) for g in governance[:2]]
    if not bits:
        bits = [esc.reason(r, limit=140) for r in change.reasons[:1]] or ["—"]
    return "; ".join(bits)
