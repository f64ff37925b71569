"""Propagate changed columns through the column graph of the whole mesh.

Seeds are the changed columns of the PR's project (:mod:`analysis.impact.diff`) and whole nodes of
consumers (:mod:`analysis.impact.consumers`). From each changed column ``X.c`` the walk visits:

- every column computed from it (value lineage): ``passthrough``/``renamed`` edges carry a
  removal, rename or retype on (a ``select *`` re-exposes the loss), ``derived`` edges turn
  it into ``modified``;
- every column of a model that uses it to shape rows (WHERE, JOIN, GROUP BY, windows...);
- every consumer whose lineage is unknown (all its columns become ``unknown``), and every
  exposure / metric / semantic model depending on an impacted node (they list no columns);
- the source that reads the very table a seed (or a model) writes: dbt Labs' projects load
  seeds into the tables their sources point at, so the seed's column ``c`` *is* the source's
  column ``c`` (a ``passthrough`` edge), and the walk goes on to the source's readers.

Severity of a reached column: ``breaking`` when it reads a removed, renamed or retyped
column; ``unknown`` when the change or the lineage could not be proven; else ``changed``.
A node takes the worst severity of its columns. A model that reads only untouched columns
of a changed model is *not* impacted; but a model whose SQL *names* a removed or renamed column
(``ModelLineage.referenced``: an unused CTE projection, a kept join's ON) no longer builds, so
it is hit whole as ``breaking`` (a new value of a column it names but does not use changes
nothing it outputs: no impact).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from analysis.lineage import ColumnRef, ModelLineage, Upstream, split_relation
from analysis.mesh import Mesh
from analysis.dbt import IMPACT_RESOURCE_TYPES
from analysis.report import Impact

BREAKING = frozenset({"removed", "renamed", "retyped"})
#: changes after which SQL naming the column no longer binds (a new value never makes it fail)
_UNBINDS = frozenset({"removed", "renamed"})
_STRENGTH = {"modified": 0, "unknown": 1, "retyped": 2, "renamed": 2, "removed": 2}
_SEVERITY_RANK = {"changed": 0, "unknown": 1, "breaking": 2}
ALL = "*"


@dataclass
class World:
    """What the walk reads: the mesh graph, the column lineage and schemas of every model, and
    (optional) who reads each node; without ``readers`` it is derived from the lineage."""

    mesh: Mesh
    lineage: Mapping[str, ModelLineage]
    schemas: Mapping[str, Mapping[str, str | None]]
    #: node -> the SQL nodes whose SQL reads it (``MeshLineage.readers``)
    readers: Mapping[str, set[str]] | None = None


class _Memo:
    """``get``/``in`` over a function, computed once per key."""

    __slots__ = ("_fn", "_memo")

    def __init__(self, fn) -> None:
        self._fn = fn
        self._memo: dict = {}

    def get(self, key, default=None):
        value = self._memo.get(key, _MISSING)
        if value is _MISSING:
            value = self._memo[key] = self._fn(key)
        return default if value is None else value

    def __contains__(self, key) -> bool:
        return bool(self.get(key))


_MISSING = object()


class ReaderIndex:
    """Who reads what, over several worlds, computed on demand (a walk touches few nodes).

    - ``value.get(ColumnRef)``: ``[(reader node, reader column, edge kind)]``;
    - ``rows.get(ColumnRef)``: reader nodes that use the column to shape rows;
    - ``nodes.get(node)``: reader nodes (graph children, and models whose SQL reads it);

    (lists in a stable order, so a walk, and the paths it reports, are the same every run)
    - ``lineage.get(node)``: its lineage (the first world that has it wins);
    - ``columns.get(node)``: its output columns;
    - ``node in sql_nodes``: a model or snapshot (has, or should have, SQL lineage);
    - ``named.get(ColumnRef)``: reader nodes whose SQL names the column (in any world).

    ``only[i]`` restricts world ``i`` to those node ids.
    """

    def __init__(self, worlds: list[World], only: dict[int, set[str] | None] | None = None) -> None:
        self._worlds = [(w, (only or {}).get(i)) for i, w in enumerate(worlds)]
        self._readers: list[Mapping[str, set[str]] | None] = [w.readers for w in worlds]
        self._inverted: dict[tuple[int, str], tuple[dict, set]] = {}
        self._twins: list[dict[str, list[str]] | None] = [None] * len(worlds)
        self.value = _Memo(self._value)
        self.rows = _Memo(self._rows)
        self.nodes = _Memo(self._nodes)
        self.lineage = _Memo(self._lineage)
        self.columns = _Memo(self._columns)
        self.sql_nodes = _Memo(self._is_sql)
        self.named = _Memo(self._named)

    def _keeps(self, i: int, node_id: str) -> bool:
        keep = self._worlds[i][1]
        return keep is None or node_id in keep

    def _readers_of(self, i: int, node_id: str) -> list[str]:
        world = self._worlds[i][0]
        if self._readers[i] is None:
            self._readers[i] = _readers_from_lineage(world.lineage)
        out = dict.fromkeys(world.mesh.graph.successors(node_id)) if node_id in world.mesh.graph else {}
        out.update(dict.fromkeys(sorted(self._readers[i].get(node_id, ()))))
        out.update(dict.fromkeys(self._twins_of(i).get(node_id, ())))
        return [r for r in out if self._keeps(i, r)]

    def _twins_of(self, i: int) -> dict[str, list[str]]:
        """Writer node -> the sources that read the relation it writes (world ``i``)."""
        found = self._twins[i]
        if found is None:
            found = self._twins[i] = relation_twins(self._worlds[i][0].mesh.nodes)
        return found

    def _twin_lineage(self, i: int, source: str) -> ModelLineage | None:
        """A source reading a seed's (or model's) relation: each column is the writer's column."""
        writers = [w for w, sources in self._twins_of(i).items() if source in sources]
        if len(writers) != 1:
            return None
        writer = writers[0]
        world = self._worlds[i][0]
        names = [c for c in (world.schemas.get(writer) or {}) if c != "*"]
        names += [c for c in (world.schemas.get(source) or {}) if c != "*" and c not in names]
        return ModelLineage(node=source, columns={c: (Upstream(ColumnRef(writer, c), "passthrough"),) for c in names})

    def _nodes(self, node_id: str) -> list[str]:
        return list(dict.fromkeys(r for i in range(len(self._worlds)) for r in self._readers_of(i, node_id)))

    def _reads(self, i: int, reader: str) -> tuple[dict, set]:
        """Column -> [(reader column, kind)] and row-shaping columns of ``reader`` in world ``i``."""
        found = self._inverted.get((i, reader))
        if found is None:
            value: dict[ColumnRef, list[tuple[str, str]]] = {}
            lin = self._worlds[i][0].lineage.get(reader)
            if lin is None and reader.startswith("source."):
                lin = self._twin_lineage(i, reader)
            if lin is not None:
                for out_col, ups in lin.columns.items():
                    for up in ups:
                        value.setdefault(up.ref, []).append((out_col, up.kind))
            found = self._inverted[(i, reader)] = (value, set(lin.row_shaping) if lin is not None else set())
        return found

    def _value(self, ref: ColumnRef) -> list[tuple[str, str, str]]:
        out = []
        for i in range(len(self._worlds)):
            for reader in self._readers_of(i, ref.node):
                out += [(reader, col, kind) for col, kind in self._reads(i, reader)[0].get(ref, ())]
        return out

    def _rows(self, ref: ColumnRef) -> list[str]:
        return list(dict.fromkeys(reader for i in range(len(self._worlds)) for reader in self._readers_of(i, ref.node)
                                  if ref in self._reads(i, reader)[1]))

    def _named(self, ref: ColumnRef) -> set[str]:
        """Readers whose SQL names ``ref`` (``ModelLineage.referenced``) in any world: the base
        world's lineage was traced while the column still existed."""
        out = set()
        for i, (world, _) in enumerate(self._worlds):
            for reader in self._readers_of(i, ref.node):
                lin = world.lineage.get(reader)
                if lin is not None and ref in lin.referenced:
                    out.add(reader)
        return out

    def _lineage(self, node_id: str) -> ModelLineage | None:
        for i, (world, _) in enumerate(self._worlds):
            if self._keeps(i, node_id) and world.lineage.get(node_id) is not None:
                return world.lineage.get(node_id)
        return None

    def _columns(self, node_id: str) -> list[str] | None:
        for i, (world, _) in enumerate(self._worlds):
            if not self._keeps(i, node_id) or node_id not in world.mesh.graph:
                continue
            cols = list(world.schemas.get(node_id) or {})
            if cols:
                return cols
            lin = world.lineage.get(node_id)
            if lin is None and node_id.startswith("source."):
                lin = self._twin_lineage(i, node_id)
            if lin is not None and lin.columns:
                return list(lin.columns)
        return None

    def _is_sql(self, node_id: str) -> bool:
        return any(self._keeps(i, node_id) and (n := w.mesh.nodes.get(node_id)) is not None and n.is_sql
                   for i, (w, _) in enumerate(self._worlds))


def relation_twins(nodes: Mapping) -> dict[str, list[str]]:
    """Seed, model or snapshot -> the sources whose relation is the one it writes (its
    ``relation_name``, compared part by part without case or quotes)."""
    writers: dict[tuple[str, ...], list[str]] = {}
    sources: dict[tuple[str, ...], list[str]] = {}
    for node in nodes.values():
        if not node.relation_name or node.injected or node.external_location:
            continue
        if node.resource_type == "source":
            sources.setdefault(_relation_key(node.relation_name), []).append(node.unique_id)
        elif node.resource_type in ("seed", "model", "snapshot"):
            writers.setdefault(_relation_key(node.relation_name), []).append(node.unique_id)
    out: dict[str, list[str]] = {}
    for key, ids in writers.items():
        if len(ids) == 1 and key in sources:
            out[ids[0]] = sorted(sources[key])
    return out


def _relation_key(text: str) -> tuple[str, ...]:
    return tuple(p.lower() for p in split_relation(text))


def _readers_from_lineage(lineage: Mapping[str, ModelLineage]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for node_id, lin in lineage.items():
        for ups in lin.columns.values():
            for up in ups:
                out.setdefault(up.ref.node, set()).add(node_id)
        for ref in lin.row_shaping | lin.referenced:
            out.setdefault(ref.node, set()).add(node_id)
    return out


def build_index(worlds: list[World], *, only: dict[int, set[str] | None] | None = None) -> ReaderIndex:
    """Index readers over ``worlds``; ``only[i]`` restricts world ``i`` to those node ids."""
    return ReaderIndex(worlds, only)


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
            elif col != ALL and hit.kind in BREAKING and reader in index.named.get(ColumnRef(node_id, col), ()):
                # it names the column without using its values (an unused CTE projection, a kept
                # join's ON): without it the SQL no longer binds, so the whole model fails; with a
                # new type, whether it still binds (`upper(status)` over an integer does not in
                # DuckDB) is not proven
                if hit.kind in _UNBINDS:
                    gone = "removes" if hit.kind == "removed" else "renames"
                    reach(reader, ALL, hit.kind, "breaking", (node_id, col),
                          f"its SQL names `{col}` of {node_id}, which this change {gone}: the model no longer builds")
                else:
                    reach(reader, ALL, "unknown", "unknown", (node_id, col),
                          f"its SQL names `{col}` of {node_id}, which this change retypes: "
                          "whether the model still builds is not proven")
            elif lin is not None and lin.status == "ok" and col != ALL:
                continue  # proven: it does not read this column
            elif lin is not None and lin.status == "partial" and col != ALL:
                for rcol in _carried(lin, col):
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


def _carried(lin: ModelLineage, col: str) -> list[str]:
    """Columns of a ``partial`` reader that an upstream column ``col`` it does not visibly read
    may reach: its untraced columns, and for ``*`` (a star over columns not known here) the
    column of the same name, the only one a star can carry it to. When no column of the
    reader is traced (rows decided by an untraced column, say), or the name is taken by a
    traced column, ``*`` stands for the whole node."""
    out = []
    whole = not lin.columns or set(lin.columns) <= lin.unknown_columns
    star = ALL in lin.unknown_columns  # partial for another cause (an unresolved table): whole node
    for rcol in sorted(lin.unknown_columns) or [ALL]:
        if rcol == ALL and star and not whole and col not in lin.columns:
            rcol = col
        if rcol not in out:
            out.append(rcol)
    return out


def _severity(kind: str) -> str:
    return "breaking" if kind in BREAKING else "unknown" if kind == "unknown" else "changed"


def hit_path(hits: dict, key: tuple[str, str]) -> list[str]:
    """The path of column hits from a changed column to ``key`` (``node.column``, or ``node``)."""
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
        # who is named and pinged comes from the base where the node exists there: a PR cannot
        # choose whom it mentions or asks for a review by editing a group's owner
        owned = (fallback.nodes.get(node_id) if fallback else None) or node
        out.append(Impact(
            project=node.project, node=node_id, resource_type=node.resource_type, severity=severity,
            columns=names, via=hit_path(hits, (node_id, worst[0][0])), owners=list(owned.owners),
            reasons=reasons, access=node.access, file=node.file_path, handles=list(owned.handles),
        ))
    out.sort(key=lambda i: (-_SEVERITY_RANK[i.severity], i.project, i.node))
    return out


def reachable_columns(index: ReaderIndex, start: ColumnRef) -> list[str]:
    """Every downstream column ``start`` reaches, by value or by shaping rows, transitively.

    The same walk as :func:`propagate` (a change of ``start``'s values), so a reader with
    unknown or partial lineage is followed as the impact analysis follows it. Columns are
    named ``<unique_id>.<column>``; a node reached as a whole (an exposure, a model whose
    columns are unknown) is named by its id alone.
    """
    hits = propagate(index, {start.node: {start.column: "modified"}})
    return sorted(n if c == ALL else f"{n}.{c}" for n, c in hits)
