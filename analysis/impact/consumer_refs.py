"""The consumer's side of governance: the changed project's refs to deprecated versions of other
projects' models (issue 9).

When the PR's project reads upstream projects, each of its models that refs a model (or model
version) with a ``deprecation_date`` in the upstream as meshdiff compiled it gets a warning: the
date, whether it has passed (dbt then warns on every run), the upstream's latest version to move
to, and whether this PR adds the ref. A ref to a version the upstream no longer has does not
compile: dbt's error says so, with the versions it has (:mod:`analysis.dbt.versions`).
"""
from __future__ import annotations

from datetime import date, datetime, timezone

from analysis.dbt import Node
from analysis.impact.governance import _passed


def deprecated_refs(base_own: dict[str, Node], head_own: dict[str, Node], nodes: dict[str, Node], project: str,
                    *, today: date | None = None) -> list[str]:
    """One warning per (model of ``project`` at head, deprecated upstream model it reads)."""
    today = today or datetime.now(timezone.utc).date()
    out = []
    for uid in sorted(head_own):
        node = head_own[uid]
        for dep in node.depends_on:
            target = nodes.get(dep)
            if target is None or target.project == project or not target.deprecation_date:
                continue
            when = target.deprecation_date[:10]
            what = f"{target.project}.{target.name}" + (f" v{target.version}" if target.version is not None else "")
            before = base_own.get(uid)
            new = before is None or dep not in before.depends_on
            text = f"{node.label} reads {what}, " + (
                f"deprecated since {when} (passed: dbt warns on every run)" if _passed(when, today)
                else f"deprecated from {when}")
            if target.latest_version is not None and str(target.latest_version) != str(target.version):
                text += f"; move to v{target.latest_version}, the latest"
            text += " (this PR adds the ref)" if new else ""
            out.append(text)
    return out
