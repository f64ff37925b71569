"""Propagate changed columns through the column graph of the whole mesh.

Seeds are the changed columns of the PR's project (``analysis.diff``) and whole nodes of
consumers that stop compiling. From each changed column ``X.c`` the walk visits:

- every column computed from it (value lineage): ``passthrough``/``renamed`` edges carry a
  removal, rename or retype on (a ``select *`` re-exposes the loss), ``derived`` edges turn
  it into ``modified``;
- every column of a model that uses it to shape rows (WHERE, JOIN, GROUP BY, windows...);
- every consumer whose lineage is unknown (all its columns become ``unknown``), and every
  exposure / metric / semantic model depending on an impacted node (they list no columns).

Severity of a reached column: ``breaking`` when it reads a removed, renamed or retyped
column; ``unknown`` when the change or the lineage could not be proven; else ``changed``.
A node takes the worst severity of its columns. A model that reads only untouched columns
of a changed model is *not* impacted.
"""
from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from analysis.columns import ColumnRef, ModelLineage
from analysis.mesh import Mesh
from analysis.nodes import IMPACT_RESOURCE_TYPES
from analysis.report import Impact

BREAKING = frozenset({"removed", "renamed", "retyped"})
_STRENGTH = {"modified": 0, "unknown": 1, "retyped": 2, "renamed": 2, "removed": 2}
_SEVERITY_RANK = {"changed": 0, "unknown": 1, "breaking": 2}
ALL = "*"


@dataclass
class World:
    """What the walk reads: the mesh graph and the column lineage of every model."""

    mesh: Mesh
    lineage: dict[str, ModelLineage]
    schemas: dict[str, dict[str, str | None]]


@dataclass
class ReaderIndex:
    #: upstream column -> [(reader node, reader column, edge kind)]
    value: dict[ColumnRef, list[tuple[str, str, str]]] = field(default_factory=dict)
    #: upstream column -> reader nodes that use it to shape rows
    rows: dict[ColumnRef, set[str]] = field(default_factory=dict)
    #: upstream node -> reader nodes (from the graph): exposures, unknown lineage, '*' seeds
    nodes: dict[str, set[str]] = field(default_factory=dict)
    #: node -> its lineage (first world that has it wins)
    lineage: dict[str, ModelLineage] = field(default_factory=dict)
    #: node -> its output columns
    columns: dict[str, list[str]] = field(default_factory=dict)
    #: models and snapshots (nodes that have, or should have, SQL lineage)
    sql_nodes: set[str] = field(default_factory=set)


def build_index(worlds: list[World], *, only: dict[int, set[str] | None] | None = None) -> ReaderIndex:
    """Index readers over ``worlds``; ``only[i]`` restricts world ``i`` to those node ids."""
    index = ReaderIndex()
    for i, world in enumerate(worlds):
        keep = (only or {}).get(i)
        for node_id in world.mesh.graph.nodes:
            if keep is not None and node_id not in keep:
                continue
            for parent in world.mesh.graph.predecessors(node_id):
                index.nodes.setdefault(parent, set()).add(node_id)
            node = world.mesh.nodes.get(node_id)
            if node is not None and node.is_sql:
                index.sql_nodes.add(node_id)
            cols = list(world.schemas.get(node_id, {}))
            if cols and node_id not in index.columns:
                index.columns[node_id] = cols
            lin = world.lineage.get(node_id)
            if lin is None:
                continue
            index.lineage.setdefault(node_id, lin)
            for out_col, ups in lin.columns.items():
                for up in ups:
                    index.value.setdefault(up.ref, []).append((node_id, out_col, up.kind))
            for ref in lin.row_shaping:
                index.rows.setdefault(ref, set()).add(node_id)
            if lin.columns and node_id not in index.columns:
                index.columns[node_id] = list(lin.columns)
    return index


@dataclass
class _Hit:
    kind: str
    severity: str
    parent: tuple[str, str] | None
    reason: str


def propagate(
    index: ReaderIndex,
    seeds: dict[str, dict[str, str]],
    *,
    node_seeds: dict[str, tuple] | None = None,
) -> dict[tuple[str, str], _Hit]:
    """Walk from ``seeds`` (node -> column -> kind). ``node_seeds``: node -> (severity, reason[,
    upstream node]) for whole nodes hit directly (e.g. a consumer that no longer compiles)."""
    hits: dict[tuple[str, str], _Hit] = {}
    queue: deque[tuple[str, str]] = deque()
    origin: set[tuple[str, str]] = set()
    for node_id, cols in seeds.items():
        for col, kind in cols.items():
            key = (node_id, col)
            origin.add(key)
            hits[key] = _Hit(kind, "breaking" if kind in BREAKING else "changed", None, "")
            queue.append(key)
    for node_id, (severity, reason, *cause) in (node_seeds or {}).items():
        parent = (cause[0], ALL) if cause and cause[0] else None
        for col in index.columns.get(node_id) or [ALL]:
            key = (node_id, col)
            hits[key] = _Hit("unknown" if severity == "unknown" else "modified", severity, parent, reason)
            queue.append(key)

    def reach(node_id: str, col: str, kind: str, severity: str, parent, reason: str) -> None:
        key = (node_id, col)
        old = hits.get(key)
        if old is not None and (key in origin or (
            _STRENGTH[old.kind] >= _STRENGTH[kind] and _SEVERITY_RANK[old.severity] >= _SEVERITY_RANK[severity]
        )):
            return
        if old is not None:
            kind = kind if _STRENGTH[kind] >= _STRENGTH[old.kind] else old.kind
            severity = severity if _SEVERITY_RANK[severity] >= _SEVERITY_RANK[old.severity] else old.severity
        hits[key] = _Hit(kind, severity, parent, reason)
        queue.append(key)

    while queue:
        node_id, col = queue.popleft()
        hit = hits[(node_id, col)]
        sev = _severity(hit.kind)
        src = f"`{col}` of {node_id}" if col != ALL else node_id
        refs = [ColumnRef(node_id, c) for c in (index.columns.get(node_id) or [])] if col == ALL else [ColumnRef(node_id, col)]
        readers_seen: set[str] = set()
        for ref in refs:
            for reader, rcol, edge in index.value.get(ref, ()):
                readers_seen.add(reader)
                kind = hit.kind if (hit.kind in BREAKING and edge in ("passthrough", "renamed")) else (
                    "unknown" if hit.kind == "unknown" else "modified")
                reach(reader, rcol, kind, sev, (node_id, col), f"reads {src} ({hit.kind})")
            for reader in index.rows.get(ref, ()):
                readers_seen.add(reader)
                kind = "unknown" if hit.kind == "unknown" else "modified"
                for rcol in index.columns.get(reader) or [ALL]:
                    reach(reader, rcol, kind, sev, (node_id, col), f"filters, joins or groups on {src} ({hit.kind})")
        for reader in index.nodes.get(node_id, ()):
            if reader in readers_seen:
                continue
            lin = index.lineage.get(reader)
            whole = hit.kind if hit.kind in BREAKING else ("unknown" if hit.kind == "unknown" else "modified")
            if reader not in index.sql_nodes:
                # exposures, metrics, semantic models: no column list, the whole node
                reach(reader, ALL, whole, sev, (node_id, col), f"depends on {src}")
            elif lin is not None and lin.status == "ok" and col != ALL:
                continue  # proven: it does not read this column
            elif lin is not None and lin.status == "partial" and col != ALL:
                for rcol in sorted(lin.unknown_columns) or [ALL]:
                    reach(reader, rcol, "unknown", "unknown", (node_id, col),
                          f"may read {src}: {lin.reason or 'part of its lineage is unknown'}")
            elif lin is None or lin.status == "unknown":
                why = (lin.reason if lin is not None else None) or "no compiled SQL"
                for rcol in index.columns.get(reader) or [ALL]:
                    reach(reader, rcol, "unknown", "unknown", (node_id, col),
                          f"depends on {src}; its lineage is unknown: {why}")
            else:  # a whole upstream node is gone or unreadable
                for rcol in index.columns.get(reader) or [ALL]:
                    reach(reader, rcol, whole, sev, (node_id, col), f"depends on {src}")
    for key in origin:
        hits.pop(key, None)
    return hits


def _severity(kind: str) -> str:
    return "breaking" if kind in BREAKING else "unknown" if kind == "unknown" else "changed"


def _path(hits: dict, key: tuple[str, str]) -> list[str]:
    path: list[str] = []
    seen: set[tuple[str, str]] = set()
    while key is not None and key not in seen:
        seen.add(key)
        node_id, col = key
        path.append(node_id if col == ALL else f"{node_id}.{col}")
        hit = hits.get(key)
        if hit is None:
            break
        key = hit.parent
    return list(reversed(path))


def impacts_from_hits(hits: dict[tuple[str, str], _Hit], mesh: Mesh, fallback: Mesh | None = None,
                      *, exclude: set[str] = frozenset()) -> list[Impact]:
    """Group column hits into one :class:`Impact` per node."""
    by_node: dict[str, list[tuple[str, _Hit]]] = {}
    for (node_id, col), hit in hits.items():
        by_node.setdefault(node_id, []).append((col, hit))
    out: list[Impact] = []
    for node_id, cols in by_node.items():
        node = mesh.nodes.get(node_id) or (fallback.nodes.get(node_id) if fallback else None)
        if node is None or node.resource_type not in IMPACT_RESOURCE_TYPES:
            continue
        severity = max((h.severity for _, h in cols), key=_SEVERITY_RANK.__getitem__)
        if node_id in exclude and severity != "breaking":
            continue
        worst = sorted((c for c in cols if c[1].severity == severity), key=lambda c: c[0])
        names = sorted(c for c, _ in cols if c != ALL)
        reasons = list(dict.fromkeys(
            (f"`{c}` {h.reason}" if c != ALL and (h.parent is None or h.parent[1] != ALL) else h.reason)
            for c, h in sorted(cols, key=lambda x: (-_SEVERITY_RANK[x[1].severity], x[0])) if h.reason
        ))[:5]
        out.append(Impact(
            project=node.project, node=node_id, resource_type=node.resource_type, severity=severity,
            columns=names, via=_path(hits, (node_id, worst[0][0])), owners=list(node.owners),
            reasons=reasons, access=node.access, file=node.file_path,
        ))
    out.sort(key=lambda i: (-_SEVERITY_RANK[i.severity], i.project, i.node))
    return out


_NODE_ID = re.compile(r"\b((?:model|snapshot|seed|analysis)\.[A-Za-z0-9_]+\.[A-Za-z0-9_.]+?)(?=['\"\s),]|$)")


def failing_nodes(error: str, project: str, candidates: set[str]) -> set[str]:
    """Nodes of ``project`` that dbt's error message names (or ``candidates`` when none)."""
    named = {m.group(1).rstrip(".") for m in _NODE_ID.finditer(error)}
    own = {n for n in named if n.split(".")[1] == project}
    return own or candidates


def reachable_columns(index: ReaderIndex, start: ColumnRef) -> list[str]:
    """Every downstream column ``start`` reaches, by value or by shaping rows, transitively.

    Columns are named ``<unique_id>.<column>``; a node reached without column lineage
    (exposure, unknown lineage) is named by its id alone.
    """
    seen: set[tuple[str, str]] = set()
    queue: deque[tuple[str, str]] = deque([(start.node, start.column)])
    while queue:
        node_id, col = queue.popleft()
        readers: list[tuple[str, str]] = [(r, c) for r, c, _ in index.value.get(ColumnRef(node_id, col), ())]
        for reader in index.rows.get(ColumnRef(node_id, col), ()):
            readers += [(reader, c) for c in index.columns.get(reader) or [ALL]]
        for reader in index.nodes.get(node_id, ()):
            lin = index.lineage.get(reader)
            if reader not in index.sql_nodes:
                readers.append((reader, ALL))
            elif lin is None or lin.status == "unknown":
                readers += [(reader, c) for c in index.columns.get(reader) or [ALL]]
        for key in readers:
            if key not in seen:
                seen.add(key)
                queue.append(key)
    return sorted(n if c == ALL else f"{n}.{c}" for n, c in seen)
