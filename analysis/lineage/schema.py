"""The output columns of every kind of node, without a warehouse.

Each node's output columns (ordered, name -> type or ``None``) come from:

- seeds: the CSV header (read with :mod:`csv`); types from ``column_types``, else sniffed
  with DuckDB's CSV reader and mapped to the types dbt gives seeds (``integer``, ``float8``,
  ``text``, ``date``, ``timestamp``, ``boolean``, ``time``);
- sources: a source read from a file of the checkout (dbt-duckdb ``external_location`` such as
  ``read_csv('data/x.csv', ...)``, ``read_parquet(...)`` or a quoted path): the file's columns
  (:func:`file_schema`: the CSV header, or ``names``/``columns`` options; the Parquet schema),
  read by meshdiff itself; else declared ``columns`` (and their ``data_type``); none declared
  -> unknown (``{}``);
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
from analysis.dbt import Node


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


def source_schema(node: Node, dialect: str, stats=None) -> dict[str, str | None]:
    """Columns of a source: the file it reads when that is a file of the checkout
    (:attr:`Node.location_path`), else its declared columns. Declared types win over the file's."""
    declared = {n: normalize_type(c.data_type, dialect) for n, c in node.columns.items()}
    if node.location_path and node.external_location:
        found = file_schema(node.location_path, node.external_location, stats)
        if found:
            return {n: declared.get(n) or normalize_type(t, dialect) for n, t in found.items()}
    return declared


_CSV_READERS = frozenset({"read_csv", "read_csv_auto"})
_PARQUET_READERS = frozenset({"read_parquet", "parquet_scan"})
_files: dict[tuple, dict[str, str] | None] = {}


def file_schema(path: str, location: str, stats=None) -> dict[str, str] | None:
    """Lower-cased columns -> DuckDB type of the CSV or Parquet file at ``path`` as the rendered
    ``location`` reads it; ``None`` when the reader or its options are not understood.

    Only ``path`` (already checked to be inside the checkout) is opened, as a bound parameter:
    the location's text is parsed, never run. CSV: ``header``, ``delim``/``sep``, ``names``/
    ``column_names`` (the first names) and ``columns`` (names and types) are honoured; any
    other option that changes the columns (``normalize_names``, ``union_by_name``,
    ``filename``...) makes the answer ``None``."""
    reader = _reader(location, path)
    if reader is None:
        return None
    kind, options = reader
    try:
        info = os.stat(path)
    except OSError:
        return None
    memo = (os.path.abspath(path), info.st_mtime_ns, info.st_size, kind, repr(sorted(options.items())))
    with _sniff_lock:
        if memo not in _files:
            _files[memo] = _describe(path, kind, options)
            if stats is not None:
                stats.seeds_sniffed += 1
        return _files[memo]


_SAFE_CSV_OPTIONS = frozenset({"header", "delim", "sep", "names", "column_names", "columns", "auto_detect",
                               "quote", "escape", "dateformat", "timestampformat", "sample_size", "all_varchar",
                               "compression", "skip", "ignore_errors", "null_padding", "new_line", "nullstr",
                               "types", "dtypes", "decimal_separator", "max_line_size", "parallel"})
_SAFE_PARQUET_OPTIONS = frozenset({"binary_as_string", "file_row_number"})


def _reader(location: str, path: str) -> tuple[str, dict] | None:
    """(``csv``/``parquet``, options) of a rendered location; ``None`` when not one of those."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    text = location.strip()
    if text.startswith("'"):
        low = path.lower()
        if low.endswith((".csv", ".tsv", ".csv.gz", ".tsv.gz")):
            return "csv", {}
        return ("parquet", {}) if low.endswith(".parquet") else None
    try:
        table = sqlglot.parse_one(f"SELECT * FROM {text}", read="duckdb").find(exp.Table)
    except SqlglotError:
        return None
    func = table.this if table is not None else None
    if not isinstance(func, exp.Func):
        return None
    name = (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()
    kind = "csv" if name in _CSV_READERS else "parquet" if name in _PARQUET_READERS else None
    if kind is None:
        return None
    options: dict = {}
    args = list(func.expressions)
    if args and isinstance(args[0], exp.Literal) and args[0].is_string:
        args = args[1:]  # the path (read_parquet, anonymous readers); read_csv keeps it in `this`
    for arg in args:
        if not isinstance(arg, (exp.EQ, exp.PropertyEQ)) or not isinstance(arg.this, (exp.Column, exp.Identifier)):
            return None
        key = arg.this.name.lower()
        if key not in (_SAFE_CSV_OPTIONS if kind == "csv" else _SAFE_PARQUET_OPTIONS):
            return None
        value = arg.expression
        if key in ("names", "column_names"):
            if not isinstance(value, exp.Array) or not all(isinstance(v, exp.Literal) and v.is_string
                                                           for v in value.expressions):
                return None
            options["names"] = tuple(v.name for v in value.expressions)
        elif key in ("columns", "types", "dtypes"):
            if not isinstance(value, exp.Struct) or key != "columns":
                return None  # a struct of names, or types by position: kept simple
            pairs = []
            for item in value.expressions:
                if not isinstance(item, exp.PropertyEQ) or not isinstance(item.expression, exp.Literal):
                    return None
                pairs.append((item.this.name, item.expression.name))
            options["columns"] = tuple(pairs)
        elif key == "header":
            if not isinstance(value, exp.Boolean):
                return None
            options["header"] = bool(value.this)
        elif key in ("delim", "sep"):
            if not isinstance(value, exp.Literal) or not value.is_string or len(value.name) != 1:
                return None
            options["delim"] = value.name
    return kind, options


def _describe(path: str, kind: str, options: dict) -> dict[str, str] | None:
    if "columns" in options:
        return {n.lower(): t for n, t in options["columns"]}
    try:
        if not _duckdb:
            import duckdb

            _duckdb.append(duckdb.connect(":memory:"))
        if kind == "parquet":
            rows = _duckdb[0].execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
        else:
            args = ["?"]
            params: list = [path]
            if "header" in options:
                args.append("header = ?")
                params.append(options["header"])
            if "delim" in options:
                args.append("delim = ?")
                params.append(options["delim"])
            rows = _duckdb[0].execute(f"DESCRIBE SELECT * FROM read_csv({', '.join(args)})", params).fetchall()
    except _errors.INTERRUPTS:
        raise
    except Exception:  # noqa: BLE001 - an unreadable file: no schema, as before
        return None
    columns = [(str(name), str(dtype)) for name, dtype, *_ in rows]
    names = options.get("names") or ()
    columns = [(names[i] if i < len(names) else n, t) for i, (n, t) in enumerate(columns)]
    return {n.lower(): t for n, t in columns}


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
