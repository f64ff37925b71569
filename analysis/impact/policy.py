"""The merge policy: from changes and impacts to ``success`` or ``failure``.

Default: fail when any impacted node is ``breaking`` or ``unknown``, when a changed node's
own change is ``unknown`` (its SQL changed but its lineage cannot be proven: nothing says
what it reaches), or when a public model's contract, version or access is broken in place
(without a version bump).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from analysis.report import Report

DEFAULT_FAIL_ON = frozenset({"breaking", "unknown"})


@dataclass(frozen=True)
class Policy:
    #: impact severities that fail the check
    fail_on: frozenset[str] = field(default_factory=lambda: DEFAULT_FAIL_ON)
    #: fail on a public model's contract / version / access broken without a version bump
    governance: bool = True
    #: fail when the analysis itself could not be completed (errors[]) — never silently safe
    fail_on_errors: bool = True


#: reason prefix used by the diff for governance findings that block under ``governance``
GOVERNANCE_MARK = "governance:"


def decide(report: Report, policy: Policy = Policy()) -> Report:
    """Fill ``report.conclusion`` and ``report.policy`` (the reasons for it). Returns ``report``."""
    reasons: list[str] = []
    if policy.fail_on_errors and report.errors:
        reasons.append(f"the analysis could not be completed ({len(report.errors)} error(s))")
    counts = report.counts()
    for severity in sorted(policy.fail_on):
        if counts.get(severity):
            reasons.append(f"{counts[severity]} impacted node(s) with severity `{severity}`")
    if "unknown" in policy.fail_on:
        for change in report.changes:
            if change.category == "unknown":
                reasons.append(f"{change.node} (category `unknown`, gates like `breaking`): {_unknown_why(change)}")
    if policy.governance:
        for change in report.changes:
            for reason in change.reasons:
                if reason.startswith(GOVERNANCE_MARK):
                    reasons.append(f"{change.node}: {reason[len(GOVERNANCE_MARK):].strip()}")
    report.policy = reasons
    report.conclusion = "failure" if reasons else "success"
    return report


def _unknown_why(change) -> str:
    why = next((r for r in change.reasons if "could not be" in r), None)
    return why or "its lineage could not be proven"
