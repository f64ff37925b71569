"""The impact report: what changed in the PR's project, what it reaches, and the verdict.

Plain dataclasses with a stable JSON form (documented in the README, "JSON report").
``Report.to_dict()`` is the JSON; ``Report.from_dict()`` reads it back (the bot ships
reports between processes as JSON, never as pickles).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

Category = Literal["breaking", "partial", "additive", "metadata", "unknown"]
Severity = Literal["breaking", "changed", "unknown"]
ColumnChangeKind = Literal["added", "removed", "renamed", "modified", "retyped"]
Conclusion = Literal["success", "failure"]

CATEGORY_ORDER = ("breaking", "unknown", "partial", "additive", "metadata")
#: how a warning that limits what the report covers starts (the verdict says so, never a bare "no impact")
NOTHING_TO_COMPARE = "nothing to compare:"
UNCOMMITTED = "uncommitted edits not analysed:"
SEVERITY_ORDER = ("breaking", "unknown", "changed")
SCHEMA_VERSION = 1


@dataclass
class GitRef:
    ref: str
    sha: str


@dataclass
class ColumnChange:
    name: str
    change: ColumnChangeKind
    renamed_to: str | None = None
    #: ``old -> new`` type for ``retyped``
    detail: str | None = None


@dataclass
class Change:
    """One changed node of the PR's project (base vs head)."""

    node: str
    resource_type: str
    category: Category
    columns: list[ColumnChange] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    #: node status in the project: added | removed | modified
    status: str = "modified"
    #: file in the repo (for annotations), relative to the repo root when known
    file: str | None = None
    #: 1-based line numbers of the changed lines in ``file`` at head, when known
    lines: list[int] = field(default_factory=list)
    access: str | None = None
    owners: list[str] = field(default_factory=list)
    #: GitHub handles of its owners (``@user``, ``@org/team``), validated
    handles: list[str] = field(default_factory=list)


@dataclass
class Impact:
    """One downstream node reached by a change."""

    project: str
    node: str
    resource_type: str
    severity: Severity
    #: impacted columns of this node (empty: the whole node, e.g. exposures)
    columns: list[str] = field(default_factory=list)
    #: the path from the change: ``["model.shop.orders.v2.amount", "model.finance.revenue.total", ...]``
    via: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    access: str | None = None
    file: str | None = None
    #: GitHub handles of its owners: from the manifest (group owner ``github`` key, ``@``-prefixed
    #: ``meta.owner``) and, in the App, the CODEOWNERS of its repository for ``file``
    handles: list[str] = field(default_factory=list)


@dataclass
class Snippet:
    """A ready-to-paste piece of a suggestion."""

    language: str  # yaml | sql | shell
    code: str
    #: the file it goes into (relative to its project), when there is one
    path: str | None = None


@dataclass
class Suggestion:
    """How to unblock one finding (see ``analysis.impact.unblock``)."""

    #: new-version | alias | consumer-first | provable | fix-consumer
    kind: str
    #: the changed node (or the consumer project, for ``fix-consumer``) it is about
    subject: str
    title: str
    #: plain sentences (no Markdown); names are wrapped in backticks
    text: str
    snippets: list[Snippet] = field(default_factory=list)
    #: files to edit, ``project:path`` (consumer-first)
    files: list[str] = field(default_factory=list)


@dataclass
class BrokenProject:
    """A consumer project that compiles before the change and no longer compiles with it."""

    project: str
    #: dbt's error text (untrusted: escape it before showing it)
    error: str
    #: the nodes blamed for it (they are reported as breaking impacts too)
    nodes: list[str] = field(default_factory=list)


@dataclass
class Report:
    changed_project: str
    base: GitRef
    head: GitRef
    conclusion: Conclusion = "success"
    changes: list[Change] = field(default_factory=list)
    impacts: list[Impact] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: projects analysed, in mesh order (changed project first)
    projects: list[str] = field(default_factory=list)
    #: why the conclusion is what it is (policy findings)
    policy: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: mesh edges among impacted/changed nodes, for the picture: [upstream, downstream]
    edges: list[list[str]] = field(default_factory=list)
    #: how to unblock, per finding
    suggestions: list[Suggestion] = field(default_factory=list)
    #: consumer projects that stop compiling with the change (a headline finding)
    broken: list[BrokenProject] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Report":
        data = dict(data)
        data["base"] = GitRef(**data["base"])
        data["head"] = GitRef(**data["head"])
        data["changes"] = [
            Change(**{**c, "columns": [ColumnChange(**cc) for cc in c.get("columns", [])]})
            for c in data.get("changes", [])
        ]
        data["impacts"] = [Impact(**i) for i in data.get("impacts", [])]
        data["suggestions"] = [
            Suggestion(**{**s, "snippets": [Snippet(**x) for x in s.get("snippets", [])]})
            for s in data.get("suggestions", [])
        ]
        data["broken"] = [BrokenProject(**b) for b in data.get("broken", [])]
        return cls(**data)

    def same_commit(self) -> bool:
        """Base and head are the same commit: there was nothing to compare."""
        return bool(self.base.sha) and self.base.sha == self.head.sha

    def uncommitted(self) -> list[str]:
        """The warnings saying uncommitted edits of the changed project were not analysed."""
        return [w for w in self.warnings if w.startswith(UNCOMMITTED)]

    def impacts_by_project(self) -> dict[str, list[Impact]]:
        out: dict[str, list[Impact]] = {}
        for impact in self.impacts:
            out.setdefault(impact.project, []).append(impact)
        return out

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in SEVERITY_ORDER}
        for impact in self.impacts:
            out[impact.severity] += 1
        return out
