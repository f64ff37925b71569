"""The "How to unblock" section: the report's suggestions as numbered options, snippets folded.

Suggestions are computed in ``analysis.impact.unblock`` (the JSON report carries the same);
this module only lays them out. Titles and texts are meshdiff's sentences around untrusted names
(:func:`escape.reason`); snippets and file names are shown as code.
"""
from __future__ import annotations

from analysis.report import Report, Suggestion
from bot.render import escape as esc
from bot.render.facts import plural

#: files named inline per suggestion before "and N more"
FILES_INLINE = 4


def _files(s: Suggestion) -> str:
    shown = [esc.code(f.replace(":", ": ", 1)) for f in s.files[:FILES_INLINE]]
    more = f" and {len(s.files) - FILES_INLINE} more" if len(s.files) > FILES_INLINE else ""
    return (" Files: " + ", ".join(shown) + more + ".") if shown else ""


def _snippets(s: Suggestion) -> list[str]:
    if not s.snippets:
        return []
    first = next((x.path for x in s.snippets if x.path), None)
    label = f"Snippet for {esc.html_code(first)}" if first else "Snippet"
    out = [f"<details><summary>{label}</summary>", ""]
    for snippet in s.snippets:
        if snippet.path and snippet.path != first:
            out += [f"In {esc.code(snippet.path)}:", ""]
        out += [esc.fence(snippet.code, snippet.language), ""]
    return out + ["</details>", ""]


def section(reports: list[Report], *, snippets: bool = True, limit: int = 6) -> list[str]:
    """``#### How to unblock`` with one numbered option per suggestion (``snippets=False``: the
    texts only, for a tight budget)."""
    suggestions = [s for r in reports for s in r.suggestions]
    if not suggestions:
        return []
    out = ["#### How to unblock", ""]
    for n, s in enumerate(suggestions[:limit], 1):
        out += [f"**{n}. {esc.reason(s.title, limit=120)}.** {esc.reason(s.text, limit=400)}{_files(s)}", ""]
        if snippets:
            out += _snippets(s)
    if len(suggestions) > limit:
        out += [f"… and {plural(len(suggestions) - limit, 'more option')} on the impact page.", ""]
    return out


def error_hints(report: Report) -> list[str]:
    """What to do when the analysis itself failed (the error texts say it; this says where)."""
    if not report.errors:
        return []
    return ["Fix what the error says, then comment `/meshdiff rerun` on this pull request.", ""]
