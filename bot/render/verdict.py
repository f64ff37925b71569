"""The verdict: one heading in plain words, counts per severity and project, worst first.

``❌ Blocks the merge: `finance` no longer compiles · 3 breaking in `finance` · 1 unknown in
`exec_reporting``. A consumer project that stops compiling is a finding of its own, named first.
The same words (as plain text) title the check run.
"""
from __future__ import annotations

from analysis.report import Report
from bot.render import escape as esc
from bot.render.facts import SEVERITIES, counts, plural


def _where(per_project: dict[str, int], name) -> str:
    items = sorted(per_project.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(per_project.values())
    if len(items) == 1:
        return f"in {name(items[0][0])}"
    return "in " + ", ".join(f"{name(p)} ({n})" for p, n in items) if total else ""


def parts(reports: list[Report], name) -> tuple[str, list[str], list[str]]:
    """(kind, blocking parts, other parts) of the verdict; ``name`` formats a project name.

    kind: ``error`` | ``block`` | ``changed`` | ``clean``."""
    per = counts(reports)
    broken = [b.project for r in reports for b in r.broken]
    blocking: list[str] = [f"{name(p)} no longer compiles" for p in dict.fromkeys(broken)]
    for severity in ("breaking", "unknown"):
        if per[severity]:
            total = sum(per[severity].values())
            blocking.append(f"{plural(total, severity + ' node')} {_where(per[severity], name)}")
    changed = sum(per["changed"].values())
    others = [f"{plural(changed, 'node')} {_where(per['changed'], name)} may change values"] if changed else []
    if any(r.errors for r in reports):
        return "error", blocking, others
    if any(r.conclusion == "failure" for r in reports):
        if not blocking:  # governance or an unknown change with nothing reached
            blocking = [policy_reason(r) for r in reports if r.conclusion == "failure"]
        return "block", blocking, others
    return ("changed" if changed else "clean"), blocking, others


def policy_reason(report: Report) -> str:
    """The first policy finding in plain words (node ids shortened)."""
    first = report.policy[0] if report.policy else "the policy blocks it"
    return first.replace("(category `unknown`, gates like `breaking`)", "changed in a way meshdiff cannot prove")


NOTHING = "Nothing to compare: base and head are the same commit"


def _limits(reports: list[Report]) -> str:
    """What the verdict does not cover, as a suffix (uncommitted edits left out), else ''."""
    return " (uncommitted edits not analysed)" if any(r.uncommitted() for r in reports) else ""


def heading(reports: list[Report]) -> str:
    """The Markdown heading line of the comment."""
    kind, blocking, others = parts(reports, lambda p: f"`{p}`")
    if kind == "error":
        return "### ❌ meshdiff could not finish the analysis"
    if kind == "block":
        return "### ❌ Blocks the merge: " + " · ".join(esc.reason(b, limit=200) for b in blocking)
    if reports and all(r.same_commit() for r in reports):
        return f"### ➖ {NOTHING}{_limits(reports)}"
    if kind == "changed":
        return "### ⚠️ Nothing breaks: " + esc.reason(others[0]) + _limits(reports)
    if _limits(reports):
        return "### ⚠️ No downstream impact of the committed changes" + _limits(reports)
    return "### ✅ No downstream impact"


def title(reports: list[Report]) -> str:
    """The check run's title: the same verdict as plain text (≤ 250 characters)."""
    kind, blocking, others = parts(reports, lambda p: p)
    if kind == "error":
        errors = sum(len(r.errors) for r in reports)
        text = f"Could not finish the analysis ({plural(errors, 'error')})"
    elif kind == "block":
        text = "Blocks the merge: " + "; ".join(blocking)
    elif reports and all(r.same_commit() for r in reports):
        text = NOTHING + _limits(reports)
    elif kind == "changed":
        text = "Nothing breaks: " + others[0] + _limits(reports)
    elif _limits(reports):
        text = "No downstream impact of the committed changes" + _limits(reports)
    else:
        text = "No downstream impact"
    return esc.plain(text.replace("`", ""), limit=250, one_line=True)


def subline(reports: list[Report]) -> str:
    """What was compared, in one line: project, base ← head, projects analysed."""
    out = []
    for r in reports:
        out.append(f"{esc.code(r.changed_project)} · {esc.code(r.base.ref)} ← {esc.code(r.head.ref)} "
                   f"({esc.code(r.head.sha[:7])}) · {plural(len(r.projects), 'project')} analysed")
    return "<br>".join(out)


__all__ = ["heading", "title", "parts", "subline", "SEVERITIES"]
