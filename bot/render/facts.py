"""What every part of the rendering agrees on: severity order, counts, names, paths, owners.

Pure functions over :class:`analysis.report.Report`; nothing here escapes (the callers do).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from analysis.report import Impact, Report

SEVERITIES = ("breaking", "unknown", "changed")
RANK = {s: i for i, s in enumerate(SEVERITIES)}
ICON = {"breaking": "🔴", "unknown": "🟠", "changed": "🟡"}
CAT_ICON = {"breaking": "🔴", "unknown": "🟠", "partial": "🟡", "additive": "🟢", "metadata": "⚪"}
#: wording of a severity for a reader
WORD = {"breaking": "breaking", "unknown": "unknown", "changed": "may change values"}
#: how many hops of a path are shown before it is shortened with …
PATH_HOPS = 4
#: resource types counted as tests, apart from the nodes that hold data (models, exposures, …)
TEST_TYPES = ("test", "unit_test")


def is_test(impact: Impact) -> bool:
    """A data test or unit test: it reads the data, it holds none."""
    return impact.resource_type in TEST_TYPES


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def short(node_id: str, *, project: str | None = None) -> str:
    """``model.finance.revenue`` -> ``finance.revenue``; ``revenue`` inside ``project``'s fold.
    Versioned ids keep their version: ``shop.orders.v2``."""
    parts = node_id.split(".")
    if len(parts) <= 2:
        return node_id
    rest = parts[1:]
    if project is not None and rest[0] == project:
        rest = rest[1:]
    return ".".join(rest)


def split_column(path_item: str, nodes: set[str]) -> tuple[str, str | None]:
    """A ``via`` entry is a node id or ``<node id>.<column>``: which one, given the known nodes."""
    if path_item in nodes:
        return path_item, None
    node, _, col = path_item.rpartition(".")
    return (node, col) if node else (path_item, None)


def test_name(node_id: str, *, project: str | None = None) -> str:
    """A test's short name without dbt's hash suffix: ``test.finance.not_null_x_id.071fd913f1``
    -> ``not_null_x_id``."""
    name = short(node_id, project=project)
    head, _, tail = name.rpartition(".")
    return head if head and len(tail) == 10 and all(c in "0123456789abcdef" for c in tail) else name


def project_of(node_id: str) -> str:
    parts = node_id.split(".")
    return parts[1] if len(parts) > 2 else ""


@dataclass
class ProjectView:
    """One impacted project: its impacts in severity order and its counts."""

    name: str
    impacts: list[Impact] = field(default_factory=list)
    broken: bool = False

    @property
    def counts(self) -> dict[str, int]:
        """severity -> impacted nodes, tests included."""
        out = {s: 0 for s in SEVERITIES}
        for i in self.impacts:
            out[i.severity] = out.get(i.severity, 0) + 1
        return out

    def split_counts(self) -> dict[str, tuple[int, int]]:
        """severity -> (nodes that are not tests, tests)."""
        out = {s: (0, 0) for s in SEVERITIES}
        for i in self.impacts:
            nodes, tests = out.get(i.severity, (0, 0))
            out[i.severity] = (nodes, tests + 1) if is_test(i) else (nodes + 1, tests)
        return out

    @property
    def worst(self) -> int:
        if self.broken:
            return -1
        return min((RANK.get(i.severity, 9) for i in self.impacts), default=9)


def by_severity(impacts: list[Impact]) -> list[Impact]:
    """Worst first; within a severity the tests after every other node (a budget cuts them
    first), then by project and node."""
    return sorted(impacts, key=lambda i: (RANK.get(i.severity, 9), is_test(i), i.project, i.node))


def projects(report: Report) -> list[ProjectView]:
    """Impacted projects, worst first (a project that stops compiling first of all), then by
    the number of nodes of that severity, then by name."""
    views: dict[str, ProjectView] = {}
    for impact in by_severity(report.impacts):
        views.setdefault(impact.project, ProjectView(impact.project)).impacts.append(impact)
    for broken in report.broken:
        views.setdefault(broken.project, ProjectView(broken.project)).broken = True
    return sorted(views.values(), key=lambda v: (v.worst, -v.counts.get(SEVERITIES[max(v.worst, 0)], 0)
                                                 if v.worst < 9 else 0, v.name))


def counts(reports: list[Report], *, tests: bool | None = None) -> dict[str, dict[str, int]]:
    """severity -> project -> number of impacted nodes (``tests``: only tests if true, none
    if false, all if ``None``)."""
    out: dict[str, dict[str, int]] = {s: {} for s in SEVERITIES}
    for report in reports:
        for impact in report.impacts:
            if tests is not None and is_test(impact) != tests:
                continue
            per = out.setdefault(impact.severity, {})
            per[impact.project] = per.get(impact.project, 0) + 1
    return out


def count_phrase(severity: str, nodes: int, tests: int) -> str:
    """``9 may change values (+13 tests)``; ``2 breaking tests`` when only tests are hit."""
    word = WORD.get(severity, severity)
    if not nodes:
        if severity == "changed":
            return f"{plural(tests, 'test')} {'reads' if tests == 1 else 'read'} changed values"
        return plural(tests, f"{word} test")
    return f"{nodes} {word}" + (f" (+{plural(tests, 'test')})" if tests else "")


def path_items(impact: Impact) -> list[str]:
    """The path from the change to the node (short names), shortened to :data:`PATH_HOPS`
    entries with ``…``: the first two, ``…``, the last two."""
    items = [short(v) for v in impact.via]
    last = impact.via[-1] if impact.via else ""
    if not (last == impact.node or last.startswith(impact.node + ".")):
        items.append(short(impact.node))
    if len(items) > PATH_HOPS:
        items = items[:2] + ["…"] + items[-2:]
    return items


def source_of(impact: Impact) -> str | None:
    """The changed column (or node) the impact starts from: ``via[0]``, short."""
    return short(impact.via[0]) if impact.via else None


def owner_names(owners: list[str]) -> list[str]:
    """Owner strings without their e-mail address (``Finance <f@x>`` -> ``Finance``), deduplicated."""
    out: list[str] = []
    for owner in owners:
        name = owner.split("<", 1)[0].strip() if "<" in owner and owner.rstrip().endswith(">") else owner.strip()
        if name and name not in out:
            out.append(name)
    return out
