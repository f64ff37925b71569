"""Column lineage and schemas of a whole mesh, in DAG order, doing only what changed.

:func:`mesh_lineage` visits every node upstream first. Each node's result (its output
schema, and for models its :class:`~analysis.lineage.columns.ModelLineage`) is a
:class:`~analysis.lineage.packs.Record` found by a key that covers everything it depends on:

- seeds: the CSV header, dbt's checksum of the file, declared columns and ``column_types``;
- models and snapshots: the compiled SQL, the dialect and the algorithm (the *sql key*), the
  declared columns and contract, and for every table the SQL reads, the node it resolves to
  and the fingerprint of that node's schema;
- a ``catalog.json`` entry of the node, when one is given.

So a node is traced (parsed with sqlglot) only when no record fits: its SQL changed, or the
schema of a table it reads changed. Three ways to a record, cheapest first:

1. the same node *object* was done in a previous world of the same analysis (base and head
   share unchanged nodes, see :mod:`analysis.dbt.snapshot`) and the schemas it reads have the
   same fingerprints: its result is taken as it is;
2. the project's pack (one file per project, named by the project's content digest, or by the
   keys of all its nodes when no digest is known) holds a record of this node traced against
   the same inputs (tables resolving to the same nodes, with the same schema fingerprints);
3. the record or the per-model lineage under the node's full key (:mod:`analysis.lineage.cache`);
   the tables an SQL text reads are themselves cached by its sql key.

Sources have their schema from the file of the checkout they read (``read_csv``/``read_parquet``
or a quoted path, :func:`~analysis.lineage.schema.source_schema`), else from their declared
columns (cheap, never cached). Each model sees the tables as its ``depends_on`` says: a relation
that a seed and a source both name is the one it depends on. A model whose Jinja calls a macro
that asks the warehouse (:mod:`analysis.lineage.warehouse`) is marked so. SQL nodes
without SQL (Python models, dbt-loom skeletons of projects outside the mesh, disabled
models) have ``unknown`` lineage with the reason.

The result is lazy: :attr:`MeshLineage.models` and :attr:`MeshLineage.schemas` are mappings
that decode a record the first time a node is looked up, so a warm analysis of a mesh of
thousands of models decodes only the nodes it reads. :attr:`MeshLineage.readers` maps each
node to the SQL nodes whose SQL reads it (the reverse of the resolved tables), which is what
a walk over the column graph needs to find readers without decoding every model.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from analysis.dbt import Node
from analysis.lineage.cache import LineageCache
from analysis.lineage.columns import ModelLineage
from analysis.lineage.meshkeys import MeshKeys, has_sql
from analysis.lineage.noderecords import NodeRecords, fingerprint_of, input_fingerprint
from analysis.lineage.packs import EMPTY_FINGERPRINT, Record, schema_fingerprint
from analysis.lineage.prefetch import Prefetch
from analysis.lineage.relations import TableResolver
from analysis.lineage.schema import model_schema, seed_schema
from analysis.lineage.trace import analyse
from analysis.lineage.warehouse import mark, warehouse_macros
from analysis.store import gc_paused


@dataclass
class LineageStats:
    #: SQL nodes (models, snapshots) seen
    models: int = 0
    #: models whose SQL was parsed in this run (cache misses and uncached runs)
    parsed: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    timeouts: int = 0
    unknown: int = 0
    partial: int = 0
    #: seeds whose column types were sniffed from the CSV with DuckDB in this run
    seeds_sniffed: int = 0
    #: wall time of :func:`mesh_lineage`, and the part spent tracing SQL
    seconds: float = 0.0
    trace_seconds: float = 0.0
    #: models whose trace came from a worker process (:mod:`analysis.lineage.prefetch`)
    prefetched: int = 0


class LazyMap(Mapping):
    """A mapping whose values are computed on first access (insertion order kept)."""

    __slots__ = ("_data",)
    _PENDING = object()

    def __init__(self) -> None:
        self._data: dict[str, object] = {}

    def set(self, key: str, value) -> None:
        self._data[key] = value

    def defer(self, key: str, thunk: Callable[[], object]) -> None:
        self._data[key] = (self._PENDING, thunk)

    def __getitem__(self, key: str):
        value = self._data[key]
        if type(value) is tuple and len(value) == 2 and value[0] is self._PENDING:
            value = value[1]()
            self._data[key] = value
        return value

    def __contains__(self, key) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


@dataclass
class MeshLineage:
    #: every SQL node (model/snapshot): its lineage (``unknown`` with a reason when it has no SQL)
    models: Mapping[str, ModelLineage] = field(default_factory=LazyMap)
    #: every model, snapshot, seed and source: ordered output columns -> type
    schemas: Mapping[str, dict[str, str | None]] = field(default_factory=LazyMap)
    stats: LineageStats = field(default_factory=LineageStats)
    #: node -> the SQL nodes whose SQL reads it (resolved tables)
    readers: dict[str, set[str]] = field(default_factory=dict)
    #: node -> fingerprint of its schema
    fingerprints: dict[str, str] = field(default_factory=dict)


def mesh_lineage(nodes: Mapping[str, Node], order: Sequence[str], dialect_of: Callable[[Node], str], *,
                 catalog: Mapping[str, Mapping[str, str | None]] | None = None,
                 cache: LineageCache | None = None, timeout_s: float = 10.0,
                 digests: Mapping[str, str] | None = None,
                 tick: Callable[[int, int], None] | None = None, workers: int | None = None) -> MeshLineage:
    """Schemas and lineage of every node of the mesh (see the module docstring).

    ``workers``: processes tracing models ahead (:mod:`analysis.lineage.prefetch`; default
    ``$MESHDIFF_LINEAGE_WORKERS``, else the CPUs; ``1``: none); the result is the same.

    ``digests``: project -> :attr:`~analysis.dbt.nodes.Project.digest`, when known: its pack is then
    found without hashing each of its nodes. ``tick(done, total)``, when given, is called after
    each node (for a progress display)."""
    return _Run(nodes, dialect_of, catalog, cache, timeout_s, digests or {}, workers).run(order, tick)


class _Run:
    """One walk over the nodes of one world: each node's record, in order, then the packs."""

    def __init__(self, nodes, dialect_of, catalog, cache: LineageCache | None, timeout_s: float,
                 digests: Mapping[str, str], workers: int | None = None) -> None:
        self.nodes = nodes
        self.workers = workers
        dialects: dict[str, str] = {}  # per project: dialect_of is the same for all its nodes
        self.dialect_of = lambda node: dialects.get(node.project) or dialects.setdefault(node.project, dialect_of(node))
        self.catalog = catalog or {}
        self.cache = cache
        self.timeout_s = timeout_s
        self.out = MeshLineage()
        self.stats = self.out.stats
        self.keys = MeshKeys(nodes, self.dialect_of, self.catalog, cache, digests)
        self.tables: TableResolver | None = None
        self.make: NodeRecords | None = None
        #: id(node) -> what the node's result was computed from in a previous world of the same
        #: analysis: (node, tables, dialect, catalog entry, [(input, fingerprint)], record, cached)
        self.last: dict = cache.memo.setdefault("last", {}) if cache is not None else {}

    def run(self, order: Sequence[str], tick: Callable[[int, int], None] | None = None) -> MeshLineage:
        start = time.perf_counter()
        seen = set(order)
        ids = [i for i in order if i in self.nodes] + sorted(i for i in self.nodes if i not in seen)
        with gc_paused():
            self.tables = _resolver(self.nodes, self.cache)
            self.make = NodeRecords(self.keys, self.cache, self.catalog, self.tables, self.out.schemas,
                                    self.out.fingerprints, self.stats, self.timeout_s)
            packs = self.keys.packs(ids)
            if self.cache is not None:
                for address, node_ids in packs.items():
                    self.cache.load_pack(address)
                    if not self.cache.has_pack(address):  # a model changed: the project's last packs
                        self.cache.load_recent(self.nodes[node_ids[0]].project, skip=address)
            self.make.prefetch = self._prefetch(ids)
            try:
                for done, node_id in enumerate(ids, 1):
                    self._visit(node_id)
                    if tick is not None:
                        tick(done, len(ids))
            finally:
                self.make.prefetch.close()
            self.stats.prefetched = self.make.prefetch.used
            if self.cache is not None:
                self._write_packs(packs)
        self.stats.seconds = time.perf_counter() - start
        return self.out

    def _prefetch(self, ids: list[str]) -> Prefetch:
        """Start tracing, in worker processes, the models no cache has seen whose tables all have
        a schema known before any trace (catalog entries, sources)."""
        known, models = {}, []
        for node_id in ids:
            node = self.nodes[node_id]
            dialect = self.dialect_of(node)
            if self.catalog.get(node_id):
                known[node_id] = self.make.with_catalog(node_id, {}, dialect)
            elif node.resource_type == "source":
                known[node_id] = self.make.source(node, dialect).schema
            if not (node.is_sql and has_sql(node)):
                continue
            last = self.last.get(id(node))
            if last is not None and last[0] is node:
                continue  # done in the previous world: most likely taken as it is
            if self.cache is None or self.cache.reads(self.keys.own(node)[0]) is None:
                models.append(node)
        fingerprints = {k: input_fingerprint(schema_fingerprint(v), self.nodes[k]) for k, v in known.items()}
        return Prefetch.start(models, known, self.tables, self.dialect_of, self.make.typed, self.timeout_s,
                              self.workers, unique_of=self.make.unique.of,
                              fingerprints=fingerprints)

    # -- one node ---------------------------------------------------------------------------
    def _visit(self, node_id: str) -> None:
        node = self.nodes[node_id]
        if node.resource_type not in ("seed", "source") and not node.is_sql:
            return
        dialect = self.dialect_of(node)
        entry = self.catalog.get(node_id)
        fingerprints = self.out.fingerprints
        records = self.make.records
        # the same node object as in the previous world, reading the same schemas: the same result
        last = self.last.get(id(node)) if not node.location_path else None  # a file's header: read again
        if last is not None and last[0] is node and last[1] is self.tables and last[2] == dialect \
                and last[3] is entry and all(fingerprints.get(i, EMPTY_FINGERPRINT) == fp for i, fp in last[4]):
            record, inputs = last[5], last[4]
            if last[6]:
                records[node_id] = record
            self.stats.cache_hits += node.is_sql and has_sql(node)
        else:
            inputs = []
            if node.resource_type == "seed":
                record = self.make.seed(node, dialect)
            elif node.resource_type == "source":
                record = self.make.source(node, dialect)
            elif has_sql(node):
                record, resolved = self.make.model(node, dialect)
                inputs = [(i, fingerprints.get(i, EMPTY_FINGERPRINT)) for _, i, _ in resolved if i is not None]
            else:
                record = self.make.without_sql(node, dialect)
            self.last[id(node)] = (node, self.tables, dialect, entry, inputs, record, node_id in records)
        for upstream, _ in inputs:
            self.out.readers.setdefault(upstream, set()).add(node_id)
        if node.is_sql:
            self.stats.models += 1
            self.stats.unknown += record.status == "unknown"
            self.stats.partial += record.status == "partial"
            self.out.models.defer(node_id, lambda: self._decoded_lineage(node, dialect, record))
        self.out.schemas.defer(node_id, lambda: self._decoded_schema(node, dialect, record))
        fingerprints[node_id] = fingerprint_of(record, node)

    # -- lazy decoding (a damaged cached record is computed again, never fatal) --------------
    def _decoded_lineage(self, node: Node, dialect: str, record: Record) -> ModelLineage:
        try:
            lineage = record.lineage(node.unique_id)
        except (KeyError, TypeError, ValueError):
            lineage = None
        if lineage is None:
            self._damaged()
            lineage = analyse(node.unique_id, node.compiled_sql or "", dialect, self.make.tables_of(node),
                              self.out.schemas, timeout_s=self.timeout_s, unique=self.make.unique).lineage
            lineage = mark(lineage, warehouse_macros(node.raw_sql))
        return lineage

    def _decoded_schema(self, node: Node, dialect: str, record: Record) -> dict[str, str | None]:
        try:
            return record.schema
        except (KeyError, TypeError, ValueError):
            self._damaged()
        if node.resource_type == "seed":
            schema = seed_schema(node, dialect)
        else:
            schema = model_schema(node, self.out.models[node.unique_id], dialect)
        return self.make.with_catalog(node.unique_id, schema, dialect)

    def _damaged(self) -> None:
        if self.cache is not None:
            self.cache.stats.corrupt += 1

    def _write_packs(self, packs: dict[str, list[str]]) -> None:
        """Write each project's pack when it is missing; add new records to one that exists."""
        records = self.make.records
        for address, node_ids in packs.items():
            found = [(n, records[n]) for n in node_ids if n in records]
            if len(found) < len(node_ids):
                continue  # a time-out: not cached
            self.cache.store_pack(address, found, self.nodes[node_ids[0]].project)


def _resolver(nodes: Mapping[str, Node], cache: LineageCache | None) -> TableResolver:
    """The table resolver of ``nodes``; the previous world's when the relations are the same."""
    relations = [(n.unique_id, n.relation_name, n.external_location, n.injected) for n in nodes.values()]
    last = cache.memo.get("tables") if cache is not None else None
    if last is not None and last[0] == relations:
        return last[1]
    tables = TableResolver.from_nodes(nodes.values())
    if cache is not None:
        cache.memo["tables"] = (relations, tables)
    return tables

