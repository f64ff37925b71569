"""Schemas and column lineage of a whole mesh, without a warehouse, in DAG order.

Each node's output columns (ordered, name -> type or ``None``) come from:

- seeds: the CSV header (read with :mod:`csv`); types from ``column_types``, else sniffed
  with DuckDB's CSV reader and mapped to the types dbt gives seeds (``integer``, ``float8``,
  ``text``, ``date``, ``timestamp``, ``boolean``, ``time``);
- sources: declared ``columns`` (and their ``data_type``); none declared -> unknown (``{}``);
- models and snapshots: the column list their SQL lineage produces; types from the contract
  when it is enforced, else the inferred type, else the declared ``data_type``. When the
  lineage has no column list (unknown), the declared columns, followed by ``"*"`` unless a
  contract is enforced;
- ``catalog`` (``catalog.json``: node id -> columns -> type) replaces all of the above.

A ``"*"`` key (type ``None``) means "more columns than listed": a ``select *`` over the node
cannot be expanded in full and stays partly unknown downstream. Types are normalised by
sqlglot in the node's dialect (``integer`` -> ``INT``). Upstream schemas are known before a
model is traced because nodes are visited in ``order`` (upstream first).
"""
from __future__ import annotations

import csv
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sqlglot import exp

from analysis.cache import LineageCache
from analysis.columns import ModelLineage
from analysis.lineage import analyse
from analysis.nodes import Node
from analysis.relations import TableResolver


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


@dataclass
class MeshLineage:
    #: every SQL node (model/snapshot): its lineage (``unknown`` with a reason when it has no SQL)
    models: dict[str, ModelLineage] = field(default_factory=dict)
    #: every model, snapshot, seed and source: ordered output columns -> type
    schemas: dict[str, dict[str, str | None]] = field(default_factory=dict)
    stats: LineageStats = field(default_factory=LineageStats)


def mesh_lineage(nodes: Mapping[str, Node], order: Sequence[str], dialect_of: Callable[[Node], str], *,
                 catalog: Mapping[str, Mapping[str, str | None]] | None = None,
                 cache: LineageCache | None = None, timeout_s: float = 10.0) -> MeshLineage:
    """Trace every model of the mesh in ``order`` (see the module docstring)."""
    start = time.perf_counter()
    out = MeshLineage()
    stats = out.stats
    tables = TableResolver.from_nodes(nodes.values())
    seen = set(order)
    ids = [i for i in order if i in nodes] + sorted(i for i in nodes if i not in seen)
    for node_id in ids:
        node = nodes[node_id]
        dialect = dialect_of(node)
        if node.resource_type == "seed":
            schema = seed_schema(node, dialect, stats)
        elif node.resource_type == "source":
            schema = {name: normalize_type(c.data_type, dialect) for name, c in node.columns.items()}
        elif node.is_sql:
            lineage = _trace(node, dialect, tables, out.schemas, cache, timeout_s, stats)
            out.models[node_id] = lineage
            schema = model_schema(node, lineage, dialect)
        else:
            continue
        if catalog is not None and catalog.get(node_id):
            schema = {name.lower(): normalize_type(t, dialect) for name, t in catalog[node_id].items()}
        out.schemas[node_id] = schema
    stats.seconds = time.perf_counter() - start
    return out


def _trace(node: Node, dialect: str, tables: TableResolver, schemas, cache: LineageCache | None,
           timeout_s: float, stats: LineageStats) -> ModelLineage:
    stats.models += 1
    sql = node.compiled_sql
    if _is_python(node):
        lineage = ModelLineage.unknown(node.unique_id, "python model: lineage not analysed")
    elif not sql or not sql.strip():
        if node.injected:
            why = (f"{node.unique_id} is a dbt-loom skeleton of a project outside the mesh (no compiled SQL); "
                   f"lineage unknown — add project {node.project} to the mesh to trace it")
        else:
            why = (f"{node.unique_id} has no compiled SQL (disabled or not compiled); lineage unknown "
                   f"— run dbt compile for project {node.project}")
        lineage = ModelLineage.unknown(node.unique_id, why)
    else:
        lineage = cache.get(node.unique_id, sql, dialect, tables, schemas) if cache is not None else None
        if lineage is not None:
            stats.cache_hits += 1
        else:
            if cache is not None:
                stats.cache_misses += 1
            result = analyse(node.unique_id, sql, dialect, tables, schemas, timeout_s=timeout_s)
            stats.parsed += 1
            stats.trace_seconds += result.seconds
            stats.timeouts += result.timed_out
            lineage = result.lineage
            if cache is not None:
                cache.put(sql, dialect, tables, schemas, result)
    stats.unknown += lineage.status == "unknown"
    stats.partial += lineage.status == "partial"
    return lineage


def _is_python(node: Node) -> bool:
    return bool((node.file_path or "").endswith(".py") or "def model(" in (node.raw_sql or ""))


def model_schema(node: Node, lineage: ModelLineage, dialect: str) -> dict[str, str | None]:
    """Output columns of a model: its lineage's column list with the best type known."""
    declared = {name: normalize_type(c.data_type, dialect) for name, c in node.columns.items()}
    if not lineage.columns:
        if not declared:
            return {}
        return declared if node.contract_enforced else {**declared, "*": None}
    schema: dict[str, str | None] = {}
    for name in lineage.columns:
        inferred = normalize_type(lineage.types.get(name), dialect)
        contract = declared.get(name) if node.contract_enforced else None
        schema[name] = contract or inferred or declared.get(name)
    if "*" in lineage.unknown_columns:
        schema["*"] = None
    return schema


def seed_schema(node: Node, dialect: str, stats: LineageStats | None = None) -> dict[str, str | None]:
    """Columns of a seed from its CSV header; declared columns when the file is missing."""
    header = _csv_header(node.seed_path) if node.seed_path else None
    if header is None:
        return {n: normalize_type(node.seed_column_types.get(n) or c.data_type, dialect)
                for n, c in node.columns.items()}
    declared = {n: c.data_type for n, c in node.columns.items()}
    types = {n: node.seed_column_types.get(n) or declared.get(n) for n in header}
    if any(t is None for t in types.values()):
        sniffed = _sniff(node.seed_path, stats)
        types = {n: t or sniffed.get(n) for n, t in types.items()}
    return {n: normalize_type(t, dialect) for n, t in types.items()}


def _csv_header(path: str) -> list[str] | None:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            row = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if row is None:
        return None
    return [c.strip().lower() for c in row]


# DuckDB type family -> the type dbt's default seed loader gives it
_SEED_TYPES = {
    "TINYINT": "integer", "SMALLINT": "integer", "INTEGER": "integer", "BIGINT": "integer", "HUGEINT": "integer",
    "UTINYINT": "integer", "USMALLINT": "integer", "UINTEGER": "integer", "UBIGINT": "integer",
    "FLOAT": "float8", "DOUBLE": "float8", "BOOLEAN": "boolean", "DATE": "date", "TIME": "time",
    "TIMESTAMP": "timestamp", "VARCHAR": "text",
}
_sniffed: dict[tuple[str, int, int], dict[str, str]] = {}
_sniff_lock = threading.Lock()
_duckdb: list = []  # one in-memory connection per process, made on first use


def _sniff(path: str, stats: LineageStats | None) -> dict[str, str]:
    """Column types of a CSV as DuckDB's sniffer sees them (memoised by path, mtime, size).

    About 4 ms a seed (plus ~100 ms once per process to start DuckDB)."""
    try:
        info = os.stat(path)
    except OSError:
        return {}
    memo = (os.path.abspath(path), info.st_mtime_ns, info.st_size)
    with _sniff_lock:
        if memo in _sniffed:
            return _sniffed[memo]
        try:
            if not _duckdb:
                import duckdb

                _duckdb.append(duckdb.connect(":memory:"))
            rows = _duckdb[0].execute("DESCRIBE SELECT * FROM read_csv(?, header = true)", [path]).fetchall()
        except Exception:  # noqa: BLE001 - sniffing is a nicety: no types rather than no analysis
            rows = []
        out = {}
        for name, dtype, *_ in rows:
            base = str(dtype).split("(")[0].upper()
            out[str(name).lower()] = _SEED_TYPES.get(base, "float8" if base == "DECIMAL" else "text")
        _sniffed[memo] = out
        if stats is not None:
            stats.seeds_sniffed += 1
        return out


@lru_cache(maxsize=8192)
def normalize_type(text: str | None, dialect: str) -> str | None:
    """A type as sqlglot writes it in ``dialect`` (``integer`` -> ``INT``); text kept if unparsable."""
    if not text or not str(text).strip():
        return None
    try:
        return exp.DataType.build(str(text), dialect=dialect).sql(dialect=dialect)
    except Exception:  # noqa: BLE001 - odd vendor types stay as written
        return str(text).strip()
