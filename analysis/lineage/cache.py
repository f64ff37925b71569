"""Content-addressed cache of model lineage: an unchanged model is never parsed again.

Keys (all content hashes):

- *sql key* ``sha256(ALGORITHM_VERSION, dialect, compiled SQL)``: which tables a SQL text
  names depends on nothing else, so the resolver keys the SQL looked up never go stale;
- *lineage key* ``sha256(sql key, [(resolver key, node id it resolves to now, fingerprint of
  that node's schema)])``: it changes when the SQL, the dialect, the algorithm, the binding
  of a table or the schema of a table the SQL reads changes, and for nothing else;
- *record key*: a lineage key plus what else the node's output schema depends on (its
  declared columns and contract, a catalog entry); :class:`analysis.lineage.packs.Record` s are
  stored by project in *packs* (:mod:`analysis.lineage.packs`), one file per project.

On a warm run a record's reads are re-resolved against the current mesh with dict lookups
(no parsing) to compute the keys. Two layers written: memory, and packs (one file per project,
read once; a project whose pack is missing reads its last packs, :mod:`analysis.lineage.recordpacks`),
under ``$MESHDIFF_CACHE_DIR/lineage`` or ``~/.cache/meshdiff/lineage``. Files of one record per
key (``reads/``, ``lineage/``), which earlier versions wrote, are still read. Every file is sealed
(:func:`analysis.store.sealer_for`, with the caller's key); a corrupt, unreadable or not
validly sealed file is ignored (counted in :attr:`CacheStats.corrupt`). Results of a time-out
are not stored: a slow machine must not turn a model into "unknown" for good. Never pickle.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from analysis.lineage.columns import ModelLineage
from analysis.store import cache_root, sealer_for
from analysis.lineage.trace import ALGORITHM_VERSION, Analysis
from analysis.lineage.packs import (
    LINEAGE_FORMAT,
    Record,
    lineage_from_json,
    lineage_to_json,
    schema_fingerprint,
)
from analysis.lineage.recordpacks import RecordPacks
from analysis.lineage.relations import TableKey, TableResolver

__all__ = ["LineageCache", "CacheStats", "sql_key", "lineage_key", "full_key", "table_inputs",
           "default_cache_dir", "lineage_to_json", "lineage_from_json"]


def default_cache_dir() -> str:
    """``$MESHDIFF_CACHE_DIR/lineage``, else ``~/.cache/meshdiff/lineage``."""
    return os.path.join(cache_root(), "lineage")


@dataclass
class CacheStats:
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0
    writes: int = 0
    corrupt: int = 0
    write_errors: int = 0
    packs_read: int = 0
    packs_written: int = 0

    @property
    def hits(self) -> int:
        return self.memory_hits + self.disk_hits


def sql_key(sql: str, dialect: str) -> str:
    return hashlib.sha256(f"{ALGORITHM_VERSION}\0{dialect}\0{sql}".encode()).hexdigest()


def table_inputs(reads: list[TableKey], tables: TableResolver, fingerprint_of) -> list[tuple]:
    """``[(resolver key, node id, schema fingerprint)]`` (``(key, None, why)`` when unresolved)."""
    out = []
    for table_key in reads:
        table_key = tuple(table_key)
        node = tables.lookup(table_key)
        if node is None:  # why it is unresolved is part of the lineage's reason
            out.append((table_key, None, tables.why_unresolved(table_key)))
        else:
            out.append((table_key, node, fingerprint_of(node)))
    return out


def lineage_key(key: str, inputs: list[tuple]) -> str:
    """Hash of a sql key and its :func:`table_inputs`."""
    parts = [key]
    for table_key, node, extra in inputs:
        parts.append("\x1f".join(table_key) + "\x1e" + (node or "") + "\x1e" + extra)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def full_key(key: str, reads: list[TableKey], tables: TableResolver,
             schemas: Mapping[str, Mapping[str, str | None]]) -> str:
    """Lineage key of SQL ``key`` given how its tables resolve now and their schemas."""
    return lineage_key(key, table_inputs(reads, tables, lambda n: schema_fingerprint(schemas.get(n))))


class LineageCache(RecordPacks):
    """Memory + packs + directory cache of lineage (see the module docstring). The records
    and packs are :class:`~analysis.lineage.recordpacks.RecordPacks`'; here the reads and
    lineage per SQL text, and the files.

    ``directory=None`` uses :func:`default_cache_dir`; ``persist=False`` keeps memory only;
    ``key`` seals the files (default: :func:`analysis.store.sealer_for`'s).
    """

    def __init__(self, directory: str | None = None, *, persist: bool = True, key: bytes | None = None) -> None:
        self.directory = (directory or default_cache_dir()) if persist else None
        self._sealer = sealer_for(self.directory, key) if self.directory else None
        self.stats = CacheStats()
        self._reads: dict[str, list[TableKey]] = {}
        self._values: dict[str, dict] = {}
        RecordPacks.__init__(self)
        #: memos of :func:`analysis.lineage.meshlineage.mesh_lineage` across the worlds of one analysis
        #: (which share unchanged node objects); never persisted
        self.memo: dict = {}

    # -- per SQL text and lineage key ------------------------------------------------------
    def reads(self, key: str) -> list[TableKey] | None:
        """The resolver keys SQL ``key`` looks up (``None``: never traced)."""
        reads = self._reads.get(key)
        if reads is None:
            data = self._load("reads", key)
            if isinstance(data, dict) and isinstance(data.get("reads"), list):
                reads = [tuple(k) for k in data["reads"]]
                self._reads[key] = reads
        return reads

    def lineage(self, key: str, node_id: str) -> ModelLineage | None:
        """The lineage stored under lineage ``key``, for ``node_id``; ``None`` on a miss."""
        value = self._values.get(key)
        from_disk = value is None
        if value is None:
            value = self._load("lineage", key)
        if isinstance(value, dict):
            try:
                lineage = lineage_from_json(value, node_id)
            except (KeyError, TypeError, ValueError):
                self.stats.corrupt += 1
            else:
                self._values[key] = value
                self._count(from_disk)
                return lineage
        self.stats.misses += 1
        return None

    def store(self, key: str, lineage_key_: str, analysis: Analysis) -> None:
        """Keep ``analysis`` of SQL ``key`` under ``lineage_key_`` (unless it timed out)."""
        if analysis.timed_out:
            return
        reads = [tuple(k) for k in dict.fromkeys(tuple(k) for k in analysis.lookups)]
        self._reads[key] = reads
        self._values[lineage_key_] = lineage_to_json(analysis.lineage)  # on disk through the packs

    def get(self, node_id: str, sql: str, dialect: str, tables: TableResolver,
            schemas: Mapping[str, Mapping[str, str | None]]) -> ModelLineage | None:
        """The cached lineage of this SQL in this mesh, or ``None`` (a miss)."""
        key = sql_key(sql, dialect)
        reads = self.reads(key)
        if reads is None:
            self.stats.misses += 1
            return None
        return self.lineage(full_key(key, reads, tables, schemas), node_id)

    def put(self, sql: str, dialect: str, tables: TableResolver,
            schemas: Mapping[str, Mapping[str, str | None]], analysis: Analysis) -> None:
        """Store ``analysis`` (unless it timed out) for this SQL, mesh bindings and schemas."""
        key = sql_key(sql, dialect)
        reads = [tuple(k) for k in dict.fromkeys(tuple(k) for k in analysis.lookups)]
        self.store(key, full_key(key, reads, tables, schemas), analysis)

    # -- files ----------------------------------------------------------------------------
    def _count(self, from_disk: bool) -> None:
        if from_disk:
            self.stats.disk_hits += 1
        else:
            self.stats.memory_hits += 1

    def _path(self, kind: str, key: str) -> str:
        return os.path.join(self.directory, kind, key[:2], key + ".json")

    def _load(self, kind: str, key: str):
        if self.directory is None:
            return None
        path = self._path(kind, key)
        try:
            raw = self._sealer.read(path)
            if raw is None:  # missing, or not sealed by meshdiff
                if os.path.lexists(path):
                    self.stats.corrupt += 1
                return None
            data = json.loads(raw)
        except (OSError, ValueError):
            self.stats.corrupt += 1
            return None
        if not isinstance(data, dict) or data.get("format") != LINEAGE_FORMAT:
            self.stats.corrupt += 1
            return None
        return data



