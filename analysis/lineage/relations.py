"""Which node of the mesh a table in compiled SQL reads.

dbt renders every ``ref``/``source`` as the node's ``relation_name``: ``"db"."schema"."name"``
(quoting per adapter, two or three parts, BigQuery with backticks), or, for dbt-duckdb
sources with an ``external_location``, the location itself: a table function such as
``read_csv('/abs/events.csv', header = true)`` or a quoted path ``'/abs/events.parquet'``.

:class:`TableResolver` is built once from all nodes of a mesh and answers with dict lookups:

- names match case-insensitively on (database, schema, name); a table written with fewer
  parts than the relation (no database, or a bare name) matches when exactly one node fits;
- table functions match on their canonical SQL text (sqlglot, DuckDB dialect), then on the
  path (the first string argument) when exactly one source reads that path;
- a key that fits several nodes resolves to nothing (:meth:`TableResolver.why_unresolved`
  says which nodes), unless the reader says which one it reads: dbt Labs' projects load a
  seed into the very table a source points at, and the model's ``depends_on`` names the one
  it reads (:meth:`TableResolver.for_reader`).

A :data:`TableKey` is a plain tuple of strings (JSON-friendly): the lineage cache stores the
keys a model looked up and re-resolves them on a warm run without parsing the SQL again.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache

import sqlglot
from sqlglot import exp

from analysis.dbt import Node

#: ("rel", database, schema, name) lower-cased, "" for a missing part;
#: ("fn", canonical call text); ("path", normalised path)
TableKey = tuple[str, ...]

_AMBIGUOUS = "\0ambiguous"

#: table functions that read files: an unmatched one is a table outside the mesh, not a generator
EXTERNAL_READERS = frozenset({
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
    "read_ndjson", "read_ndjson_auto", "read_json_objects", "read_xlsx", "read_text", "read_blob",
    "iceberg_scan", "delta_scan", "st_read", "sqlite_scan", "postgres_scan", "mysql_scan",
})

_QUOTES = {'"': '"', "`": "`", "[": "]"}


_PART = r'"([^"]*)"|`([^`]*)`|\[([^\]]*)\]|([^."`\[\]\s]+)'
#: a relation whose parts have no doubled quotes and no spaces: split with one regex
_SIMPLE = re.compile(rf"(?:{_PART})(?:\.(?:{_PART}))*")
_PARTS = re.compile(_PART)


def split_relation(text: str) -> list[str]:
    """Split ``"db"."schema"."name"`` (or backticks, brackets, unquoted) into its parts.

    A single backticked part holding dots (BigQuery ```project.dataset.table```) is split too.
    Quotes are removed; case is kept.
    """
    return list(_split(text))


@lru_cache(maxsize=65536)
def _split(text: str) -> tuple[str, ...]:
    if _SIMPLE.fullmatch(text):
        parts = [a or b or c or d for a, b, c, d in _PARTS.findall(text)]
        if len(parts) == 1 and text.startswith("`") and "." in parts[0]:
            parts = parts[0].split(".")
        return tuple(parts)
    return tuple(_split_slowly(text))


def _split_slowly(text: str) -> list[str]:
    parts: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    backticked_single = False
    while i < n:
        ch = text[i]
        if ch in _QUOTES:
            close = _QUOTES[ch]
            j = i + 1
            while j < n:
                if text[j] == close and j + 1 < n and text[j + 1] == close:  # doubled quote
                    buf.append(close)
                    j += 2
                    continue
                if text[j] == close:
                    break
                buf.append(text[j])
                j += 1
            backticked_single = ch == "`"
            i = j + 1
        elif ch == ".":
            parts.append("".join(buf))
            buf = []
            i += 1
        elif ch.isspace():
            i += 1
        else:
            buf.append(ch)
            i += 1
    parts.append("".join(buf))
    if len(parts) == 1 and backticked_single and "." in parts[0]:
        parts = parts[0].split(".")
    return parts


def _rel_key(parts: list[str]) -> TableKey:
    parts = [p.lower() for p in parts if p is not None]
    parts = [""] * (3 - len(parts)) + parts[-3:]
    return ("rel", *parts)


def _func_key(func: exp.Expression) -> TableKey:
    return ("fn", func.sql(dialect="duckdb", comments=False))


def _path_of(func: exp.Expression) -> str | None:
    literal = func.find(exp.Literal)
    if literal is not None and literal.is_string:
        return os.path.normpath(literal.name)
    return None


def _location_keys(text: str) -> list[TableKey]:
    """Keys under which a rendered ``external_location`` is found again in SQL."""
    text = text.strip()
    if "(" not in text:  # a quoted (or bare) path: DuckDB's replacement scan
        path = text[1:-1] if len(text) > 1 and text[0] == text[-1] == "'" else text
        return [_rel_key([path]), ("path", os.path.normpath(path))]
    try:
        table = sqlglot.parse_one(f"SELECT * FROM {text}", read="duckdb").find(exp.Table)
    except sqlglot.errors.SqlglotError:
        table = None
    if table is None or not isinstance(table.this, exp.Func):
        return [("text", " ".join(text.lower().split()))]
    keys = [_func_key(table.this)]
    path = _path_of(table.this)
    if path:
        keys.append(("path", path))
    return keys


@lru_cache(maxsize=65536)
def _text_keys(text: str, is_location: bool) -> tuple[TableKey, ...]:
    """Keys under which a node's ``relation_name`` (or ``external_location``) is found."""
    if "(" in text or text.strip().startswith("'") or is_location:
        return tuple(_location_keys(text))
    full = _rel_key(split_relation(text))
    return full, ("rel", "", full[2], full[3]), ("rel", "", "", full[3])


class TableResolver:
    """Maps table expressions of compiled SQL to node unique ids (see the module docstring)."""

    def __init__(self, entries: dict[TableKey, str]) -> None:
        #: every key -> node id (or the ambiguous marker); includes the shortened forms
        self._entries = entries

    @classmethod
    def from_nodes(cls, nodes: Iterable[Node]) -> TableResolver:
        """Index ``relation_name`` and ``external_location`` of every node."""
        claims: dict[TableKey, dict[str, bool]] = {}  # key -> {node id: injected}
        for node in nodes:
            for text in {node.relation_name, node.external_location}:
                if text:
                    for key in _text_keys(text, text == node.external_location):
                        bucket = claims.get(key)
                        if bucket is None:
                            claims[key] = {node.unique_id: node.injected}
                        else:
                            bucket[node.unique_id] = bucket.get(node.unique_id, True) and node.injected
        entries: dict[TableKey, str] = {}
        for key, bucket in claims.items():
            if len(bucket) == 1:
                entries[key] = next(iter(bucket))
                continue
            # a real node wins over dbt-loom skeletons of the same relation
            ids = sorted(i for i, injected in bucket.items() if not injected) or sorted(bucket)
            entries[key] = ids[0] if len(ids) == 1 else _AMBIGUOUS + "\0" + "\0".join(ids)
        return cls(entries)

    # -- keys ---------------------------------------------------------------------------
    @staticmethod
    def key_of(table: exp.Table) -> TableKey:
        """The lookup key of a table expression (pure; no mesh needed)."""
        this = table.this
        if isinstance(this, exp.Func):
            return _func_key(this)
        return _rel_key([table.catalog, table.db, table.name])

    @staticmethod
    def fallback_keys(table: exp.Table) -> list[TableKey]:
        """Weaker keys tried when :meth:`key_of` finds nothing (path of a file read)."""
        this = table.this
        if isinstance(this, exp.Func):
            path = _path_of(this)
            return [("path", path)] if path else []
        if not table.db:
            return [("path", os.path.normpath(table.name))] if table.name else []
        return []

    # -- lookups ------------------------------------------------------------------------
    def lookup(self, key: TableKey) -> str | None:
        """Node id for ``key``; ``None`` when no node or several nodes fit."""
        found = self._entry(key)
        if found is None or found.startswith(_AMBIGUOUS):
            return None
        return found

    def _entry(self, key: TableKey) -> str | None:
        found = self._entries.get(tuple(key))
        if found is None and key and key[0] == "rel":
            # fewer parts written than the relation has: try the shorter forms
            _, db_, schema, name = key
            if db_:
                found = self._entries.get(("rel", "", schema, name))
        return found

    def for_reader(self, depends_on) -> TableResolver:
        """This resolver as seen by a node that depends on ``depends_on``: a key several nodes
        fit resolves to the one among them the node depends on (one only; else still none)."""
        return _ReaderTables(self, frozenset(depends_on or ()))

    def resolve(self, table: exp.Table) -> tuple[str | None, list[TableKey]]:
        """Node id for ``table`` (first key that fits wins) and all its candidate keys.

        The keys depend on the SQL only, never on the mesh, so a cache can store them with
        the SQL and re-resolve them later (:mod:`analysis.lineage.cache`).
        """
        keys = [self.key_of(table), *self.fallback_keys(table)]
        for key in keys:
            found = self.lookup(key)
            if found is not None:
                return found, keys
        return None, keys

    def why_unresolved(self, key: TableKey) -> str:
        """Human explanation of a failed lookup: ambiguous (which nodes) or unknown."""
        found = self._entry(key)
        if found and found.startswith(_AMBIGUOUS):
            return ("matches several nodes and the model depends on none or several of them: "
                    + ", ".join(found.split("\0")[2:]))
        return "matches no node of the mesh"

    def __len__(self) -> int:
        return len(self._entries)


class _ReaderTables(TableResolver):
    """:meth:`TableResolver.for_reader`: ambiguous keys settled by the reader's ``depends_on``."""

    def __init__(self, tables: TableResolver, depends_on: frozenset[str]) -> None:
        super().__init__(tables._entries)
        self._depends_on = depends_on

    def lookup(self, key: TableKey) -> str | None:
        found = self._entry(key)
        if found is None:
            return None
        if found.startswith(_AMBIGUOUS):
            chosen = [i for i in found.split("\0")[2:] if i in self._depends_on]
            return chosen[0] if len(chosen) == 1 else None
        return found


def describe_table(table: exp.Table, dialect: str) -> str:
    """Short text of a table as written (no alias), for messages and ``unresolved_tables``."""
    if isinstance(table.this, exp.Func):
        return table.this.sql(dialect=dialect, comments=False)
    return ".".join(p for p in (table.catalog, table.db, table.name) if p)


def is_file_reader(table: exp.Table) -> bool:
    """True for a table function that reads files (``read_csv(...)``) or a quoted path."""
    this = table.this
    if isinstance(this, exp.Func):
        name = (this.sql_name() if not isinstance(this, exp.Anonymous) else this.name).lower()
        return name in EXTERNAL_READERS or name.startswith("read_")
    return bool(re.search(r"\.(csv|tsv|parquet|json|ndjson|jsonl|xlsx)(\.gz|\.zst)?$", table.name, re.I))
