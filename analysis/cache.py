"""Content-addressed cache of model lineage: an unchanged model is never parsed again.

Two records, both keyed by content, both JSON (never pickle):

- ``reads/<sql key>``: the resolver keys the SQL looked up. The *sql key* is
  ``sha256(ALGORITHM_VERSION, dialect, compiled SQL)``; which tables a SQL text names depends
  on nothing else, so this record never goes stale.
- ``lineage/<full key>``: the :class:`ModelLineage`. The *full key* is ``sha256(sql key,
  [(resolver key, node id it resolves to now, that node's ordered columns and types)])``:
  it changes when the SQL, the dialect, the algorithm, the binding of a table or the schema
  of a table the SQL reads changes, and for nothing else.

On a warm run the reads record is re-resolved against the current mesh with dict lookups
(no parsing) to compute the full key. Two layers: an in-memory dict, then a directory
(one file per key, written atomically via a temp file and ``os.replace``; default
``$MESHDIFF_CACHE_DIR/lineage`` or ``~/.cache/meshdiff/lineage``). A corrupt or unreadable
file is ignored (counted in :attr:`CacheStats.corrupt`) and rewritten. Results of a time-out
are not stored: a slow machine must not turn a model into "unknown" for good.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from analysis.columns import ColumnRef, ModelLineage, Upstream
from analysis.lineage import ALGORITHM_VERSION, Analysis
from analysis.relations import TableKey, TableResolver

_FORMAT = 1


def default_cache_dir() -> str:
    """``$MESHDIFF_CACHE_DIR/lineage``, else ``~/.cache/meshdiff/lineage``."""
    root = os.environ.get("MESHDIFF_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "meshdiff")
    return os.path.join(root, "lineage")


@dataclass
class CacheStats:
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    writes: int = 0
    corrupt: int = 0
    write_errors: int = 0

    @property
    def hits(self) -> int:
        return self.memory_hits + self.disk_hits


def sql_key(sql: str, dialect: str) -> str:
    return hashlib.sha256(f"{ALGORITHM_VERSION}\0{dialect}\0{sql}".encode()).hexdigest()


def full_key(key: str, reads: list[TableKey], tables: TableResolver,
             schemas: Mapping[str, Mapping[str, str | None]]) -> str:
    """Key of the lineage of SQL ``key`` given how its tables resolve now and their schemas."""
    inputs = []
    for table_key in reads:
        node = tables.lookup(tuple(table_key))
        if node is None:  # why it is unresolved is part of the lineage's reason
            inputs.append([list(table_key), None, tables.why_unresolved(tuple(table_key))])
            continue
        schema = schemas.get(node)
        inputs.append([list(table_key), node, [[c, t] for c, t in schema.items()] if schema else None])
    blob = json.dumps([key, inputs], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class LineageCache:
    """Memory + directory cache of :class:`ModelLineage` (see the module docstring).

    ``directory=None`` uses :func:`default_cache_dir`; ``persist=False`` keeps memory only.
    """

    def __init__(self, directory: str | None = None, *, persist: bool = True) -> None:
        self.directory = (directory or default_cache_dir()) if persist else None
        self.stats = CacheStats()
        self._reads: dict[str, list[TableKey]] = {}
        self._values: dict[str, dict] = {}

    # -- public ---------------------------------------------------------------------------
    def get(self, node_id: str, sql: str, dialect: str, tables: TableResolver,
            schemas: Mapping[str, Mapping[str, str | None]]) -> ModelLineage | None:
        """The cached lineage of this SQL in this mesh, or ``None`` (a miss)."""
        key = sql_key(sql, dialect)
        reads = self._reads.get(key)
        from_disk = reads is None
        if reads is None:
            data = self._load("reads", key)
            if isinstance(data, dict) and isinstance(data.get("reads"), list):
                reads = [tuple(k) for k in data["reads"]]
                self._reads[key] = reads
        if reads is None:
            self.stats.misses += 1
            return None
        full = full_key(key, reads, tables, schemas)
        value = self._values.get(full)
        if value is None:
            from_disk = True
            data = self._load("lineage", full)
            if isinstance(data, dict):
                value = data
        if value is not None:
            try:
                lineage = lineage_from_json(value, node_id)
            except (KeyError, TypeError, ValueError):
                self.stats.corrupt += 1
                lineage = None
            if lineage is not None:
                self._values[full] = value
                if from_disk:
                    self.stats.disk_hits += 1
                else:
                    self.stats.memory_hits += 1
                return lineage
        self.stats.misses += 1
        return None

    def put(self, sql: str, dialect: str, tables: TableResolver,
            schemas: Mapping[str, Mapping[str, str | None]], analysis: Analysis) -> None:
        """Store ``analysis`` (unless it timed out) for this SQL, mesh bindings and schemas."""
        if analysis.timed_out:
            return
        key = sql_key(sql, dialect)
        reads = [tuple(k) for k in dict.fromkeys(tuple(k) for k in analysis.lookups)]
        if self._reads.get(key) != reads:
            self._reads[key] = reads
            self._store("reads", key, {"format": _FORMAT, "reads": [list(k) for k in reads]})
        full = full_key(key, reads, tables, schemas)
        value = lineage_to_json(analysis.lineage)
        self._values[full] = value
        self._store("lineage", full, value)

    # -- files ----------------------------------------------------------------------------
    def _path(self, kind: str, key: str) -> str:
        return os.path.join(self.directory, kind, key[:2], key + ".json")

    def _load(self, kind: str, key: str):
        if self.directory is None:
            return None
        try:
            with open(self._path(kind, key), encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            self.stats.corrupt += 1
            return None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            self.stats.corrupt += 1
            return None
        return data

    def _store(self, kind: str, key: str, data: dict) -> None:
        if self.directory is None:
            return
        path = self._path(kind, key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle, separators=(",", ":"), ensure_ascii=False)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
            self.stats.writes += 1
        except OSError:
            self.stats.write_errors += 1  # a read-only cache dir degrades to memory only


def lineage_to_json(lineage: ModelLineage) -> dict:
    """Plain JSON form of a :class:`ModelLineage` (column order kept)."""
    return {
        "format": _FORMAT,
        "node": lineage.node,
        "columns": [[name, [[u.ref.node, u.ref.column, u.kind] for u in ups]] for name, ups in lineage.columns.items()],
        "row_shaping": sorted([r.node, r.column] for r in lineage.row_shaping),
        "fingerprints": lineage.fingerprints,
        "shape_fingerprint": lineage.shape_fingerprint,
        "types": [[name, t] for name, t in lineage.types.items()],
        "status": lineage.status,
        "reason": lineage.reason,
        "unknown_columns": sorted(lineage.unknown_columns),
        "unresolved_tables": list(lineage.unresolved_tables),
    }


def lineage_from_json(data: dict, node_id: str | None = None) -> ModelLineage:
    """Inverse of :func:`lineage_to_json`; ``node_id`` replaces the stored node (same SQL,
    another node). Raises ``KeyError``/``TypeError``/``ValueError`` on a malformed record."""
    if data.get("format") != _FORMAT:
        raise ValueError("unknown cache format")
    if data["status"] not in ("ok", "partial", "unknown"):
        raise ValueError("bad status")
    columns = {}
    for name, ups in data["columns"]:
        columns[str(name)] = tuple(Upstream(ColumnRef(str(n), str(c)), _kind(k)) for n, c, k in ups)
    stored = data["node"]
    node = node_id or stored
    reason = data["reason"]
    if reason and node != stored:
        reason = reason.replace(stored, node)
    return ModelLineage(
        node=node,
        columns=columns,
        row_shaping=frozenset(ColumnRef(str(n), str(c)) for n, c in data["row_shaping"]),
        fingerprints={str(k): str(v) for k, v in dict(data["fingerprints"]).items()},
        shape_fingerprint=str(data["shape_fingerprint"]),
        types={str(k): (None if t is None else str(t)) for k, t in data["types"]},
        status=data["status"],
        reason=reason,
        unknown_columns=frozenset(str(c) for c in data["unknown_columns"]),
        unresolved_tables=tuple(str(t) for t in data["unresolved_tables"]),
    )


def _kind(kind: str) -> str:
    if kind not in ("passthrough", "renamed", "derived"):
        raise ValueError(f"bad kind {kind!r}")
    return kind
