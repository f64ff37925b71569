"""The mesh: which projects take part, in which order, and one graph of all their nodes.

Before compiling, :func:`check_unique_names` and :func:`readers_in_order` decide which
projects are analysed, from their ``dbt_project.yml`` and dbt-loom configuration (the
downstream projects that read the changed one, directly or not, in dependency order).

After compiling, :func:`build_mesh` merges the projects' nodes into one :class:`Mesh`. Each
node is taken from the manifest of the project that owns it; the skeletons dbt-loom injects
into consumer manifests only contribute edges (a consumer's ``depends_on`` names them,
whether it used a two-argument or a one-argument ``ref``). A node owned by a project outside
the mesh keeps its skeleton, marked ``injected``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx

from analysis.dbt import DbtProjectFile, Node, Project
from analysis.errors import AnalysisError


def check_unique_names(projects: Sequence[DbtProjectFile]) -> None:
    """An :class:`AnalysisError` naming both folders when two projects have the same name."""
    seen: dict[str, str] = {}
    for project in projects:
        if project.name in seen:
            raise AnalysisError(
                f"two projects are named {project.name!r}: {seen[project.name]} and {project.path}",
                hint="each project of the mesh must appear once",
            )
        seen[project.name] = project.path


def readers_in_order(changed: str, downstream: Sequence[DbtProjectFile], warnings: list[str]) -> list[DbtProjectFile]:
    """The projects of ``downstream`` that (transitively) read ``changed``, in dependency
    order; each other one is left out with a warning added to ``warnings``."""
    graph = nx.DiGraph()
    names = {p.name: p for p in downstream}
    graph.add_node(changed)
    for project in downstream:
        graph.add_node(project.name)
        for upstream in project.upstream_names:
            if upstream == changed or upstream in names:
                graph.add_edge(upstream, project.name)
    reach = nx.descendants(graph, changed)
    for project in downstream:
        if project.name not in reach:
            warnings.append(
                f"{project.name} does not read {changed} (the projects its dbt_loom.config.yml and dependencies.yml "
                f"name: {', '.join(project.upstream_names) or 'none'}); left out of the analysis"
            )
    order = [n for n in nx.lexicographical_topological_sort(graph) if n in reach]
    return [names[n] for n in order]


@dataclass
class Mesh:
    projects: dict[str, Project]
    nodes: dict[str, Node]
    graph: nx.DiGraph = field(repr=False)
    #: node ids upstream first, as :func:`build_mesh` found them (see :meth:`upstream_first`)
    topological: list[str] = field(default_factory=list, repr=False)
    #: the edges, in a canonical order (to tell two meshes' graphs apart cheaply)
    edges: list[tuple[str, str]] = field(default_factory=list, repr=False)

    def order(self) -> list[str]:
        """Node ids, upstream first (ties broken by id, so the order is deterministic)."""
        return list(nx.lexicographical_topological_sort(self.graph))

    def upstream_first(self) -> list[str]:
        """Node ids, upstream first (a faster order than :meth:`order`; deterministic for the
        same manifests, but ties follow the manifests' order rather than ids)."""
        return list(self.topological) if self.topological else list(nx.topological_sort(self.graph))

    def digests(self) -> dict[str, str]:
        """Project -> the content digest of its own nodes, where known (:mod:`analysis.dbt.snapshot`)."""
        return {name: p.digest for name, p in self.projects.items() if p.digest}

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


def build_mesh(projects: list[Project], *, like: Mesh | None = None) -> Mesh:
    """Merge ``projects`` (their own and injected nodes) into one :class:`Mesh`.

    ``like``: another mesh of the same analysis (the base, for the head); when the nodes and
    edges are the same, its graph is shared (graphs are not modified after this).
    """
    by_name = {p.name: p for p in projects}
    nodes: dict[str, Node] = {}
    for project in projects:
        nodes.update(project.own_nodes())
    for project in projects:
        for node_id, node in project.nodes.items():
            if node_id not in nodes:
                # owned elsewhere: a dbt-loom skeleton of a project not in the mesh
                nodes[node_id] = node
    edges = [(parent, node_id) for node_id, node in nodes.items()
             for parent in node.depends_on if parent in nodes and parent != node_id]
    if like is not None and like.edges == edges and like.nodes.keys() == nodes.keys():
        return Mesh(projects=by_name, nodes=nodes, graph=like.graph, topological=like.topological, edges=edges)
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    while True:
        try:
            order = list(nx.topological_sort(graph))
            break
        except nx.NetworkXUnfeasible:
            # a cycle would be a broken mesh; keep the analysis going on a DAG
            upstream, downstream = nx.find_cycle(graph)[-1][:2]
            graph.remove_edge(upstream, downstream)
            edges.remove((upstream, downstream))
    return Mesh(projects=by_name, nodes=nodes, graph=graph, topological=order, edges=edges)
