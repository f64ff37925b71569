"""The records of the lineage cache and the per-project packs they are read from and written to.

:class:`RecordPacks` is the part of :class:`~analysis.lineage.cache.LineageCache` that holds
:class:`~analysis.lineage.packs.Record` s in memory by key, reads a project's pack once
(its records join memory), finds the records a pack holds for a node, and writes a pack
when it gains records (keeping a few earlier ones per node: base and head both stay). It
remembers each project's last packs (``packs/recent/``, sealed): when one of a project's models
changes, the project's pack has a new name, and the records of its unchanged models are read
from its previous packs (one file each) instead of from a file per model.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter

from analysis.lineage.packs import Record, read_pack, write_pack
from analysis.store import gc_paused, touch

_ADDRESS = re.compile(r"[0-9a-f]{16,128}")

#: records kept per node in a pack (e.g. one against the base, one against the head)
PACK_VARIANTS = 3
#: packs remembered per project: where a project whose own pack is missing (one of its models
#: changed) finds the records of its unchanged models
RECENT = 3


class RecordPacks:
    """Records by key, and packs by address. Expects the attributes
    :class:`~analysis.lineage.cache.LineageCache` sets (``directory``, ``_sealer``, ``stats``,
    ``_reads``) and its ``_count``."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}
        #: pack address -> its entries on disk (read or written by this object); [] when missing
        self._packs: dict[str, list[tuple[str, Record]]] = {}
        self._by_node: dict[str, dict[str, list[Record]]] = {}

    def record(self, key: str) -> Record | None:
        """The record under ``key`` from memory or a pack read before; counts the hit."""
        record = self._records.get(key)
        if record is not None:
            self.took(record)
        return record

    def took(self, record: Record) -> None:
        """Count a hit on ``record`` (from disk the first time it is used)."""
        self._count(record.origin == "disk")
        record.origin = "used"

    def keep(self, record: Record) -> None:
        self._records.setdefault(record.key, record)
        if record.reads is not None and record.sql_key:
            self._reads.setdefault(record.sql_key, record.reads)

    def load_pack(self, address: str) -> None:
        """Read the pack ``address`` once; its records join memory."""
        if address in self._packs or self.directory is None:
            return
        path = self._pack_path(address)
        with gc_paused():
            entries = read_pack(path, self._sealer)
        if entries is None:
            self._packs[address] = []
            if os.path.exists(path):
                self.stats.corrupt += 1
            return
        self._packs[address] = entries
        self.stats.packs_read += 1
        touch(path)  # used now: the cache trims what was used longest ago
        for _, record in entries:
            self.keep(record)

    def pack_records(self, address: str, node_id: str) -> list[Record]:
        """The records the pack ``address`` (read or written before) holds for ``node_id``."""
        by_node = self._by_node.get(address)
        if by_node is None:
            by_node = self._by_node[address] = {}
            for entry_node, record in self._packs.get(address) or ():
                by_node.setdefault(entry_node, []).append(record)
        return by_node.get(node_id, [])

    def has_pack(self, address: str) -> bool:
        """Whether the pack ``address``, read before, holds any record."""
        return bool(self._packs.get(address))

    def load_recent(self, project: str, skip: str = "") -> None:
        """Read the packs written last for ``project`` (but ``skip``): their records join memory,
        and each still answers only under its own key (the node's content and its inputs)."""
        for address in self._recent(project):
            if address != skip:
                self.load_pack(address)

    def store_pack(self, address: str, records: list[tuple[str, Record]], project: str | None = None) -> None:
        """Make the pack ``address`` hold ``records``: written when it has records the file
        lacks, keeping up to :data:`PACK_VARIANTS` earlier records per node (a project's
        records against the base and against the head both stay); ``project`` then remembers
        it among its :data:`RECENT` packs."""
        if self.directory is None:
            return
        before = self._packs.get(address) or []
        known = {r.key for _, r in before}
        if all(r.key in known for _, r in records):
            return
        merged = list(records)
        keys = {r.key for _, r in records}
        per_node = Counter(n for n, _ in records)
        for node_id, record in before:
            if record.key not in keys and per_node[node_id] < PACK_VARIANTS:
                merged.append((node_id, record))
                keys.add(record.key)
                per_node[node_id] += 1
        if write_pack(self._pack_path(address), merged, self._sealer):
            self._packs[address] = merged
            self._by_node.pop(address, None)
            self.stats.packs_written += 1
            if project:
                self._remember(project, address)
        else:
            self.stats.write_errors += 1

    def _recent_path(self, project: str) -> str:
        return os.path.join(self.directory, "packs", "recent", hashlib.sha256(project.encode()).hexdigest()[:32] + ".json")

    def _recent(self, project: str) -> list[str]:
        if self.directory is None:
            return []
        try:
            raw = self._sealer.read(self._recent_path(project))
            found = json.loads(raw) if raw is not None else []
        except (OSError, ValueError):
            return []
        if not isinstance(found, list):
            return []
        return [a for a in found if isinstance(a, str) and _ADDRESS.fullmatch(a)][:RECENT]

    def _remember(self, project: str, address: str) -> None:
        recent = [address] + [a for a in self._recent(project) if a != address]
        try:
            self._sealer.write(self._recent_path(project), json.dumps(recent[:RECENT]).encode())
        except OSError:
            self.stats.write_errors += 1

    def _pack_path(self, address: str) -> str:
        return os.path.join(self.directory, "packs", address[:2], address + ".jsonl")
