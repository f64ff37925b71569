"""One graph of every node of every project of the mesh.

Each node is taken from the manifest of the project that owns it; the skeletons dbt-loom
injects into consumer manifests only contribute edges (a consumer's ``depends_on`` names
them, whether it used a two-argument or a one-argument ``ref``). A node owned by a project
outside the mesh keeps its skeleton, marked ``injected``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from analysis.nodes import Node, Project


@dataclass
class Mesh:
    projects: dict[str, Project]
    nodes: dict[str, Node]
    graph: nx.DiGraph = field(repr=False)

    def order(self) -> list[str]:
        """Node ids, upstream first (ties broken by id, so the order is deterministic)."""
        return list(nx.lexicographical_topological_sort(self.graph))

    def project_of(self, node_id: str) -> Project | None:
        node = self.nodes.get(node_id)
        return self.projects.get(node.project) if node else None

    def dialect_of(self, node: Node) -> str:
        project = self.projects.get(node.project)
        if project is None:
            # an upstream outside the mesh: parse its SQL like the first project that has it
            project = next(iter(self.projects.values()))
        return project.sql_dialect

    def downstream(self, node_ids) -> set[str]:
        out: set[str] = set()
        for node_id in node_ids:
            if node_id in self.graph:
                out |= nx.descendants(self.graph, node_id)
        return out


def build_mesh(projects: list[Project]) -> Mesh:
    """Merge ``projects`` (their own and injected nodes) into one :class:`Mesh`."""
    by_name = {p.name: p for p in projects}
    nodes: dict[str, Node] = {}
    for project in projects:
        nodes.update(project.own_nodes())
    for project in projects:
        for node_id, node in project.nodes.items():
            if node_id not in nodes:
                # owned elsewhere: a dbt-loom skeleton of a project not in the mesh
                nodes[node_id] = node
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    for project in projects:
        for node_id, node in project.nodes.items():
            if nodes.get(node_id) is not node:
                continue
            for parent in node.depends_on:
                if parent in nodes and parent != node_id:
                    graph.add_edge(parent, node_id)
    # a cycle would be a broken mesh; keep the analysis going on a DAG and say so upstream
    while not nx.is_directed_acyclic_graph(graph):
        upstream, downstream = nx.find_cycle(graph)[-1][:2]
        graph.remove_edge(upstream, downstream)
    return Mesh(projects=by_name, nodes=nodes, graph=graph)
