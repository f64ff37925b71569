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

Sources have their schema from their declared columns (cheap, never cached); SQL nodes
without SQL (Python models, dbt-loom skeletons of projects outside the mesh, disabled
models) have ``unknown`` lineage with the reason.

The result is lazy: :attr:`MeshLineage.models` and :attr:`MeshLineage.schemas` are mappings
that decode a record the first time a node is looked up, so a warm analysis of a mesh of
thousands of models decodes only the nodes it reads. :attr:`MeshLineage.readers` maps each
node to the SQL nodes whose SQL reads it (the reverse of the resolved tables), which is what
a walk over the column graph needs to find readers without decoding every model.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from analysis.lineage.cache import LineageCache, lineage_key, sql_key, table_inputs
from analysis.lineage.columns import ModelLineage
from analysis.store import gc_paused, gc_resumed
from analysis.lineage.trace import ALGORITHM_VERSION, analyse
from analysis.dbt import Node
from analysis.lineage.packs import EMPTY_FINGERPRINT, Record, digest_address, pack_address, schema_fingerprint
from analysis.lineage.relations import TableResolver
from analysis.lineage.schema import csv_header, is_python, model_schema, normalize_type, seed_schema


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
                 tick: Callable[[int, int], None] | None = None) -> MeshLineage:
    """Schemas and lineage of every node of the mesh (see the module docstring).

    ``digests``: project -> :attr:`~analysis.dbt.nodes.Project.digest`, when known: its pack is then
    found without hashing each of its nodes. ``tick(done, total)``, when given, is called after
    each node (for a progress display)."""
    return _Run(nodes, dialect_of, catalog, cache, timeout_s, digests or {}).run(order, tick)


class _Run:
    def __init__(self, nodes, dialect_of, catalog, cache: LineageCache | None, timeout_s: float,
                 digests: Mapping[str, str]) -> None:
        self.nodes = nodes
        self.digests = digests
        dialects: dict[str, str] = {}  # per project: dialect_of is the same for all its nodes
        self.dialect_of = lambda node: dialects.get(node.project) or dialects.setdefault(node.project, dialect_of(node))
        self.catalog = catalog or {}
        self.cache = cache
        self.timeout_s = timeout_s
        self.out = MeshLineage()
        self.stats = self.out.stats
        self.tables: TableResolver | None = None
        #: node -> (sql key or None, own key) for seeds and SQL nodes with SQL (computed when needed)
        self.own: dict[str, tuple[str | None, str]] = {}
        #: project -> the address of its pack
        self.pack_of: dict[str, str] = {}
        #: node -> its record (what the packs are written from); timed-out nodes have none
        self.records: dict[str, Record] = {}
        #: id(node) -> what the node's result was computed from in a previous world of the same
        #: analysis: (node, tables, dialect, catalog entry, [(input, fingerprint)], record, cached)
        self.last: dict = cache.memo.setdefault("last", {}) if cache is not None else {}

    def run(self, order: Sequence[str], tick: Callable[[int, int], None] | None = None) -> MeshLineage:
        start = time.perf_counter()
        seen = set(order)
        ids = [i for i in order if i in self.nodes] + sorted(i for i in self.nodes if i not in seen)
        with gc_paused():
            self.tables = _resolver(self.nodes, self.cache)
            packs = self._packs(ids)
            if self.cache is not None:
                for address in packs:
                    self.cache.load_pack(address)
            for done, node_id in enumerate(ids, 1):
                self._visit(node_id)
                if tick is not None:
                    tick(done, len(ids))
            if self.cache is not None:
                self._write_packs(packs)
        self.stats.seconds = time.perf_counter() - start
        return self.out

    # -- keys -------------------------------------------------------------------------------
    def _packs(self, ids: list[str]) -> dict[str, list[str]]:
        """Pack address -> the node ids (seeds and models with SQL) of the project it holds.

        A project's pack is named by its :attr:`~analysis.dbt.nodes.Project.digest` when known,
        else by the own keys of all its nodes; either way, equal names, equal node contents."""
        by_project: dict[str, list[str]] = {}
        for node_id in ids:
            node = self.nodes[node_id]
            if node.resource_type == "seed" or (node.is_sql and _has_sql(node)):
                by_project.setdefault(node.project, []).append(node_id)
        out = {}
        for project, node_ids in by_project.items():
            digest = self.digests.get(project)
            if digest:
                dialect = self.dialect_of(self.nodes[node_ids[0]])
                catalog = sorted((n, repr(self.catalog[n])) for n in node_ids if n in self.catalog)
                address = digest_address(project, digest, dialect=dialect, algorithm=ALGORITHM_VERSION,
                                         catalog=catalog)
            else:
                address = pack_address(project, ((n, self._own(self.nodes[n])[1]) for n in node_ids))
            self.pack_of[project] = address
            out[address] = node_ids
        return out

    def _own(self, node: Node) -> tuple[str | None, str]:
        """(sql key, own key) of a seed or a model with SQL: what its result depends on besides
        the tables it reads."""
        found = self.own.get(node.unique_id)
        if found is not None:
            return found
        memo = self.cache.memo.setdefault("own", {}) if self.cache is not None else {}
        dialect = self.dialect_of(node)
        entry = self.catalog.get(node.unique_id)
        inputs = (node.compiled_sql, node.columns, node.contract_enforced, node.seed_path, node.checksum,
                  node.seed_column_types, dialect, entry)
        known = memo.get(id(node))
        if known is not None and known[0] is node and known[1] == inputs:
            found = known[2]
        else:
            if node.resource_type == "seed":
                header = csv_header(node.seed_path) if node.seed_path else None
                sk, head = None, repr(["seed", dialect, header, node.checksum, sorted(node.seed_column_types.items())])
            else:
                sk = sql_key(node.compiled_sql, dialect)
                head = "sql\0" + sk
            columns = repr([(k, c.data_type) for k, c in node.columns.items()]) if node.columns else ""
            found = (sk, _hash(f"{head}\0{node.contract_enforced}\0{columns}\0{entry!r}"))
            memo[id(node)] = (node, inputs, found)
        self.own[node.unique_id] = found
        return found

    # -- one node ---------------------------------------------------------------------------
    def _visit(self, node_id: str) -> None:
        node = self.nodes[node_id]
        if node.resource_type not in ("seed", "source") and not node.is_sql:
            return
        dialect = self.dialect_of(node)
        entry = self.catalog.get(node_id)
        fingerprints = self.out.fingerprints
        # the same node object as in the previous world, reading the same schemas: the same result
        last = self.last.get(id(node))
        if last is not None and last[0] is node and last[1] is self.tables and last[2] == dialect \
                and last[3] is entry and all(fingerprints.get(i, EMPTY_FINGERPRINT) == fp for i, fp in last[4]):
            record, inputs = last[5], last[4]
            if last[6]:
                self.records[node_id] = record
            self.stats.cache_hits += node.is_sql and _has_sql(node)
        else:
            inputs = []
            if node.resource_type == "seed":
                record = self._seed(node, dialect)
            elif node.resource_type == "source":
                schema = self._with_catalog(node_id, {n: normalize_type(c.data_type, dialect)
                                                      for n, c in node.columns.items()}, dialect)
                record = Record("", schema_fingerprint(schema), None, schema=schema)
            elif _has_sql(node):
                record, resolved = self._model(node, dialect)
                inputs = [(i, fingerprints.get(i, EMPTY_FINGERPRINT)) for _, i, _ in resolved if i is not None]
            else:
                record = self._without_sql(node, dialect)
            self.last[id(node)] = (node, self.tables, dialect, entry, inputs, record, node_id in self.records)
        for upstream, _ in inputs:
            self.out.readers.setdefault(upstream, set()).add(node_id)
        if node.is_sql:
            self.stats.models += 1
            self.stats.unknown += record.status == "unknown"
            self.stats.partial += record.status == "partial"
            self.out.models.defer(node_id, lambda: self._decoded_lineage(node, dialect, record))
        self.out.schemas.defer(node_id, lambda: self._decoded_schema(node, dialect, record))
        fingerprints[node_id] = record.fingerprint

    def _seed(self, node: Node, dialect: str) -> Record:
        key = self._own(node)[1]
        record = self.cache.record(key) if self.cache is not None else None
        if record is None:
            schema = self._with_catalog(node.unique_id, seed_schema(node, dialect, self.stats), dialect)
            record = Record(key, schema_fingerprint(schema), None, schema=schema)
            if self.cache is not None:
                self.cache.keep(record)
        self.records[node.unique_id] = record
        return record

    def _model(self, node: Node, dialect: str) -> tuple[Record, list]:
        """The record of a model with SQL, and its :func:`~analysis.lineage.cache.table_inputs`."""
        node_id = node.unique_id
        cache = self.cache
        if cache is not None:
            # the project's pack holds this node's content: a record traced against the same inputs is it
            for record in cache.pack_records(self.pack_of.get(node.project, ""), node_id):
                if record.reads is not None and record.inputs is not None:
                    inputs = self._inputs(record.reads)
                    if inputs == record.inputs:
                        cache.took(record)
                        self.stats.cache_hits += 1
                        self.records[node_id] = record
                        return record, inputs
        sk, own = self._own(node)
        reads = cache.reads(sk) if cache is not None else None
        lineage = None
        if reads is not None:
            inputs = self._inputs(reads)
            lk = lineage_key(sk, inputs)
            record = cache.record(_hash(own + lk))
            if record is not None:
                record.inputs = inputs
                self.stats.cache_hits += 1
                self.records[node_id] = record
                return record, inputs
            lineage = cache.lineage(lk, node_id)
        if lineage is not None:
            self.stats.cache_hits += 1
            timed_out = False
        else:
            self.stats.cache_misses += cache is not None
            with gc_resumed():  # syntax trees have cycles
                result = analyse(node_id, node.compiled_sql, dialect, self.tables, self.out.schemas,
                                 timeout_s=self.timeout_s)
            self.stats.parsed += 1
            self.stats.trace_seconds += result.seconds
            self.stats.timeouts += result.timed_out
            timed_out = result.timed_out
            lineage = result.lineage
            reads = [tuple(k) for k in dict.fromkeys(tuple(k) for k in result.lookups)]
            inputs = self._inputs(reads)
            lk = lineage_key(sk, inputs)
            if cache is not None:
                cache.store(sk, lk, result)
        schema = self._with_catalog(node_id, model_schema(node, lineage, dialect), dialect)
        record = Record(_hash(own + lk), schema_fingerprint(schema), lineage.status, sql_key=sk, reads=reads,
                        schema=schema, lineage=lineage, inputs=inputs)
        if not timed_out:
            self.records[node_id] = record
            if cache is not None:
                cache.keep(record)
        return record, inputs

    def _without_sql(self, node: Node, dialect: str) -> Record:
        if is_python(node):
            why = "python model: lineage not analysed"
        elif node.injected:
            why = (f"{node.unique_id} is a dbt-loom skeleton of a project outside the mesh (no compiled SQL); "
                   f"lineage unknown — add project {node.project} to the mesh to trace it")
        else:
            why = (f"{node.unique_id} has no compiled SQL (disabled or not compiled); lineage unknown "
                   f"— run dbt compile for project {node.project}")
        lineage = ModelLineage.unknown(node.unique_id, why)
        schema = self._with_catalog(node.unique_id, model_schema(node, lineage, dialect), dialect)
        return Record("", schema_fingerprint(schema), "unknown", schema=schema, lineage=lineage)

    # -- lazy decoding (a damaged cached record is computed again, never fatal) --------------
    def _decoded_lineage(self, node: Node, dialect: str, record: Record) -> ModelLineage:
        try:
            lineage = record.lineage(node.unique_id)
        except (KeyError, TypeError, ValueError):
            lineage = None
        if lineage is None:
            self._damaged()
            lineage = analyse(node.unique_id, node.compiled_sql or "", dialect, self.tables, self.out.schemas,
                              timeout_s=self.timeout_s).lineage
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
        return self._with_catalog(node.unique_id, schema, dialect)

    def _damaged(self) -> None:
        if self.cache is not None:
            self.cache.stats.corrupt += 1

    # -- helpers ----------------------------------------------------------------------------
    def _inputs(self, reads) -> list:
        fingerprints = self.out.fingerprints
        return table_inputs(reads, self.tables, lambda n: fingerprints.get(n, EMPTY_FINGERPRINT))

    def _with_catalog(self, node_id: str, schema: dict, dialect: str) -> dict:
        entry = self.catalog.get(node_id)
        if entry:
            return {name.lower(): normalize_type(t, dialect) for name, t in entry.items()}
        return schema

    def _write_packs(self, packs: dict[str, list[str]]) -> None:
        """Write each project's pack when it is missing; add new records to one that exists."""
        for address, node_ids in packs.items():
            records = [(n, self.records[n]) for n in node_ids if n in self.records]
            if len(records) < len(node_ids):
                continue  # a time-out: not cached
            self.cache.store_pack(address, records)


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


def _has_sql(node: Node) -> bool:
    return bool(node.compiled_sql and node.compiled_sql.strip()) and not is_python(node)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
