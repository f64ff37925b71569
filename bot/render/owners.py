"""Who to ask: GitHub handles of the owners of impacted nodes, deduplicated, and the mentions
the policy asks for (``mention: breaking | all | none``).

Handles come from the report (validated in ``analysis.dbt.manifest.handle``: a group owner's
``github`` key, an ``@``-prefixed ``meta.owner``, the consumer repository's CODEOWNERS) and are
validated again here; owners without a handle are shown by name (never their e-mail address,
never as a mention). Only :func:`ask_line` mentions anyone, and only under the policy.
"""
from __future__ import annotations

from analysis.report import Impact, Report
from bot.render import escape as esc
from bot.render.facts import RANK, SEVERITIES, is_test, owner_names, plural

MENTION_CHOICES = ("breaking", "all", "none")


def pings(severity: str, mention: str) -> bool:
    """Does the policy mention the owners of a node of this severity?"""
    return mention == "all" or (mention == "breaking" and severity == "breaking")


def handles(impact: Impact) -> list[str]:
    return [h for h in dict.fromkeys(impact.handles) if esc.is_handle(h)]


def owner_cell(impact: Impact, *, limit: int = 2) -> str:
    """The owner column of a table row: handles in code (a row never pings), else names."""
    shown = [esc.code(h) for h in handles(impact)] or [esc.text(n, limit=40) for n in owner_names(impact.owners)]
    if not shown:
        return "—"
    return ", ".join(shown[:limit]) + (f" +{len(shown) - limit}" if len(shown) > limit else "")


def who(reports: list[Report]) -> list[tuple[str, bool, dict[str, int]]]:
    """(owner, is_handle, severity -> nodes) for every owner of an impacted node, worst first.
    Data and unit tests count under ``"<severity> tests"`` (``"breaking tests"``...), apart from
    the models and exposures they read."""
    table: dict[tuple[str, bool], dict[str, int]] = {}
    for report in reports:
        for impact in report.impacts:
            found = [(h, True) for h in handles(impact)] or [(n, False) for n in owner_names(impact.owners)]
            key_of = f"{impact.severity} tests" if is_test(impact) else impact.severity
            for key in found:
                per = table.setdefault(key, {})
                per[key_of] = per.get(key_of, 0) + 1
    def order(item):
        (name, _), per = item
        worst = min((RANK[s.removesuffix(" tests")] for s in per), default=9)
        return (worst, -per.get(SEVERITIES[worst], 0) if worst < 9 else 0, name.lower())
    return [(name, is_handle, per) for (name, is_handle), per in sorted(table.items(), key=order)]


def ask_line(reports: list[Report], mention: str = "breaking", *, limit: int = 8) -> str:
    """``**Who to ask:** @octo/finance (2 breaking) · Finance Data Science (1 may change)``;
    empty when nobody owns an impacted node."""
    people = who(reports)
    if not people:
        return ""
    parts = []
    for name, is_handle, per in people[:limit]:
        ping = is_handle and any(pings(s.removesuffix(" tests"), mention) for s in per)
        label = esc.mention(name, ping=ping) if is_handle else esc.text(name, limit=60)
        what = [f"{n} {s if s != 'changed' else 'may change'}" for s in SEVERITIES if (n := per.get(s))]
        broken = per.get("breaking tests", 0)
        others = sum(n for s, n in per.items() if s.endswith(" tests")) - broken
        if broken:
            what.append(plural(broken, "test") + (" fails" if broken == 1 else " fail"))
        if others:
            what.append(f"+{plural(others, 'test')}")
        parts.append(f"{label} ({', '.join(what)})")
    more = f" · and {plural(len(people) - limit, 'more owner')} on the impact page" if len(people) > limit else ""
    return "**Who to ask:** " + " · ".join(parts) + more


def review_requests(reports: list[Report], policy: str = "none") -> tuple[list[str], list[str]]:
    """(users, team slugs) to ask for a review under ``request_reviews: breaking``: the handles
    of the owners of breaking nodes. Teams are ``org/slug``; GitHub wants the slug only, and only
    teams of the repository's organisation (the caller filters)."""
    if policy != "breaking":
        return [], []
    users: list[str] = []
    teams: list[str] = []
    for report in reports:
        for impact in report.impacts:
            if impact.severity != "breaking":
                continue
            for h in handles(impact):
                (teams if "/" in h else users).append(h[1:])
    return list(dict.fromkeys(users)), list(dict.fromkeys(teams))
