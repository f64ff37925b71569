"""The check run's output: a short summary and the full list as its text.

The summary is what GitHub shows first on the check: the verdict, one row per impacted project
with its counts, and where the rest is. The text lists every impacted node of every project
with its path and owners (cut, by severity, only past GitHub's 65,535 characters; the impact
page has everything). Neither repeats the comment's unblock snippets, and neither tells the
reader to press Re-run on the check they are looking at.
"""
from __future__ import annotations

from analysis.report import Report
from bot.render import escape as esc
from bot.render import tables, verdict
from bot.render.facts import by_severity, count_phrase, plural, projects

LIMIT = 65_000


def summary(reports: list[Report], *, page_url: str | None = None) -> str:
    lines = [verdict.heading(reports).lstrip("# "), "", verdict.subline(reports), ""]
    views = [(r, v) for r in reports for v in projects(r)]
    if views:
        # models, exposures... by severity; data and unit tests apart (how many fail)
        lines += ["| Project | 🔴 Breaking | 🟠 Unknown | 🟡 May change | Tests reached |", "|---|---:|---:|---:|---:|"]
        for _, view in views:
            c = view.split_counts()
            name = esc.code(view.name) + (" (does not compile)" if view.broken else "")
            tests = sum(t for _, t in c.values())
            failing = c["breaking"][1]
            cell = f"{tests} ({failing} fail)" if failing else str(tests)
            lines.append(f"| {name} | {c['breaking'][0]} | {c['unknown'][0]} | {c['changed'][0]} | {cell} |")
        lines.append("")
    for r in reports:
        for error in r.errors[:3]:
            first = next((ln for ln in error.splitlines() if ln.strip()), error)
            lines.append(f"- {esc.text(first, limit=300)}")
    if any(r.errors for r in reports):
        lines.append("")
    where = f"[impact page]({page_url})" if page_url else "comment on the pull request"
    if views:
        lines.append(f"Every impacted node, with its path and owners, is listed below and on the {where}; "
                     "how to unblock is in the comment on the pull request.")
    return esc.normalize("\n".join(lines).strip() + "\n")


def text(reports: list[Report], *, page_url: str | None = None, limit: int = LIMIT) -> str:
    """Every change and impact (with paths), errors and warnings, within ``limit``."""
    total = sum(len(r.impacts) for r in reports)
    for keep, paths in ((None, True), (None, False)):
        out = _text(reports, keep, paths, page_url)
        if len(out) <= limit:
            return out
    lo, hi, best = 0, total, None
    while lo <= hi:
        mid = (lo + hi) // 2
        out = _text(reports, mid, False, page_url)
        if len(out) <= limit:
            best, lo = out, mid + 1
        else:
            hi = mid - 1
    return best if best is not None else _text(reports, 0, False, page_url)[:limit]


def _text(reports: list[Report], keep: int | None, paths: bool, page_url: str | None) -> str:
    ranked = by_severity([i for r in reports for i in r.impacts])
    shown = set(map(id, ranked if keep is None else ranked[:keep]))
    out: list[str] = []
    for r in reports:
        out += [f"## {esc.code(r.changed_project)}: {esc.code(r.base.sha[:7])} → {esc.code(r.head.sha[:7])}", ""]
        out += [f"- policy: {esc.reason(p, limit=500)}" for p in r.policy]
        if r.changes:
            out += ["", "### Changes", ""] + tables.change_bullets(r.changes, r, limit=10_000)
        for view in projects(r):
            visible = [i for i in view.impacts if id(i) in shown]
            counts = ", ".join(count_phrase(s, n, t) for s, (n, t) in view.split_counts().items() if n or t)
            out += ["", f"### {esc.code(view.name)}: {counts or 'does not compile'}", ""]
            out += tables.table(visible, r, project=view.name, hidden=len(view.impacts) - len(visible),
                                where=f"the [impact page]({page_url})" if page_url else "the impact page")
            if paths and visible:
                out += ["", "Paths:", ""] + tables.path_bullets(visible, project=view.name)
        for b in r.broken:
            out += ["", f"### {esc.code(b.project)} no longer compiles", "", esc.fence(b.error[:8_000])]
        for e in r.errors:
            out += ["", "### Error", "", esc.fence(e[:8_000])]
        if r.warnings:
            out += ["", "### Warnings", ""] + [f"- {esc.reason(w, limit=1_000)}" for w in r.warnings[:200]]
            if len(r.warnings) > 200:
                out.append(f"- … and {plural(len(r.warnings) - 200, 'more warning')}")
        if r.timings:
            out += ["", "Timings: " + ", ".join(f"{esc.text(k)} {v:.1f} s" for k, v in sorted(r.timings.items()))]
        out.append("")
    if keep is not None and keep < len(ranked):
        out.append(f"_{plural(len(ranked) - keep, 'node')} left out to fit GitHub's limit; the impact page lists all._")
    return "\n".join(out).strip() + "\n"
