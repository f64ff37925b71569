"""The measured phases of the benchmark. ``bench.run`` runs each in a fresh process.

Every phase takes a mesh *on disk* (``{project: [manifest.json path, project dir]}``), so
the synthetic meshes and the example projects go through the same code as the analysis:
:class:`analysis.dbt.snapshot.ProjectLoader` (the manifest parsed once, then its snapshot),
:func:`analysis.mesh.build_mesh`, then the phase's work.
Each returns a plain dict (JSON-able) of seconds, counts and memory:

- ``rss_mb``: peak resident set size of the process (``getrusage`` ``ru_maxrss``), which
  includes the interpreter and imported libraries (``rss_baseline_mb``, measured after the
  imports, before any work);
- ``traced_peak_mb``: peak of Python allocations seen by ``tracemalloc`` during a separate,
  untimed repetition of the same work (tracemalloc slows Python down ~2x, so it is never on
  while timing);
- ``gc_s``: time spent in CPython's cyclic garbage collector during the timed work
  (measured with ``gc.callbacks``).
"""
from __future__ import annotations

import cProfile
import functools
import gc
import threading
import io
import json
import os
import pstats
import random
import resource
import time
import tracemalloc
from collections import Counter
from contextlib import contextmanager

from analysis.lineage import LineageCache, analyse
from analysis.dbt import ProjectLoader, snapshot_path
from analysis.mesh import Mesh, build_mesh
from analysis.lineage import MeshLineage, TableResolver, mesh_lineage
from bench.naive import naive_lineage

MeshFiles = dict[str, list[str]]  # project -> [manifest path, project dir]


# -- measuring helpers -----------------------------------------------------------------------

def rss_mb() -> float:
    """Peak RSS of this process so far, in MB (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class GcClock:
    """Total wall time spent inside cyclic GC collections while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._start = 0.0

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
            self.collections += 1

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._callback)


class Phases:
    """Named wall-clock (and GC) timings, in call order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.gc: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        with GcClock() as clock:
            start = time.perf_counter()
            try:
                yield
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
                self.gc[name] = self.gc.get(name, 0.0) + clock.seconds

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def load_world(files: MeshFiles, timer: Phases, prefix: str = "") -> list:
    """Every project, as the analysis loads it (:class:`analysis.dbt.snapshot.ProjectLoader`): the
    first time the manifest is parsed (``json.load`` + ``parse_manifest``) and its snapshot
    written; later the snapshot is read."""
    fresh = any(not os.path.exists(snapshot_path(path)) for path, _ in files.values())
    loader = ProjectLoader()
    with timer(f"{prefix}parse manifests, write snapshots" if fresh else f"{prefix}load snapshots"):
        return [loader.load(path, project_dir=os.path.abspath(d), skip_injected=files) for path, d in files.values()]


def _lineage(mesh: Mesh, order: list[str], cache: LineageCache | None) -> MeshLineage:
    return mesh_lineage(mesh.nodes, order, mesh.dialect_of, cache=cache, digests=mesh.digests())


def _statuses(lin: MeshLineage) -> dict[str, int]:
    return dict(Counter(m.status for m in lin.models.values()))


def _cache_files(directory: str) -> set[str]:
    out = set()
    for root, _, files in os.walk(directory):
        out.update(os.path.join(root, f) for f in files)
    return out


@contextmanager
def _restoring(directory: str):
    """Delete every cache file written inside the block (the next run finds the same cache)."""
    before = _cache_files(directory)
    try:
        yield
    finally:
        for path in _cache_files(directory) - before:
            os.unlink(path)


# -- full lineage: cold, warm ------------------------------------------------------------------

def lineage_phase(files: MeshFiles, cache_dir: str) -> dict:
    """Full column lineage of the mesh: cold (empty cache dir), then warm, twice.

    ``warm_memory``: the same :class:`LineageCache` object again (its in-memory layer);
    ``warm_disk``: a new ``LineageCache`` on the same directory, as a new run of meshdiff
    (a new CLI process, or the next PR in the App's worker) sees it.
    """
    out: dict = {"rss_baseline_mb": rss_mb()}
    timer = Phases()
    projects = load_world(files, timer)
    with timer("build_mesh"):
        mesh = build_mesh(projects)
    with timer("mesh.order"):
        order = mesh.order()
    out["load"] = timer.seconds
    out["nodes"] = len(mesh.nodes)
    os.makedirs(cache_dir, exist_ok=True)
    assert not os.listdir(cache_dir), f"{cache_dir} is not empty: not a cold run"
    cache = LineageCache(cache_dir)
    with GcClock() as clock:
        cold = _lineage(mesh, order, cache)
    s = cold.stats
    out["cold"] = {"seconds": s.seconds, "trace_seconds": s.trace_seconds, "gc_s": clock.seconds,
                   "models": s.models, "parsed": s.parsed, "cache_hits": s.cache_hits, "timeouts": s.timeouts,
                   "statuses": _statuses(cold), "seeds_sniffed": s.seeds_sniffed, "rss_mb": rss_mb(),
                   "cache_writes": cache.stats.writes}
    with GcClock() as clock:
        warm = _lineage(mesh, order, cache)
    out["warm_memory"] = {"seconds": warm.stats.seconds, "parsed": warm.stats.parsed, "gc_s": clock.seconds,
                          "cache_hits": warm.stats.cache_hits}
    del warm
    disk_cache = LineageCache(cache_dir)
    with GcClock() as clock:
        warm = _lineage(mesh, order, disk_cache)
    out["warm_disk"] = {"seconds": warm.stats.seconds, "parsed": warm.stats.parsed, "gc_s": clock.seconds,
                        "cache_hits": warm.stats.cache_hits, "disk_hits": disk_cache.stats.disk_hits}
    out["rss_mb"] = rss_mb()
    out["trace_total_s"] = s.trace_seconds
    return out


def memory_phase(files: MeshFiles, cache_dir: str) -> dict:
    """tracemalloc peak of loading the mesh and tracing it from a warm cache (untimed)."""
    tracemalloc.start()
    timer = Phases()
    mesh = build_mesh(load_world(files, timer))
    _, peak_load = tracemalloc.get_traced_memory()
    lin = _lineage(mesh, mesh.order(), LineageCache(cache_dir))
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"traced_peak_load_mb": peak_load / 2**20, "traced_peak_mb": peak / 2**20,
            "traced_retained_mb": current / 2**20, "models": len(lin.models)}


# -- naive baseline --------------------------------------------------------------------------

def naive_phase(files: MeshFiles, cache_dir: str, sample: int, seed: int, budget_s: float) -> dict:
    """One-pass ``analyse`` vs ``bench.naive`` (``sqlglot.lineage`` per column) on a sample.

    Both get the same inputs (SQL, resolver, upstream schemas from a warm run). Models are
    taken in a seeded random order until ``sample`` are done or the naive side has used
    ``budget_s`` seconds; a model the naive way cannot handle (sqlglot raises) is counted
    and left out of both sums.
    """
    timer = Phases()
    mesh = build_mesh(load_world(files, timer))
    lin = _lineage(mesh, mesh.order(), LineageCache(cache_dir))
    tables = TableResolver.from_nodes(mesh.nodes.values())
    candidates = sorted(uid for uid, node in mesh.nodes.items()
                        if node.is_sql and not node.injected and (node.compiled_sql or "").strip())
    random.Random(seed).shuffle(candidates)
    rows, failures = [], []
    naive_total = 0.0
    for uid in candidates:
        if len(rows) >= sample or naive_total >= budget_s:
            break
        node = mesh.nodes[uid]
        dialect = mesh.dialect_of(node)
        ours = analyse(uid, node.compiled_sql, dialect, tables, lin.schemas)
        start = time.perf_counter()
        try:
            naive = naive_lineage(node.compiled_sql, dialect, tables, lin.schemas)
        except Exception as exc:  # noqa: BLE001 - the baseline's failures are reported, not fatal
            naive_total += time.perf_counter() - start
            failures.append(f"{uid}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        naive_s = time.perf_counter() - start
        naive_total += naive_s
        mine = {c: {u.ref for u in ups} for c, ups in ours.lineage.columns.items()}
        same = sum(mine.get(c) == refs for c, refs in naive.items())
        rows.append({"node": uid, "columns": len(ours.lineage.columns), "ours_s": ours.seconds, "naive_s": naive_s,
                     "status": ours.lineage.status, "same_columns": same, "naive_columns": len(naive)})
    return {"rows": rows, "failures": failures, "candidates": len(candidates), "budget_s": budget_s,
            "budget_hit": naive_total >= budget_s and len(rows) < sample, "rss_mb": rss_mb()}


# -- a pull request, after the first run ------------------------------------------------------

class Instrument:
    """Exclusive ("self") wall time and GC time of chosen functions, while they run for real.

    Each wrapped function's time excludes the time of wrapped functions it calls
    (``load_manifest``, when a manifest has no snapshot yet, minus ``parse_manifest`` is the file
    read and ``json.load``); GC
    pauses are charged to the innermost wrapped function running. What no wrapped function
    covers is ``(pipeline glue)``. Missing names (the pipeline changed) are listed, not fatal.
    """

    GLUE = "(pipeline glue)"

    def __init__(self) -> None:
        self.self_s: dict[str, float] = {}
        self.gc_s: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._count: dict[str, int] = {}
        self.missing: list[str] = []
        self._local = threading.local()  # a call stack per thread: compiles run on a thread pool
        self._main = threading.get_ident()
        #: wall time of each wrapped function called on the analysis' own thread, callees included
        self.inclusive: dict[str, float] = {}
        #: the same, callees excluded (what the analysis' thread spent in the function itself)
        self.main_self: dict[str, float] = {}
        self._patches: list[tuple] = []
        self._gc_start = 0.0
        self.captured: dict[str, dict] = {}
        self.order: list[str] = []  # labels in the order of their first call

    @property
    def _stack(self) -> list[list]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def wrap(self, owner, attr: str, label: str | None = None, per_call: list[str] | None = None,
             capture=None) -> None:
        """Wrap ``owner.attr``; ``per_call``: labels of the 1st, 2nd... call; ``capture(label,
        result)`` is called with each result."""
        original = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr, None)
        if original is None:
            self.missing.append(f"{getattr(owner, '__name__', owner)}.{attr}")
            return
        label = label or attr
        inst = self

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            n = inst._count.get(label, 0)
            inst._count[label] = n + 1
            name = per_call[n] if per_call and n < len(per_call) else label
            inst.calls[name] = inst.calls.get(name, 0) + 1
            frame = [name, 0.0]
            if name not in inst.order:
                inst.order.append(name)
            inst._stack.append(frame)
            start = time.perf_counter()
            try:
                result = original(*args, **kwargs)
                if capture is not None:
                    capture(name, result)
                return result
            finally:
                elapsed = time.perf_counter() - start
                stack = inst._stack
                stack.pop()
                inst.self_s[name] = inst.self_s.get(name, 0.0) + elapsed - frame[1]
                if stack:
                    stack[-1][1] += elapsed
                if threading.get_ident() == inst._main:
                    inst.inclusive[name] = inst.inclusive.get(name, 0.0) + elapsed
                    inst.main_self[name] = inst.main_self.get(name, 0.0) + elapsed - frame[1]

        setattr(owner, attr, wrapper)
        self._patches.append((owner, attr, original))

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
            return
        name = self._stack[-1][0] if self._stack else self.GLUE
        self.gc_s[name] = self.gc_s.get(name, 0.0) + time.perf_counter() - self._gc_start

    def __enter__(self) -> Instrument:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self._on_gc)
        for owner, attr, original in reversed(self._patches):
            setattr(owner, attr, original)
        self._patches.clear()


#: functions of analysis.pipeline not timed on their own (entry points, or only glue)
_NOT_WRAPPED = {"analyze", "_analyze", "mesh_at_rest", "cache_root"}


def instrument_pipeline() -> Instrument:
    """Wrap what ``analysis.pipeline.analyze`` calls, where it looks the names up (the pipeline
    module imports the stages' public names): every function of the pipeline module, its
    steps and the building blocks it imports (so a helper added later is timed too)."""
    import analysis.compiles
    import analysis.dbt.manifest
    import analysis.mesh
    import analysis.pipeline as pipeline

    inst = Instrument()
    inst.wrap(analysis.compiles, "compile_project", "compile_project (cache hit)")
    inst.wrap(pipeline, "read_project")
    inst.wrap(analysis.dbt.manifest, "parse_manifest")

    def lineage_stats(name: str, result) -> None:
        st = result.stats
        inst.captured[name] = {"models": st.models, "parsed": st.parsed, "cache_hits": st.cache_hits,
                               "seconds": st.seconds, "trace_seconds": st.trace_seconds}

    inst.wrap(pipeline, "mesh_lineage", per_call=["mesh_lineage (base)", "mesh_lineage (head)"],
              capture=lineage_stats)
    inst.wrap(analysis.mesh.Mesh, "order", "Mesh.order")
    done = {"compile_project", "read_project", "mesh_lineage"}
    for name, value in sorted(vars(pipeline).items()):
        if name in _NOT_WRAPPED or name in done or not callable(value) or isinstance(value, type):
            continue
        module = getattr(value, "__module__", "") or ""
        if module.startswith("analysis."):
            inst.wrap(pipeline, name)
    return inst


def _request(spec: dict):
    from analysis.pipeline import AnalysisRequest, ProjectSpec
    from analysis.report import GitRef

    return AnalysisRequest(
        changed=ProjectSpec(spec["head_dir"]), base_path=spec["base_dir"],
        base=GitRef("main", "0" * 40), head=GitRef("pr", "1" * 40),
        downstream=[ProjectSpec(d) for d in spec["downstream"]], cache_dir=spec["cache_root"],
    )


def _check(report) -> None:
    if report.errors:
        raise RuntimeError("the analysis failed: " + " | ".join(report.errors)[:2000])


def pr_seed(spec: dict) -> dict:
    """The first run: fill the compile cache for base and head (then drop its lineage writes).

    With ``spec["manifests"]`` (synthetic meshes) dbt is never run: the function that runs it
    (``analysis.dbt.compile._run_compile``) is replaced by one that hands over the generated
    manifest of that project in that world (the head world is recognised by the changed
    project's head directory, or by an upstream compile that belongs to it). Without it
    (examples/), real dbt compiles run on a cache miss.
    """
    import analysis.dbt.compile as comp
    from analysis.pipeline import analyze

    start = time.perf_counter()
    original = comp._run_compile  # noqa: SLF001
    manifests = spec.get("manifests")
    head_keys: set[str] = set()

    def serve(project, upstream, work, key, timeout_s, *_):
        head = (os.path.realpath(project.path) == os.path.realpath(spec["head_dir"])
                or any(r.key in head_keys for r in upstream.values()))
        if head:
            head_keys.add(key)
        path = (manifests["head"].get(project.name) if head else None) or manifests["base"][project.name]
        return comp.CompileResult(project=project.name, project_dir=project.path, key=key, manifest_path=path,
                                  ok=True, seconds=0.0)

    if manifests:
        comp._run_compile = serve  # noqa: SLF001
    try:
        with _restoring(os.path.join(spec["cache_root"], "lineage")):
            report = analyze(_request(spec))
    finally:
        comp._run_compile = original  # noqa: SLF001
    _check(report)
    return {"seconds": time.perf_counter() - start, "compile_s": report.timings.get("compile_s")}


def pr_phase(spec: dict, repeats: int, profile_path: str | None = None, *, profile_over: float = 0.0,
             traced: bool = True) -> dict:
    """``analysis.pipeline.analyze`` for the PR, after :func:`pr_seed`: timed, phase by phase.

    Runs it once in this fresh process ("first"), then ``repeats`` more times; then once
    under cProfile (when the first run took ``profile_over`` seconds or more, compiles
    excluded) and once under tracemalloc (``traced``). The lineage cache is restored after each run
    (what a run writes is deleted), so each is the first analysis of this PR after a run on
    the base. Compiles are cache hits (their time is reported, and excluded from ``total``).
    """
    from analysis.pipeline import analyze

    lineage_dir = os.path.join(spec["cache_root"], "lineage")
    out: dict = {"rss_baseline_mb": rss_mb(), "runs": []}
    for i in range(1 + repeats):
        with _restoring(lineage_dir), instrument_pipeline() as inst:
            start = time.perf_counter()
            report = analyze(_request(spec))
            wall = time.perf_counter() - start
        _check(report)
        phases = {name: inst.self_s[name] for name in inst.order if name in inst.self_s}
        # what the analysis' own thread spent in no wrapped function (threads' times overlap it)
        phases[Instrument.GLUE] = max(0.0, wall - sum(inst.main_self.values()))
        # the compiles run as a graph on threads: their wall time is compile_worlds', callees included
        compile_s = inst.inclusive.get("compile_worlds", phases.get("compile_project (cache hit)", 0.0))
        out["runs"].append({"seconds": phases, "gc": dict(inst.gc_s), "wall": wall, "total": wall - compile_s,
                            "compile_s": compile_s, "calls": dict(inst.calls)})
        if i == 0:
            out["missing"] = inst.missing
            out["rss_mb"] = rss_mb()
            out["info"] = _report_info(report, inst)
        del report
        gc.collect()
    if profile_path and out["runs"][0]["total"] >= profile_over:
        profiler = cProfile.Profile()
        with _restoring(lineage_dir):
            profiler.enable()
            analyze(_request(spec))
            profiler.disable()
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(80)
        with open(profile_path, "w", encoding="utf-8") as handle:
            handle.write(stream.getvalue())
        out["profile_top"] = _top(profiler, 14)
        out["profile_cumulative"] = _top(profiler, 24, key="cumtime", only="analysis/")
        del profiler, stats
        gc.collect()
    if traced:
        with _restoring(lineage_dir):
            tracemalloc.start()
            analyze(_request(spec))
            out["traced_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
    return out


def _report_info(report, inst: Instrument) -> dict:
    return {
        "conclusion": report.conclusion,
        "changes": [{"node": c.node, "category": c.category, "columns": len(c.columns)} for c in report.changes],
        "impacted_nodes": len(report.impacts), "impacted_projects": len({i.project for i in report.impacts}),
        "severities": dict(Counter(i.severity for i in report.impacts)), "timings": dict(report.timings),
        "projects": list(report.projects), "lineage": dict(inst.captured),
    }


def _top(profiler: cProfile.Profile, n: int, key: str = "tottime", only: str = "") -> list[dict]:
    """Top functions by ``key`` (own time ``tottime`` or ``cumtime``), as plain rows;
    ``only``: keep functions whose file path contains it."""
    stats = pstats.Stats(profiler)
    rows = []
    for (path, line, func), (cc, nc, tt, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        if only not in path:
            continue
        short = path
        for marker in ("site-packages/", "/work/main/", "lib/python3"):
            if marker in short:
                short = short.split(marker, 1)[1]
        rows.append({"function": f"{short}:{line}({func})", "calls": nc, "tottime": tt, "cumtime": ct})
    rows.sort(key=lambda r: -r[key])
    return rows[:n]
