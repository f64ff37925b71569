"""dbt data tests and unit tests the change reaches: "this PR makes `not_null_orders_subtotal` fail".

Each test reads columns of the nodes it tests (:mod:`analysis.dbt.datatests`). After the walk
(:mod:`analysis.impact.propagation`), a test of any project of the mesh is impacted when a column
it reads is hit, or a changed column of the PR's project itself:

- ``breaking`` when that column is removed, renamed or retyped (the test's SQL names a column
  the relation no longer has, or compares it as another type), or when the column is
  ``breaking`` itself (computed from a removed column, or its project no longer compiles: the
  node it tests does not build);
- ``unknown`` when the change to that column could not be proven;
- ``changed`` when only its values may change (the test may start or stop failing).

A test that may read any column of a node (a unit test with SQL or fixture-file rows) takes the
worst change of that node. Tests are taken from the head world (a test the PR removes with its
column is not reported); a project missing from the head world keeps its base tests.
"""
from __future__ import annotations

from collections.abc import Mapping

from analysis.dbt import DataTest
from analysis.impact.propagation import hit_path
from analysis.mesh import Mesh
from analysis.report import Impact

BREAKING = frozenset({"removed", "renamed", "retyped"})
ALL = "*"
_RANK = {"changed": 0, "unknown": 1, "breaking": 2}


def reached_tests(hits: Mapping, seeds: Mapping[str, Mapping[str, str]], head: Mesh, base: Mesh) -> list[Impact]:
    """One :class:`Impact` per impacted test (``hits``: ``(node, column) -> hit`` with ``kind`` and
    ``severity``; ``seeds``: the changed project's node -> column -> kind)."""
    reached: dict[str, dict[str, tuple[str, str]]] = {}  # node -> column -> (kind, severity)
    for node_id, cols in seeds.items():
        for col, kind in cols.items():
            reached.setdefault(node_id, {})[col] = (kind, _severity(kind))
    for (node_id, col), hit in hits.items():
        # the column's own severity: a column computed from a removed one breaks its model's build
        reached.setdefault(node_id, {}).setdefault(col, (hit.kind, hit.severity))
    out = []
    for test in _tests(head, base):
        found = _reads_hit(test, reached)
        if not found:
            continue
        severity = max((s for _, _, _, s in found), key=_RANK.__getitem__)
        worst = [f for f in found if f[3] == severity]
        node_id, col = worst[0][0], worst[0][1]
        out.append(Impact(
            project=test.project, node=test.unique_id, resource_type=test.resource_type, severity=severity,
            columns=sorted({c for _, c, _, _ in found if c != ALL}),
            via=[*(hit_path(hits, (node_id, col)) if (node_id, col) in hits
                   else [node_id if col == ALL else f"{node_id}.{col}"]), test.unique_id],
            owners=list(test.owners), handles=list(test.handles), file=test.file_path,
            reasons=[_reason(test, n, c, k, s) for n, c, k, s in sorted(found, key=lambda f: -_RANK[f[3]])][:5],
        ))
    out.sort(key=lambda i: (-_RANK[i.severity], i.project, i.node))
    return out


def _tests(head: Mesh, base: Mesh) -> list[DataTest]:
    tests: dict[str, DataTest] = {}
    for name, project in base.projects.items():
        if name not in head.projects:
            tests.update(project.tests)
    for project in head.projects.values():
        tests.update(project.tests)
    return [tests[k] for k in sorted(tests)]


def _reads_hit(test: DataTest, reached: dict) -> list[tuple[str, str, str, str]]:
    found: dict[tuple[str, str], tuple[str, str, str, str]] = {}
    for node_id, col in test.reads:
        cols = reached.get(node_id)
        if not cols:
            continue
        hit = cols.get(col) or cols.get(ALL)
        if hit is not None:
            found[(node_id, col)] = (node_id, col, hit[0], hit[1])
    for node_id in test.reads_all:
        for col, (kind, severity) in (reached.get(node_id) or {}).items():
            found.setdefault((node_id, col), (node_id, col, kind, severity))
    return list(found.values())


def _severity(kind: str) -> str:
    return "breaking" if kind in BREAKING else "unknown" if kind == "unknown" else "changed"


def _reason(test: DataTest, node_id: str, col: str, kind: str, severity: str) -> str:
    what = "unit test" if test.resource_type == "unit_test" else "test"
    target = node_id if col == ALL else f"`{col}` of {node_id}"
    if severity == "breaking" and kind not in BREAKING:
        return f"{what} reads {target}, which no longer builds with this change: the test fails"
    effect = {"removed": "removed: the test fails", "renamed": "renamed: the test fails",
              "retyped": "retyped: the test may fail", "unknown": "changed in a way that could not be proven",
              "modified": "its values change: the result may change"}
    return f"{what} reads {target}, {effect.get(kind, kind)}"
