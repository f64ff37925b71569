"""A compact copy of a parsed manifest, so the same ``manifest.json`` is parsed only once.

A dbt manifest is large (macros, tests, docs, raw and compiled code: ~16 MB for 1,000
models) and ``json.load`` of it dominates a warm analysis. What meshdiff keeps of it, the
:class:`~analysis.dbt.nodes.Project`, is a fraction of that. :class:`ProjectLoader` writes it as
a *snapshot* next to the manifest the first time and reads the snapshot afterwards.

- **Validity:** the snapshot records the manifest's size and modification time, the
  snapshot format and the list of :class:`~analysis.dbt.nodes.Node` fields; any difference and
  the manifest is parsed again (and the snapshot rewritten). meshdiff's manifests live in its
  content-addressed compile cache and never change in place.
- **Layout:** one JSON document per line: a header, then one line per node: the project's
  own nodes, then the dbt-loom skeletons grouped by the project that owns them. A skeleton
  whose owner is itself in the mesh is never used (the owner's manifest defines the node),
  so those lines are skipped without being decoded (``skip_injected``); last, one line per data
  test or unit test of the project (:class:`~analysis.dbt.nodes.DataTest`).
- **Digest:** the header carries a hash of the own node lines (:attr:`Project.digest`): the
  lineage cache finds a project's records by it, whichever compile produced the nodes.
- **Sharing:** a line already seen by the same :class:`ProjectLoader` gives the node built
  from it: the base and the head of a project, or a consumer compiled against both, share
  every unchanged node (and the analysis recognises them as unchanged by identity).
- **Paths:** seed CSV paths and the files of ``read_csv`` sources are stored relative to the
  project directory and joined with the ``project_dir`` of the load (a base checkout lives in a
  new temporary folder each run); a node with such a path is shared only within one folder.
- **Dropped noise:** raw code is kept only where it is used (no compiled code, a Python
  model, or a call of a macro that asks the warehouse: :data:`~analysis.dbt.nodes.WAREHOUSE_MACROS`); the checksum of a skeleton (it changes on every dbt invocation) is not kept.
- A snapshot that cannot be read is ignored; one that cannot be written (read-only folder)
  is skipped. Either way the nodes are those :func:`analysis.dbt.manifest.load_manifest` gives.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import fields

from analysis.store import gc_paused, write_atomically
from analysis.dbt.manifest import load_manifest
from analysis.dbt.paths import resolve_inside, seed_file
from analysis.dbt.nodes import WAREHOUSE_MACROS, DataTest, DeclaredColumn, Node, Project

FORMAT = 7  # 7: raw code of models calling a warehouse macro; 6: Node.unique_keys, Node.location_path
_FIELDS = tuple(f.name for f in fields(Node))
_TEST_FIELDS = tuple(f.name for f in fields(DataTest))
_COLUMNS = _FIELDS.index("columns")
_SEED_PATH = _FIELDS.index("seed_path")
_LOCATION_PATH = _FIELDS.index("location_path")
_RAW_SQL = _FIELDS.index("raw_sql")
_CHECKSUM = _FIELDS.index("checksum")


def snapshot_path(manifest_path: str) -> str:
    root, _ = os.path.splitext(manifest_path)
    return f"{root}.meshdiff-snapshot.jsonl"


class ProjectLoader:
    """Loads projects from manifests through their snapshots; shares identical ones."""

    def __init__(self) -> None:
        #: a node row's bytes -> the node built from it (and the project folder it was built for)
        self._rows: dict[bytes, tuple[Node, str]] = {}
        #: manifests parsed in full (snapshot missing or stale), for the curious
        self.parsed: list[str] = []

    def load(self, manifest_path: str, *, project_dir: str = "", skip_injected: Iterable[str] = ()) -> Project:
        """The :class:`Project` of ``manifest_path``; skeletons owned by ``skip_injected`` are left out."""
        skip = frozenset(skip_injected)
        try:
            lines = snapshot_lines(manifest_path, project_dir=project_dir, parsed=self.parsed)
        except OSError:
            return load_manifest(manifest_path, project_dir=project_dir)  # its error says what is wrong
        try:
            with gc_paused():
                return self._decode(lines, manifest_path, project_dir, skip)
        except (KeyError, TypeError, ValueError, IndexError):
            return load_manifest(manifest_path, project_dir=project_dir)

    def _decode(self, lines: list[bytes], manifest_path: str, project_dir: str, skip: frozenset) -> Project:
        header = json.loads(lines[0])
        nodes: dict[str, Node] = {}
        start = 1
        for owner, count in [(None, header["own"]), *header["injected"]]:
            if owner is None or owner not in skip:
                for line in lines[start:start + count]:
                    node = self._node(line, project_dir)
                    nodes[node.unique_id] = node
            start += count
        tests = {}
        for line in lines[start:start + header["tests"]]:
            test = _test(line)
            tests[test.unique_id] = test
        return Project(name=header["name"], adapter_type=header["adapter_type"], nodes=nodes,
                       groups={k: tuple(v) for k, v in header["groups"].items()},
                       project_dir=project_dir, manifest_path=manifest_path, digest=header["digest"], tests=tests)

    def _node(self, line: bytes, project_dir: str) -> Node:
        known = self._rows.get(line)
        if known is not None and (known[1] == project_dir or (known[0].resource_type != "seed"
                                                              and not known[0].location_path)):
            return known[0]
        row = json.loads(line)
        row[_COLUMNS] = {k: DeclaredColumn(n, t, d, tuple(c)) for k, n, t, d, c in row[_COLUMNS]}
        seed = row[_SEED_PATH]
        if seed:  # inside the project, never through a link leaving it (the snapshot may be old)
            row[_SEED_PATH] = seed_file(project_dir, seed)
        if row[_LOCATION_PATH]:
            row[_LOCATION_PATH] = resolve_inside(project_dir, row[_LOCATION_PATH]) if project_dir else None
        node = Node(*row)
        node.owners = tuple(node.owners)
        node.handles = tuple(node.handles)
        node.depends_on = tuple(node.depends_on)
        node.constraints = tuple(node.constraints)
        node.unique_keys = tuple(tuple(k) for k in node.unique_keys)
        self._rows[line] = (node, project_dir)
        return node


def _test(line: bytes) -> DataTest:
    test = DataTest(*json.loads(line))
    test.depends_on, test.reads_all = tuple(test.depends_on), tuple(test.reads_all)
    test.reads = tuple(tuple(r) for r in test.reads)
    test.owners, test.handles = tuple(test.owners), tuple(test.handles)
    return test


def snapshot_lines(manifest_path: str, *, project_dir: str = "", parsed: list[str] | None = None) -> list[bytes]:
    """The snapshot of ``manifest_path``: read when current, else made from the manifest and
    written (its path appended to ``parsed``). ``OSError`` when the manifest is not there;
    :class:`~analysis.errors.AnalysisError` when it is no manifest."""
    info = os.stat(manifest_path)
    stamp = [info.st_size, info.st_mtime_ns]
    path = snapshot_path(manifest_path)
    lines = _read_lines(path, stamp)
    if lines is None:
        if parsed is not None:
            parsed.append(manifest_path)
        lines = encode(load_manifest(manifest_path, project_dir=project_dir), stamp)
        _write(path, lines)
    return lines


def write_snapshot(manifest_path: str, project: Project) -> None:
    """Write the snapshot of ``manifest_path`` from ``project``, already parsed from its bytes
    (a compile checks and parses its manifest once, before caching it)."""
    info = os.stat(manifest_path)
    _write(snapshot_path(manifest_path), encode(project, [info.st_size, info.st_mtime_ns]))


def encode(project: Project, stamp: list[int]) -> list[bytes]:
    """The snapshot lines of ``project`` (see the module docstring)."""
    own: list[bytes] = []
    injected: dict[str, list[bytes]] = {}
    for node in project.nodes.values():
        row = [getattr(node, name) for name in _FIELDS]
        row[_COLUMNS] = [[k, c.name, c.data_type, c.description, list(c.constraints)] for k, c in node.columns.items()]
        for index, path in ((_SEED_PATH, node.seed_path), (_LOCATION_PATH, node.location_path)):
            if path and project.project_dir:
                rel = os.path.relpath(path, project.project_dir)
                row[index] = rel if not rel.startswith("..") else path
        if node.compiled_sql and "def model(" not in (node.raw_sql or "") and not _may_ask_warehouse(node.raw_sql):
            row[_RAW_SQL] = None
        if node.injected:
            row[_CHECKSUM] = ""
            injected.setdefault(node.project, []).append(_dumps(row))
        else:
            own.append(_dumps(row))
    tests = [_dumps([getattr(test, name) for name in _TEST_FIELDS]) for test in project.tests.values()]
    header = {"format": FORMAT, "fields": list(_FIELDS), "test_fields": list(_TEST_FIELDS), "manifest": stamp,
              "name": project.name, "adapter_type": project.adapter_type,
              "groups": {k: list(v) for k, v in project.groups.items()},
              "own": len(own), "injected": [[owner, len(rows)] for owner, rows in injected.items()],
              "tests": len(tests), "digest": hashlib.sha256(b"\n".join(own)).hexdigest()}
    return [_dumps(header), *own, *(line for rows in injected.values() for line in rows), *tests]


def _may_ask_warehouse(raw: str | None) -> bool:
    """Whether ``raw`` names a macro of :data:`WAREHOUSE_MACROS` (its Jinja is read again later)."""
    return bool(raw) and any(name in raw for name in WAREHOUSE_MACROS)


def _dumps(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _read_lines(path: str, stamp: list[int]) -> list[bytes] | None:
    try:
        with open(path, "rb") as handle:
            lines = handle.read().split(b"\n")
        header = json.loads(lines[0])
    except (OSError, ValueError):
        return None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("fields") != list(_FIELDS) \
            or header.get("test_fields") != list(_TEST_FIELDS) or header.get("manifest") != stamp:
        return None
    try:
        if len(lines) != 1 + header["own"] + sum(n for _, n in header["injected"]) + header["tests"]:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return lines


def _write(path: str, lines: list[bytes]) -> None:
    try:
        write_atomically(path, b"\n".join(lines))
    except OSError:
        pass  # a read-only folder: the next load parses the manifest again
