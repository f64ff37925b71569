"""The record of one node of a mesh: found in the cache, or computed (a model's SQL traced).

:class:`NodeRecords` makes the :class:`~analysis.lineage.packs.Record` (output schema, and
for a model its lineage) of a seed, a source, a model with SQL, or an SQL node without SQL,
given the schemas of the nodes it reads. For a model, three ways, cheapest first: a record
of the project's pack traced against the same inputs, the record under the node's full key,
the per-model lineage under its lineage key; else its SQL is traced with
:func:`~analysis.lineage.trace.analyse` and the result kept. A model whose output types a
catalog entry gives, and whose SQL no enforced contract checks, is traced without sqlglot's
type annotation (its lineage's ``types`` are then partial; its schema is the catalog's
anyway); that lineage is cached under its own key, apart from a typed one. Used by
:mod:`analysis.lineage.meshlineage`, which walks the nodes in order.
"""
from __future__ import annotations

from collections.abc import Mapping

from analysis.dbt import Node
from analysis.lineage.cache import LineageCache, lineage_key, table_inputs
from analysis.lineage.columns import ModelLineage
from analysis.lineage.meshkeys import MeshKeys, key_hash
from analysis.lineage.prefetch import Prefetch
from analysis.lineage.packs import EMPTY_FINGERPRINT, Record, schema_fingerprint
from analysis.lineage.relations import TableResolver
from analysis.lineage.schema import is_python, model_schema, normalize_type, seed_schema, source_schema
from analysis.lineage.trace import analyse
from analysis.lineage.warehouse import mark, warehouse_macros
from analysis.store import gc_resumed

#: appended to the sql key of a lineage traced without types (``analyse(types=False)``)
UNTYPED = "\0untyped"


class UniqueKeys:
    """node id -> :attr:`~analysis.dbt.nodes.Node.unique_keys`, read from the nodes when asked."""

    __slots__ = ("nodes",)

    def __init__(self, nodes: Mapping[str, Node]) -> None:
        self.nodes = nodes

    def get(self, node_id: str, default=()):
        node = self.nodes.get(node_id)
        return node.unique_keys if node is not None and node.unique_keys else default

    def of(self, reader: Node) -> dict[str, tuple]:
        """The keys of the nodes ``reader`` depends on (what a trace of it reads), as a plain dict."""
        return {d: self.get(d) for d in reader.depends_on if self.get(d)}


def fingerprint_of(record: Record, node: Node) -> str:
    """What readers of ``node`` are traced against: its schema's fingerprint, and the keys it is
    unique on (a unique test added upstream changes what a LEFT JOIN on it proves)."""
    return input_fingerprint(record.fingerprint, node)


def input_fingerprint(schema_fingerprint_: str, node: Node) -> str:
    """:func:`fingerprint_of` from a schema's fingerprint (before any record exists)."""
    if not node.unique_keys:
        return schema_fingerprint_
    return key_hash(f"{schema_fingerprint_}\0{node.unique_keys!r}")


class NodeRecords:
    """Records of the nodes of one world of a mesh, read from or written to ``cache``.

    ``schemas`` and ``fingerprints`` are those of the nodes done so far (upstream first);
    ``stats`` a :class:`~analysis.lineage.meshlineage.LineageStats` counted into."""

    def __init__(self, keys: MeshKeys, cache: LineageCache | None, catalog: Mapping[str, Mapping[str, str | None]],
                 tables: TableResolver, schemas: Mapping[str, dict[str, str | None]],
                 fingerprints: dict[str, str], stats, timeout_s: float) -> None:
        self.keys = keys
        self.cache = cache
        self.catalog = catalog
        self.tables = tables
        self.schemas = schemas
        self.fingerprints = fingerprints
        self.stats = stats
        self.timeout_s = timeout_s
        #: node -> the column sets it is declared unique on (LEFT JOINs on them keep rows)
        self.unique = UniqueKeys(keys.nodes)
        #: node -> its record (what the packs are written from); timed-out nodes have none
        self.records: dict[str, Record] = {}
        #: models traced ahead in worker processes (:mod:`analysis.lineage.prefetch`)
        self.prefetch: Prefetch | None = None

    def seed(self, node: Node, dialect: str) -> Record:
        key = self.keys.own(node)[1]
        record = self.cache.record(key) if self.cache is not None else None
        if record is None:
            schema = self.with_catalog(node.unique_id, seed_schema(node, dialect, self.stats), dialect)
            record = Record(key, schema_fingerprint(schema), None, schema=schema)
            if self.cache is not None:
                self.cache.keep(record)
        self.records[node.unique_id] = record
        return record

    def source(self, node: Node, dialect: str) -> Record:
        """A source's columns: the file of the checkout it reads (``read_csv``...), else declared."""
        schema = self.with_catalog(node.unique_id, source_schema(node, dialect, self.stats), dialect)
        return Record("", schema_fingerprint(schema), None, schema=schema)

    def model(self, node: Node, dialect: str) -> tuple[Record, list]:
        """The record of a model with SQL, and its :func:`~analysis.lineage.cache.table_inputs`."""
        node_id = node.unique_id
        cache = self.cache
        if cache is not None:
            # the project's pack holds this node's content: a record traced against the same inputs is it
            for record in cache.pack_records(self.keys.pack_of.get(node.project, ""), node_id):
                if record.reads is not None and record.inputs is not None:
                    inputs = self.inputs(record.reads, node)
                    if inputs == record.inputs:
                        cache.took(record)
                        self.stats.cache_hits += 1
                        self.records[node_id] = record
                        return record, inputs
        sk, own = self.keys.own(node)
        # a catalog entry gives the output types and no contract checks the SQL's own: no type
        # annotation (a quarter of a trace); such a lineage is stored apart from a typed one
        typed = self.typed(node)
        lk_base = sk if typed else sk + UNTYPED
        reads = cache.reads(sk) if cache is not None else None
        lineage = None
        if reads is not None:
            inputs = self.inputs(reads, node)
            lk = lineage_key(lk_base, inputs)
            record = cache.record(key_hash(own + lk))
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
            tables = self.tables_of(node)
            result = self.prefetch.take(node_id, typed, tables, self.fingerprints) if self.prefetch else None
            if result is None:
                with gc_resumed():  # syntax trees have cycles
                    result = analyse(node_id, node.compiled_sql, dialect, tables, self.schemas,
                                     timeout_s=self.timeout_s, types=typed, unique=self.unique)
            self.stats.parsed += 1
            self.stats.trace_seconds += result.seconds
            self.stats.timeouts += result.timed_out
            timed_out = result.timed_out
            lineage = result.lineage
            reads = [tuple(k) for k in dict.fromkeys(tuple(k) for k in result.lookups)]
            inputs = self.inputs(reads, node)
            lk = lineage_key(lk_base, inputs)
            if cache is not None:
                cache.store(sk, lk, result)
        lineage = mark(lineage, warehouse_macros(node.raw_sql))
        schema = self.with_catalog(node_id, model_schema(node, lineage, dialect), dialect)
        record = Record(key_hash(own + lk), schema_fingerprint(schema), lineage.status, sql_key=sk, reads=reads,
                        schema=schema, lineage=lineage, inputs=inputs)
        if not timed_out:
            self.records[node_id] = record
            if cache is not None:
                cache.keep(record)
        return record, inputs

    def typed(self, node: Node) -> bool:
        """Whether ``node``'s trace needs sqlglot's types: no catalog entry gives them, or an
        enforced contract checks them."""
        return node.contract_enforced or not self.catalog.get(node.unique_id)

    def without_sql(self, node: Node, dialect: str) -> Record:
        if is_python(node):
            why = "python model: lineage not analysed"
        elif node.injected:
            why = (f"{node.unique_id} is a dbt-loom skeleton of a project outside the mesh (no compiled SQL); "
                   f"lineage unknown — add project {node.project} to the mesh to trace it")
        else:
            why = (f"{node.unique_id} has no compiled SQL (disabled or not compiled); lineage unknown "
                   f"— run dbt compile for project {node.project}")
        lineage = ModelLineage.unknown(node.unique_id, why)
        schema = self.with_catalog(node.unique_id, model_schema(node, lineage, dialect), dialect)
        return Record("", schema_fingerprint(schema), "unknown", schema=schema, lineage=lineage)

    def tables_of(self, node: Node) -> TableResolver:
        """The tables as ``node`` sees them: a relation that a seed and a source both name is the
        one its ``depends_on`` names (dbt Labs' seeds load the tables their sources read)."""
        return self.tables.for_reader(node.depends_on)

    def inputs(self, reads, node: Node) -> list:
        fingerprints = self.fingerprints
        return table_inputs(reads, self.tables_of(node), lambda n: fingerprints.get(n, EMPTY_FINGERPRINT))

    def with_catalog(self, node_id: str, schema: dict, dialect: str) -> dict:
        entry = self.catalog.get(node_id)
        if entry:
            return {name.lower(): normalize_type(t, dialect) for name, t in entry.items()}
        return schema
