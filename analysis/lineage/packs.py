"""Records of a node's schema and lineage, and *packs*: one file holding a project's records.

A :class:`Record` is what :func:`analysis.lineage.meshlineage.mesh_lineage` knows of one node once it is
done: its output schema, the schema's fingerprint, and (for models) its column lineage. It
is addressed by a key that covers everything the result depends on (the node's own
content and the fingerprints of the schemas it reads), so a record is valid wherever its key
is found. Its schema and lineage are decoded only when someone asks for them: a warm
analysis of a large mesh touches the keys of every node but the lineage of few.

A *pack* holds the records of every node of one project, in one file, so a warm run reads
one file per project instead of one per model. Its name is the hash of the project's node
contents; records inside are still checked one by one against their keys, so a pack found
for a project whose upstream changed still serves every record whose inputs did not.

File layout (JSON lines): line 0 is the index ``{"format", "size", "entries": [[node, key,
fp, status, sql_key, reads, inputs, schema start, schema end, lineage end], ...]}``; then, for each
entry, a line with its schema (``[[column, type], ...]``) and a line with its lineage
(:func:`lineage_to_json`, or ``null``), at the byte offsets the index gives, so a reader
decodes the index alone and slices out the few records it needs. Written atomically (temp
file + ``os.replace``); a damaged or truncated pack (``size`` differs) is ignored. With a
:class:`~analysis.store.Sealer` the pack ends with its seal, checked over the whole file
when it is read (a pack changed by anything but meshdiff reads as missing).
"""
from __future__ import annotations

import hashlib
import json
import mmap
import os
from collections.abc import Iterable

from analysis.lineage.columns import ColumnRef, ModelLineage, Upstream
from analysis.store import write_atomically

FORMAT = 3
#: version of the JSON form of a lineage (:func:`lineage_to_json`)
LINEAGE_FORMAT = 1


def schema_fingerprint(schema) -> str:
    """Hash of an ordered schema (column -> type); equal schemas, equal fingerprints."""
    blob = json.dumps([[c, t] for c, t in schema.items()] if schema else [], separators=(",", ":"),
                      ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


EMPTY_FINGERPRINT = schema_fingerprint({})


class Record:
    """One node's result; ``schema`` and ``lineage(node_id)`` decode on first use.

    The raw forms are JSON bytes, or ``(buffer, start, end)``: a slice of a pack file's
    content (memory-mapped: the file may be replaced on disk, the mapping keeps what was
    read), copied out only when decoded or written again."""

    __slots__ = ("key", "fingerprint", "status", "sql_key", "reads", "inputs", "_schema", "_schema_raw",
                 "_lineage", "_lineage_raw", "origin")

    def __init__(self, key: str, fingerprint: str, status: str | None, *, sql_key: str | None = None,
                 reads: list | None = None, schema: dict | None = None,
                 lineage: ModelLineage | None = None, schema_raw=None, lineage_raw=None,
                 origin: str = "new", inputs: list[tuple] | None = None) -> None:
        self.key = key
        self.fingerprint = fingerprint
        self.status = status
        self.sql_key = sql_key
        self.reads = reads
        #: a model's tables as they resolved, with the schema fingerprints it was traced against
        #: (:func:`analysis.lineage.cache.table_inputs`)
        self.inputs = inputs
        self._schema = schema
        self._schema_raw = schema_raw
        self._lineage = lineage
        self._lineage_raw = lineage_raw
        #: "new" (computed in this process), "disk" (from a pack file), or "used" (seen before)
        self.origin = origin

    @property
    def schema(self) -> dict[str, str | None]:
        if self._schema is None:
            self._schema = {str(c): (None if t is None else str(t)) for c, t in json.loads(self.schema_bytes())}
        return self._schema

    def lineage(self, node_id: str) -> ModelLineage | None:
        """The lineage under ``node_id`` (the same SQL may serve several nodes)."""
        if self._lineage is None:
            raw = self.lineage_bytes()
            if raw == b"null":
                return None
            self._lineage = lineage_from_json(json.loads(raw), node_id)
        if self._lineage.node != node_id:
            return lineage_from_json(json.loads(self.lineage_bytes()), node_id)
        return self._lineage

    def schema_bytes(self) -> bytes:
        if self._schema_raw is None:
            self._schema_raw = _dumps([[c, t] for c, t in (self._schema or {}).items()])
        return _bytes(self._schema_raw)

    def lineage_bytes(self) -> bytes:
        if self._lineage_raw is None:
            self._lineage_raw = _dumps(lineage_to_json(self._lineage)) if self._lineage is not None else b"null"
        return _bytes(self._lineage_raw)


def _bytes(raw) -> bytes:
    if type(raw) is tuple:
        buffer, start, end = raw
        return buffer[start:end]
    return raw


def pack_address(project: str, own_keys: Iterable[tuple[str, str]]) -> str:
    """Name of the pack of ``project`` whose nodes have these (node id, own key) pairs."""
    digest = hashlib.sha256(f"meshdiff-pack-{FORMAT}\0{project}\0".encode())
    for node_id, key in sorted(own_keys):
        digest.update(f"{node_id}\0{key}\n".encode())
    return digest.hexdigest()


def digest_address(project: str, digest: str, *, dialect: str, algorithm: str, catalog: list) -> str:
    """Name of the pack of ``project`` by its content digest (:attr:`analysis.dbt.nodes.Project.digest`),
    with what else its records depend on: the dialect, the lineage algorithm, catalog entries."""
    text = f"meshdiff-pack-{FORMAT}\0digest\0{project}\0{digest}\0{dialect}\0{algorithm}\0{catalog!r}"
    return hashlib.sha256(text.encode()).hexdigest()


def read_pack(path: str, sealer=None) -> list[tuple[str, Record]] | None:
    """(node id, record) pairs of the pack at ``path``; ``None`` when missing, damaged or (with
    ``sealer``) not validly sealed.

    Only the index is decoded; each record keeps a span of the file's (mapped) content."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            # mapped, not read: a run touches the index and a few records of a large file
            content = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        if sealer is not None:
            if sealer.open(path, content) is None:
                return None
            size -= sealer.trailer_size
        end = content.find(b"\n")
        index = json.loads(content[:end] if end >= 0 else content[:size])
        if not isinstance(index, dict) or index.get("format") != FORMAT or index.get("size") != size:
            return None
        out = []
        for node_id, key, fp, status, sql_key, reads, inputs, s0, s1, l1 in index["entries"]:
            out.append((str(node_id), Record(
                str(key), str(fp), status, sql_key=sql_key, reads=reads,
                inputs=[(tuple(k), n, x) for k, n, x in inputs] if inputs is not None else None,
                schema_raw=(content, s0, s1), lineage_raw=(content, s1 + 1, l1), origin="disk")))
        return out
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def write_pack(path: str, records: list[tuple[str, Record]], sealer=None) -> bool:
    """Write ``records`` as a pack at ``path`` (atomically, sealed with ``sealer`` when given);
    ``False`` when it cannot be written."""
    body: list[bytes] = []
    spans = []
    offset = 0  # from the end of the index line
    for _, record in records:
        schema, lineage = record.schema_bytes(), record.lineage_bytes()
        spans.append((offset, offset + len(schema), offset + len(schema) + 1 + len(lineage)))
        body += [schema, lineage]
        offset += len(schema) + len(lineage) + 2
    rows = [[node_id, r.key, r.fingerprint, r.status, r.sql_key, r.reads,
             [[list(k), n, x] for k, n, x in r.inputs] if r.inputs is not None else None] for node_id, r in records]
    text = b"\n".join(body)
    # the index gives absolute offsets, so its own length must be known: iterate to a fixed point
    base = 0
    while True:
        index = _dumps({"format": FORMAT, "size": base + 1 + len(text) if text else base,
                        "entries": [row + [base + 1 + a, base + 1 + b, base + 1 + c]
                                    for row, (a, b, c) in zip(rows, spans)]})
        if len(index) == base:
            break
        base = len(index)
    data = index + (b"\n" + text if text else b"")
    try:
        write_atomically(path, sealer.seal(path, data) if sealer is not None else data)
    except OSError:
        return False
    return True


def lineage_to_json(lineage: ModelLineage) -> dict:
    """Plain JSON form of a :class:`ModelLineage` (column order kept)."""
    return {
        "format": LINEAGE_FORMAT,
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
        "referenced": sorted([r.node, r.column] for r in lineage.referenced),
        "spellings": None if lineage.spellings is None else sorted(lineage.spellings.items()),
    }


def lineage_from_json(data: dict, node_id: str | None = None) -> ModelLineage:
    """Inverse of :func:`lineage_to_json`; ``node_id`` replaces the stored node (same SQL,
    another node). Raises ``KeyError``/``TypeError``/``ValueError`` on a malformed record."""
    if data.get("format") != LINEAGE_FORMAT:
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
        referenced=frozenset(ColumnRef(str(n), str(c)) for n, c in data["referenced"]),
        spellings=None if data.get("spellings") is None else {str(k): str(v) for k, v in data["spellings"]},
    )


def _kind(kind: str) -> str:
    if kind not in ("passthrough", "renamed", "derived"):
        raise ValueError(f"bad kind {kind!r}")
    return kind


def _dumps(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
