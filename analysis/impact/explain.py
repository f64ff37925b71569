"""What the report says around the impacts: who reads each changed column, the picture's
edges, and the lineage that could not be proven.

Input: the changes and impacts of one analysis, the reader index and hits of the walk
(:mod:`analysis.impact.propagation`), the meshes and the head world's lineage. Output: sentences
added to :attr:`analysis.report.Change.reasons`, :attr:`analysis.report.Report.edges` and
warnings. Nothing here changes a category or a severity.
"""
from __future__ import annotations

from collections.abc import Mapping

from analysis.impact.propagation import ReaderIndex
from analysis.lineage import ColumnRef, ModelLineage
from analysis.mesh import Mesh
from analysis.report import Change


def add_reader_reasons(changes: list[Change], index: ReaderIndex, hits: dict) -> None:
    """Add "`amount` removed; read by finance.revenue.total" to each changed column."""
    def short(node_id: str) -> str:
        return ".".join(node_id.split(".")[1:])

    hit_nodes = {n for n, _ in hits}
    for change in changes:
        for column in change.columns:
            if column.change == "added":
                continue
            ref = ColumnRef(change.node, column.name)
            found = {f"{short(r)}.{c}" for r, c, _ in index.value.get(ref, ())}
            found |= {f"{short(r)} (rows)" for r in index.rows.get(ref, ())}
            named = {r for r, _, _ in index.value.get(ref, ())} | set(index.rows.get(ref, ()))
            found |= {short(r) for r in index.nodes.get(change.node, ()) if r in hit_nodes and r not in named
                      and (r not in index.sql_nodes or getattr(index.lineage.get(r), "status", "unknown") != "ok"
                           or r in index.named.get(ref, ()))}
            found = sorted(found)
            what = f"`{column.name}` {column.change}" + (f" to `{column.renamed_to}`" if column.renamed_to else "")
            tail = ("read by " + ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
                    ) if found else "nothing in the mesh reads it"
            change.reasons.append(f"{what}; {tail}")


def impact_edges(nodes: set[str], head: Mesh, base: Mesh) -> list[list[str]]:
    """The mesh edges (either world's) between ``nodes``, sorted: ``[upstream, downstream]``."""
    edges: set[tuple[str, str]] = set()
    for mesh in (head, base):
        for a in nodes:
            if a in mesh.graph:
                edges.update((a, b) for b in mesh.graph.successors(a) if b in nodes)
    return [list(e) for e in sorted(edges)]


def lineage_warnings(models: Mapping[str, ModelLineage], relevant: set[str]) -> list[str]:
    """One warning per node of ``relevant`` whose lineage is not ``ok``, with the reason."""
    out = []
    for node_id in sorted(relevant):
        lin = models.get(node_id)
        if lin is not None and lin.status != "ok":
            out.append(f"lineage of {node_id} is {lin.status}: {lin.reason or 'see above'}")
    return out
