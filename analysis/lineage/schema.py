"""The output columns of every kind of node, without a warehouse.

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
sqlglot in the node's dialect (``integer`` -> ``INT``). :mod:`analysis.lineage.meshlineage` applies
these to a whole mesh, upstream first.
"""
from __future__ import annotations

import csv
import os
import threading
from functools import lru_cache

from sqlglot import exp

from analysis import errors as _errors
from analysis.lineage.columns import ModelLineage
from analysis.dbt.nodes import Node


def is_python(node: Node) -> bool:
    """A Python model (its lineage is not analysed)."""
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


def seed_schema(node: Node, dialect: str, stats=None) -> dict[str, str | None]:
    """Columns of a seed from its CSV header; declared columns when the file is missing."""
    header = csv_header(node.seed_path) if node.seed_path else None
    if header is None:
        return {n: normalize_type(node.seed_column_types.get(n) or c.data_type, dialect)
                for n, c in node.columns.items()}
    declared = {n: c.data_type for n, c in node.columns.items()}
    types = {n: node.seed_column_types.get(n) or declared.get(n) for n in header}
    if any(t is None for t in types.values()):
        sniffed = _sniff(node.seed_path, stats)
        types = {n: t or sniffed.get(n) for n, t in types.items()}
    return {n: normalize_type(t, dialect) for n, t in types.items()}


def csv_header(path: str) -> list[str] | None:
    """Lower-cased column names of a CSV's first row; ``None`` when it cannot be read."""
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


def _sniff(path: str, stats) -> dict[str, str]:
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
        except _errors.INTERRUPTS:
            raise
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
    except _errors.INTERRUPTS:
        raise
    except Exception:  # noqa: BLE001 - odd vendor types stay as written
        return str(text).strip()
