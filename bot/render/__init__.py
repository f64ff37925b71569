"""Markdown of reports: the PR comment (and the CLI's markdown).

Verdict first (:mod:`.verdict`), then who to ask (:mod:`.owners`), what changed, one table of
the blocking nodes (:mod:`.tables`), how to unblock (:mod:`.unblock`), one fold per impacted
project (its other nodes and the paths), the picture (:mod:`.mermaid`), errors and warnings.
Every untrusted string goes through :mod:`.escape`.

:func:`render_markdown` fits a character budget by severity: it drops the picture, then cuts
warnings, then keeps as many rows as fit in severity order (breaking, then unknown, then
changed; the rest are counted and listed on the impact page and in the check run), then drops
snippets; the verdict and the counts are never cut.
"""
from __future__ import annotations

from dataclasses import dataclass

from analysis.report import Report
from bot.render import escape as esc
from bot.render import mermaid, owners, tables, unblock, verdict
from bot.render.facts import by_severity, count_phrase, plural, projects

MARKER = "<!-- meshdiff:impact -->"


@dataclass(frozen=True)
class Budget:
    """How much of each part goes in (``None``: all)."""

    rows: int | None = None
    picture: bool = True
    warnings: int | None = None
    snippets: bool = True
    text_cap: int | None = None


def _where(page_url: str | None) -> str:
    return f"[the impact page]({page_url})" if page_url else "the check run's details"


def _errors(report: Report, budget: Budget) -> list[str]:
    if not report.errors:
        return []
    shown = report.errors if budget.rows is None else report.errors[:max(budget.rows, 1)]
    out = ["#### What failed", ""]
    for error in shown:
        text = error if budget.text_cap is None or len(error) <= budget.text_cap else \
            error[:budget.text_cap].rstrip() + "\n… (cut; the check run has the whole message)"
        out += [esc.fence(text), ""]
    if len(shown) < len(report.errors):
        out += [f"… and {plural(len(report.errors) - len(shown), 'more error')} in the check run.", ""]
    return out + unblock.error_hints(report)


def _broken(report: Report, budget: Budget) -> list[str]:
    out = []
    for b in report.broken:
        cap = budget.text_cap or 3_000
        error = b.error if len(b.error) <= cap else b.error[:cap].rstrip() + "\n… (cut)"
        out += [f"<details><summary><b>{esc.html_text(b.project)}</b> no longer compiles with this change: "
                f"dbt's error</summary>", "", esc.fence(error), "", "</details>", ""]
    return out


def _body(reports: list[Report], budget: Budget, *, mention: str, page_url: str | None) -> list[str]:
    ranked = by_severity([i for r in reports for i in r.impacts])
    shown = set(map(id, ranked if budget.rows is None else ranked[:budget.rows]))
    out: list[str] = []
    if line := owners.ask_line(reports, mention):
        out += [line, ""]
    for report in reports:
        if len(reports) > 1:
            out += [f"#### {esc.code(report.changed_project)}", ""]
        out += _errors(report, budget)
        if report.changes:
            out += tables.change_bullets(report.changes, report) + [""]
        out += _broken(report, budget)
        blocking = [i for i in by_severity(report.impacts) if i.severity != "changed"]
        visible = [i for i in blocking if id(i) in shown]
        out += tables.table(visible, report, hidden=len(blocking) - len(visible), where=_where(page_url))
        out += [""] if visible or blocking else []
    out += unblock.section(reports, snippets=budget.snippets)
    for report in reports:
        for view in projects(report):
            out += _fold(view, report, shown, page_url)
    if budget.picture:
        for report in reports:
            if pic := mermaid.lines(report):
                out += ["<details><summary>Picture of the impact</summary>", "", *pic, "", "</details>", ""]
    warnings = [w for r in reports for w in r.warnings]
    if warnings and budget.warnings != 0:
        keep = warnings if budget.warnings is None else warnings[:budget.warnings]
        out += [f"<details><summary>{plural(len(warnings), 'warning')}</summary>", ""]
        out += [f"- {esc.reason(w, limit=budget.text_cap or 1_000)}" for w in keep]
        if len(keep) < len(warnings):
            out.append(f"- … and {len(warnings) - len(keep)} more in the check run")
        out += ["", "</details>", ""]
    return out


def _fold(view, report: Report, shown: set[int], page_url: str | None) -> list[str]:
    counts = ", ".join(count_phrase(s, n, t) for s, (n, t) in view.split_counts().items() if n or t)
    if view.broken:
        counts = "does not compile" + (f"; {counts}" if counts else "")
    visible = [i for i in view.impacts if id(i) in shown]
    changed = [i for i in visible if i.severity == "changed"]
    hidden = sum(1 for i in view.impacts if i.severity == "changed" and id(i) not in shown)
    out = [f"<details><summary><b>{esc.html_text(view.name)}</b>: {counts}</summary>", ""]
    out += tables.table(changed, report, project=view.name, hidden=hidden, where=_where(page_url))
    if changed or hidden:
        out.append("")
    if visible:
        out += ["Paths from the change:", ""] + tables.path_bullets(visible, project=view.name) + [""]
    elif view.impacts:
        out += [f"Listed on {_where(page_url)}.", ""]
    return out + ["</details>", ""]


def render_markdown(reports: list[Report] | Report, *, max_chars: int = 60_000, footer: str = "",
                    marker: str = "", mention: str = "breaking", page_url: str | None = None) -> str:
    """The Markdown for ``reports``, at most ``max_chars`` characters."""
    if isinstance(reports, Report):
        reports = [reports]
    total = sum(len(r.impacts) for r in reports)

    def build(budget: Budget) -> str:
        head = ([marker] if marker else []) + [verdict.heading(reports), verdict.subline(reports)
                                               + (f" · [Impact page]({page_url})" if page_url else ""), ""]
        lines = head + _body(reports, budget, mention=mention, page_url=page_url)
        if budget.rows is not None and budget.rows < total:
            lines.append(f"_{plural(total - budget.rows, 'row')} left out to fit GitHub's size limit: "
                         f"all of them are in the check run and on {_where(page_url)}._")
        if footer:
            lines += ["", footer]
        return "\n".join(lines).rstrip() + "\n"

    for budget in (Budget(), Budget(picture=False), Budget(picture=False, warnings=20, text_cap=2_000)):
        text = build(budget)
        if len(text) <= max_chars:
            return text
    # keep as many rows as fit, in severity order (binary search on the row count)
    lo, hi, best = 0, total, None
    while lo <= hi:
        mid = (lo + hi) // 2
        text = build(Budget(rows=mid, picture=False, warnings=10, text_cap=1_000))
        if len(text) <= max_chars:
            best, lo = text, mid + 1
        else:
            hi = mid - 1
    if best is not None:
        return best
    text = build(Budget(rows=0, picture=False, warnings=0, snippets=False, text_cap=300))
    if len(text) <= max_chars:
        return text
    cut = text[: max_chars - 80]
    return cut[: cut.rfind("\n")] + "\n\n_[cut to fit GitHub's size limit]_\n"


def verdict_line(reports: list[Report]) -> str:
    """The verdict heading (kept for callers of the old API)."""
    return verdict.heading(reports)


__all__ = ["MARKER", "render_markdown", "Budget", "verdict_line"]
