"""Models traced ahead, side by side in worker processes, then checked before they are used.

A cold lineage of a large project is mostly sqlglot tracing one model after another on one
core. Many models can be traced before their turn: those whose every table has a schema known
without tracing anything (a catalog entry, a source's declared columns). :class:`Prefetch`
sends such models, in mesh order, to a pool of worker processes, each given once the table
resolver and those *known* schemas; :func:`analysis.lineage.meshlineage.mesh_lineage` still
walks every node in order and, when a model is not in the cache, takes its traced result from
here **only if** every table the trace looked up resolves to a node whose schema now has the
fingerprint the worker traced against (a trace reads nothing else), so the answer is the one
a trace in order would give; otherwise it traces the model itself.

Only models the cache has never seen are sent (no record of their SQL text), only when there
are at least :data:`MIN_MODELS` of them, and only with more than one worker: ``workers``
argument, else ``$MESHDIFF_LINEAGE_WORKERS``, else the CPUs this process may use unless the
load average already reaches their number (``1``: never; measured: on two cores busy with other
work, a pool made a cold lineage slower, not faster).
A pool that cannot start (a daemonic process, no semaphores) means tracing in order, silently.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor

from analysis.dbt import Node
from analysis.lineage.packs import schema_fingerprint
from analysis.lineage.relations import TableResolver
from analysis.lineage.trace import Analysis, analyse

#: fewer models to trace than this: not worth starting processes (about a second each)
MIN_MODELS = 64
#: models per task sent to a worker
CHUNK = 8

_TABLES: TableResolver | None = None
_SCHEMAS: dict[str, dict[str, str | None]] = {}


def worker_count(workers: int | None = None) -> int:
    """``workers``, else ``$MESHDIFF_LINEAGE_WORKERS``, else the CPUs this process may use."""
    if workers is None:
        text = os.environ.get("MESHDIFF_LINEAGE_WORKERS", "").strip()
        if text:
            try:
                workers = int(text)
            except ValueError:
                workers = 1
        else:
            try:
                workers = len(os.sched_getaffinity(0))
            except (AttributeError, OSError):
                workers = os.cpu_count() or 1
            if _load() >= workers:
                workers = 1  # the cores are busy already: more processes only add their start-up
    return max(1, workers)


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def _start(tables: TableResolver, schemas: dict) -> None:
    global _TABLES, _SCHEMAS
    _TABLES, _SCHEMAS = tables, schemas


def _trace(batch: list[tuple]) -> list[Analysis]:
    # each model sees the tables as its depends_on says (a seed and a source of one relation), and
    # the keys its upstreams are declared unique on (LEFT JOINs that keep rows)
    return [analyse(node_id, sql, dialect, _TABLES.for_reader(depends_on), _SCHEMAS, timeout_s=timeout_s, types=types,
                    unique=unique) for node_id, sql, dialect, timeout_s, types, depends_on, unique in batch]


class Prefetch:
    """Traces of models sent ahead to worker processes (see the module docstring)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._pending: dict[str, tuple[Future, int, bool]] = {}
        self._fingerprints: dict[str, str] = {}
        #: models taken from a worker / traced again in order because an input differed
        self.used = 0
        self.rejected = 0

    @classmethod
    def start(cls, models: Iterable[Node], known: Mapping[str, dict[str, str | None]], tables: TableResolver,
              dialect_of: Callable[[Node], str], typed: Callable[[Node], bool], timeout_s: float,
              workers: int | None = None, unique_of: Callable[[Node], dict] = lambda node: {},
              fingerprints: Mapping[str, str] | None = None) -> Prefetch:
        """Send ``models`` (in order; those reading only nodes of ``known``) to a pool; ``unique_of(model)``:
        the keys its upstreams are unique on (:meth:`~analysis.lineage.noderecords.UniqueKeys.of`);
        ``fingerprints``: those of ``known`` as the walk computes them (default: of the schemas)."""
        self = cls()
        ready = [n for n in models if n.depends_on and all(d in known for d in n.depends_on)]
        count = worker_count(workers)
        if count < 2 or len(ready) < MIN_MODELS:
            return self
        schemas = {k: dict(v) for k, v in known.items()}
        self._fingerprints = dict(fingerprints) if fingerprints is not None else \
            {k: schema_fingerprint(v) for k, v in schemas.items()}
        try:
            context = multiprocessing.get_context("forkserver")
            # workers fork from a server that imported this module (sqlglot included) once
            context.set_forkserver_preload([__name__])
            self._pool = ProcessPoolExecutor(min(count, len(ready) // CHUNK or 1), mp_context=context,
                                             initializer=_start, initargs=(tables, schemas))
            for i in range(0, len(ready), CHUNK):
                batch = ready[i:i + CHUNK]
                future = self._pool.submit(_trace, [(n.unique_id, n.compiled_sql, dialect_of(n), timeout_s, typed(n),
                                                     n.depends_on, unique_of(n)) for n in batch])
                for j, node in enumerate(batch):
                    self._pending[node.unique_id] = (future, j, typed(node))
        except (OSError, RuntimeError, AssertionError, ValueError):  # no pool here: trace in order
            self.close()
        return self

    def take(self, node_id: str, types: bool, tables: TableResolver, fingerprints: Mapping[str, str]) -> Analysis | None:
        """The worker's trace of ``node_id``, if it was traced with ``types`` against exactly the
        schemas (by fingerprint) the tables it looked up have now; else ``None``."""
        pending = self._pending.pop(node_id, None)
        if pending is None:
            return None
        future, index, traced_types = pending
        try:
            result = future.result()[index]
        except Exception:  # noqa: BLE001 - a worker that died: trace in order
            self.rejected += 1
            return None
        if traced_types != types or not self._same_inputs(result, tables, fingerprints):
            self.rejected += 1
            return None
        self.used += 1
        return result

    def _same_inputs(self, result: Analysis, tables: TableResolver, fingerprints: Mapping[str, str]) -> bool:
        for key in result.lookups:
            node = tables.lookup(tuple(key))
            if node is not None and (node not in self._fingerprints
                                     or fingerprints.get(node) != self._fingerprints[node]):
                return False
        return True

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._pending.clear()
