"""Consumers the PR reaches without a changed column: they stop compiling, or their SQL changes.

Besides the changed columns of the PR's project (:mod:`analysis.impact.diff`), the walk over
the column graph (:mod:`analysis.impact.propagation`) starts from whole nodes of downstream
projects, each with a severity and a reason:

- :func:`broken_consumers`: a downstream project that compiled against the base no longer
  compiles against the head (``breaking``);
- :func:`recompiled_consumers`: a downstream model whose compiled SQL changes with the PR (an
  upstream ``ref`` now resolves elsewhere, e.g. a moved ``latest_version``), with the severity
  of the difference of its own lineage, base vs head.

- :func:`contract_breaks`: a model with an enforced contract, in any project, whose inferred
  output at head no longer matches its contract although its own SQL did not change (a
  ``select *`` over an upstream that gains a column): ``dbt build`` fails its contract check
  (``breaking``).

All return ``{node id: (severity, reason[, cause])}``, the ``node_seeds`` of
:func:`analysis.impact.propagation.propagate`.
"""
from __future__ import annotations

import re

from analysis.impact.diff import diff_project, produced_columns, sql_changed
from analysis.impact.governance import contract_vs_sql
from analysis.impact.policy import GOVERNANCE_MARK
from analysis.lineage import MeshLineage
from analysis.mesh import Mesh
from analysis.report import Change

_NODE_ID = re.compile(r"\b((?:model|snapshot|seed|analysis)\.[A-Za-z0-9_]+\.[A-Za-z0-9_.]+?)(?=['\"\s),]|$)")


def failing_nodes(error: str, project: str, candidates: set[str]) -> set[str]:
    """Nodes of ``project`` that dbt's error message names (or ``candidates`` when none)."""
    named = {m.group(1).rstrip(".") for m in _NODE_ID.finditer(error)}
    own = {n for n in named if n.split(".")[1] == project}
    return own or candidates


def broken_consumers(failures: dict[str, str], base_mesh: Mesh, changes: list[Change], changed: str, ref: str):
    """Consumer nodes that break because their project no longer compiles against the head.

    ``failures``: project -> dbt's error at the head. dbt stops at the first failing node, so
    besides the nodes its message names, every node that reads a producer node with a breaking
    change is blamed (they fail the same way).
    """
    out: dict[str, tuple[str, str]] = {}
    breaking = {c.node for c in changes if c.category == "breaking"}
    touched = {c.node for c in changes}
    for project, error in failures.items():
        own = {n for n, node in base_mesh.nodes.items() if node.project == project}
        def reading(targets):
            return {n for n in own if any(p in targets for p in base_mesh.graph.predecessors(n))}
        named = failing_nodes(error, project, set())
        blamed = named | reading(breaking)
        if not blamed:
            blamed = reading(touched) or reading({n for n, node in base_mesh.nodes.items() if node.project == changed})
        first = next((ln.strip() for ln in error.splitlines() if ln.strip() and "Error" not in ln), error.strip())
        for node_id in sorted(blamed):
            cause = next((p for p in sorted(base_mesh.graph.predecessors(node_id)) if p in breaking), None) or \
                next((p for p in sorted(base_mesh.graph.predecessors(node_id)) if p in touched), None)
            out[node_id] = ("breaking", f"{project} no longer compiles against {changed}@{ref}: {first}", cause)
    return out


def recompiled_consumers(head: Mesh, base: Mesh, changed: str, failures: dict[str, str],
                         base_lineage: MeshLineage, head_lineage: MeshLineage):
    """Downstream models whose compiled SQL changes with the PR (e.g. a moved latest_version),
    with the severity of the difference of their own lineage, base vs head. Projects in
    ``failures`` (no longer compiling) are left out."""
    out: dict[str, tuple[str, str]] = {}
    for node_id, node in head.nodes.items():
        if node.project == changed or node.project in failures or not node.is_sql or node.injected:
            continue
        before = base.nodes.get(node_id)
        if before is None or not before.compiled_sql or not node.compiled_sql or not sql_changed(before, node):
            continue
        found = diff_project({node_id: before}, {node_id: node}, base_lineage.models, head_lineage.models,
                             base_lineage.schemas, head_lineage.schemas).changes
        if not found or found[0].category == "metadata":
            continue  # the same lineage: nothing it produces changes
        severity = {"breaking": "breaking", "unknown": "unknown"}.get(found[0].category, "changed")
        out[node_id] = (severity, "its compiled SQL changes with this PR (an upstream ref now resolves elsewhere): "
                                  + "; ".join(found[0].reasons[:3]))
    return out


def contract_breaks(head: Mesh, base: Mesh, changed: set[str], failures: dict[str, str],
                    base_lineage: MeshLineage, head_lineage: MeshLineage):
    """Models downstream of the ``changed`` nodes (any project) with an enforced contract that
    their head output breaks and their base output did not: columns the SQL produces that the
    contract does not declare (or the reverse), types of another family. Changed nodes are
    checked by the diff; projects in ``failures`` (no longer compiling) are left out."""
    out: dict[str, tuple[str, str, str | None]] = {}
    for node_id in sorted(head.downstream(changed) - changed):
        node = head.nodes.get(node_id)
        if node is None or not node.contract_enforced or not node.is_sql or node.injected \
                or node.project in failures:
            continue
        lh, lb = head_lineage.models.get(node_id), base_lineage.models.get(node_id)
        if lh is None or lh.status == "unknown":
            continue  # nothing to compare; its readers' walk reports what is unknown
        found = contract_vs_sql(node, produced_columns(lh), lh.types)
        before = base.nodes.get(node_id)
        if lb is not None and lb.status != "unknown" and before is not None and before.contract_enforced:
            found = [f for f in found if f not in contract_vs_sql(before, produced_columns(lb), lb.types)]
        if not found:
            continue
        cause = next((p for p in sorted(head.graph.predecessors(node_id)) if p in changed or p in out), None)
        text = "; ".join(f[len(GOVERNANCE_MARK):].strip() if f.startswith(GOVERNANCE_MARK) else f for f in found)
        out[node_id] = ("breaking", f"its enforced contract no longer matches its SQL with this change: {text}", cause)
    return out
