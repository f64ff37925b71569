"""The verdict: one heading in plain words, counts per severity and project, worst first.

``❌ Blocks the merge: `finance` no longer compiles · 3 breaking nodes in `finance` · makes
`finance`'s `not_null_revenue_id` fail``. A consumer project that stops compiling is a finding
of its own, named first. Tests (data and unit tests) are counted apart from the nodes that hold
data: a test that breaks is a headline finding of its own, tests that only read changed or
unknown values are one number (``18 nodes … may change values, 33 tests read them``).
The same words (as plain text) title the check run.
"""
from __future__ import annotations

from analysis.report import Report
from bot.render import escape as esc
from bot.render.facts import SEVERITIES, counts, is_test, plural, test_name


def _where(per_project: dict[str, int], name) -> str:
    items = sorted(per_project.items(), key=lambda kv: (-kv[1], kv[0]))
    total = sum(per_project.values())
    if len(items) == 1:
        return f"in {name(items[0][0])}"
    return "in " + ", ".join(f"{name(p)} ({n})" for p, n in items) if total else ""


def _failing_tests(reports: list[Report], per_project: dict[str, int], name) -> str:
    """``makes `finance`'s `not_null_revenue_id` fail``, or ``makes 5 tests fail in …``."""
    tests = [i for r in reports for i in r.impacts if i.severity == "breaking" and is_test(i)]
    if len(tests) == 1:
        only = tests[0]
        return f"makes {name(only.project)}'s {name(test_name(only.node, project=only.project))} fail"
    return f"makes {plural(len(tests), 'test')} fail {_where(per_project, name)}"


def _severity_part(severity: str, nodes: dict[str, int], tests: dict[str, int], name) -> list[str]:
    """The verdict's words for one severity: nodes first, the tests that read them as a number."""
    n, t = sum(nodes.values()), sum(tests.values())
    label = "" if severity == "changed" else severity + " "
    suffix = " may change values" if severity == "changed" else ""
    if not n:
        if not t:
            return []
        if severity == "changed":
            return [f"{plural(t, 'test')} {_where(tests, name)} {'reads' if t == 1 else 'read'} changed values"]
        return [f"{plural(t, label + 'test')} {_where(tests, name)}"]
    out = f"{plural(n, label + 'node')} {_where(nodes, name)}{suffix}"
    return [out + (f", {plural(t, 'test')} {'reads' if t == 1 else 'read'} them" if t else "")]


def parts(reports: list[Report], name) -> tuple[str, list[str], list[str]]:
    """(kind, blocking parts, other parts) of the verdict; ``name`` formats a project name.

    kind: ``error`` | ``block`` | ``changed`` | ``clean``."""
    per, tests = counts(reports, tests=False), counts(reports, tests=True)
    broken = [b.project for r in reports for b in r.broken]
    blocking: list[str] = [f"{name(p)} no longer compiles" for p in dict.fromkeys(broken)]
    blocking += _severity_part("breaking", per["breaking"], {}, name)
    if tests["breaking"]:
        blocking.append(_failing_tests(reports, tests["breaking"], name))
    blocking += _severity_part("unknown", per["unknown"], tests["unknown"], name)
    others = _severity_part("changed", per["changed"], tests["changed"], name)
    changed = bool(others)
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
