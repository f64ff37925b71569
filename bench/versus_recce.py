"""meshdiff against Recce, and issue 14's goals, side by side in one run.

Usage (a benchmark, not a test; it never fails on a slow machine)::

    python -m bench.versus_recce --jaffle DIR --recce-python RECCE_VENV/bin/python [--out bench/results/recce.md]

Recce (PyPI ``recce``) is never a dependency of meshdiff: it lives in its own virtualenv,
and its side runs there (:mod:`bench.recce_side`). ``DIR`` is a checkout of
DataRecce/jaffle-shop-expand (1,058 models) with ``dbt deps`` done and
``target/manifest.json`` + ``target/catalog.json`` from ``dbt docs generate`` (see
bench/README.md for the commands); its code stays out of this repository. What is measured,
each in a fresh process:

1. **cold lineage of every model, in process**, on the same compiled manifest and catalog:
   meshdiff's :func:`analysis.lineage.mesh_lineage` (with an empty cache folder, and with no
   cache at all) against Recce's ``DbtAdapter.get_cll_cached`` per node (what ``recce
   server``/``recce init`` run) and Recce's bare ``recce.util.cll.cll()``; on jaffle-shop-expand
   and on a one-project synthetic mesh (:mod:`bench.synth`, its catalog the generator's columns);
   the answers compared column by column;
2. **whole CLI process**, cold and warm: ``meshdiff lineage --catalog`` (its dbt compile a cache
   hit, its lineage cache empty, then filled) against ``recce init`` (a new cache database,
   then the same);
3. **a one-model PR end to end** on ``examples/`` (the ``meshdiff demo`` change, real dbt):
   ``analysis.pipeline.analyze`` in a fresh process with the base analysed before, and with
   nothing cached, against one ``dbt compile`` of the changed project in a fresh process with a
   new target folder (dbt parses everything), and against ``dbt compile`` at head in a folder
   where the base was compiled before (dbt starts from the base's parse state, as after a
   developer's edit).

Each figure is printed with the machine's load average (``os.getloadavg``) taken just before.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from bench.run import EXAMPLES, ROOT, in_child, log

#: issue 14's goals
GOAL_INPROC = 3.0
GOAL_PROCESS = 5.0
GOAL_WARM_S = 1.5
GOAL_PR_CACHED = 1.3
GOAL_PR_COLD = 2.5


def load() -> float:
    return round(os.getloadavg()[0], 1)


# -- meshdiff's side (each in a fresh process) --------------------------------------------------

def meshdiff_lineage(manifest: str, project_dir: str, project: str, catalog_path: str, cache_dir: str | None,
                     workers: int | None = None) -> dict:
    """Cold lineage of every node with meshdiff, in process: time of :func:`mesh_lineage` alone."""
    import resource

    from analysis.dbt import ProjectLoader, read_catalogs
    from analysis.lineage import LineageCache, mesh_lineage
    from analysis.mesh import build_mesh

    start = time.perf_counter()
    mesh = build_mesh([ProjectLoader().load(manifest, project_dir=project_dir)])
    catalog = read_catalogs({project: catalog_path})
    load_s = time.perf_counter() - start
    cache = LineageCache(cache_dir, key=b"bench") if cache_dir else None
    lin = mesh_lineage(mesh.nodes, mesh.order(), mesh.dialect_of, catalog=catalog, cache=cache,
                       digests=mesh.digests(), timeout_s=600, workers=workers)
    columns = {}
    statuses: dict[str, int] = {}
    for node_id, model in lin.models.items():
        statuses[model.status] = statuses.get(model.status, 0) + 1
        for name, ups in model.columns.items():
            columns[f"{node_id}.{name}"] = sorted(f"{u.ref.node}.{u.ref.column}" for u in ups)
    return {"seconds": lin.stats.seconds, "load_s": load_s, "nodes": lin.stats.models, "statuses": statuses,
            "parsed": lin.stats.parsed, "prefetched": lin.stats.prefetched, "columns": columns,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def recce_env(work: str) -> dict:
    """Recce's environment: its telemetry off (``RECCE_DISABLE_TELEMETRY``, and a home folder of
    its own whose profile opts out of tracking: with no network its event client retries DNS
    for minutes), dbt's too."""
    home = os.path.join(work, "recce-home")
    os.makedirs(os.path.join(home, ".recce"), exist_ok=True)
    with open(os.path.join(home, ".recce", "profile.yml"), "w", encoding="utf-8") as handle:
        handle.write("user_id: meshdiff-bench\nanonymous_tracking: false\n")
    return dict(os.environ, HOME=home, RECCE_DISABLE_TELEMETRY="1", DBT_SEND_ANONYMOUS_USAGE_STATS="false",
                DO_NOT_TRACK="1")


def recce(python: str, work: str, *args: str) -> dict:
    """Run :mod:`bench.recce_side` with Recce's Python; its result."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    try:
        done = subprocess.run([python, os.path.join(ROOT, "bench", "recce_side.py"), *args, out], env=recce_env(work),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=3600)
        if done.returncode:
            raise RuntimeError(f"Recce's side failed: {done.stderr.decode(errors='replace')[-3000:]}")
        with open(out, encoding="utf-8") as handle:
            return json.load(handle)
    finally:
        os.unlink(out)


def agreement(ours: dict, theirs: dict) -> dict:
    """Columns both tools traced, and on how many they name the same upstream columns."""
    both = [c for c in ours["columns"] if c in theirs["columns"]]
    same = sum(1 for c in both if set(ours["columns"][c]) == set(theirs["columns"][c]))
    differ = [c for c in both if set(ours["columns"][c]) != set(theirs["columns"][c])]
    return {"both": len(both), "same": same, "only_ours": len(set(ours["columns"]) - set(theirs["columns"])),
            "only_theirs": len(set(theirs["columns"]) - set(ours["columns"])),
            "examples": [{"column": c, "meshdiff": ours["columns"][c], "recce": theirs["columns"][c]}
                         for c in differ[:5]]}


def timed_process(argv: list[str], env: dict | None = None, cwd: str | None = None) -> dict:
    """Wall time and peak RSS of one process (``os.wait4``: its own rusage)."""
    before = load()
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty process never blocks
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        errors.seek(0)
        err = errors.read().decode(errors="replace")
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{argv[:3]} exited {proc.returncode}: {err[-2000:]}")
    return {"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024, "load": before}


# -- the runs -----------------------------------------------------------------------------------

def inproc(label: str, manifest: str, project_dir: str, project: str, catalog: str, recce_py: str,
           work: str, adapter_dir: str | None) -> dict:
    """Phase 1 on one project: meshdiff cold (cache writes / none) against Recce (adapter / bare)."""
    res: dict = {}
    cache = os.path.join(work, f"lineage-{label}")
    shutil.rmtree(cache, ignore_errors=True)
    fresh = os.path.join(work, f"lineage-{label}-1")
    shutil.rmtree(fresh, ignore_errors=True)
    cores = len(os.sched_getaffinity(0))
    steps = [("meshdiff", lambda: in_child(meshdiff_lineage, manifest, project_dir, project, catalog, cache, cores)),
             ("meshdiff_1", lambda: in_child(meshdiff_lineage, manifest, project_dir, project, catalog, fresh, 1)),
             ("meshdiff_nocache", lambda: in_child(meshdiff_lineage, manifest, project_dir, project, catalog, None, cores)),
             ("recce_bare", lambda: recce(recce_py, work, "bare", manifest, catalog))]
    if adapter_dir:
        steps.append(("recce_adapter", lambda: recce(recce_py, work, "adapter", adapter_dir, "target")))
    for name, run in steps:
        before = load()
        log(f"{label}: {name} (load {before})")
        res[name] = run()
        res[name]["load"] = before
        log(f"{label}: {name} {res[name]['seconds']:.1f} s")
    res["agree_bare"] = agreement(res["meshdiff"], res["recce_bare"])
    if adapter_dir:
        res["agree_adapter"] = agreement(res["meshdiff"], res["recce_adapter"])
    for key in list(res):
        if isinstance(res[key], dict):
            res[key].pop("columns", None)
    return res


def whole_process(jaffle: str, project: str, recce_py: str, work: str) -> dict:
    """Phase 2: ``meshdiff lineage`` against ``recce init``, cold then warm."""
    env = dict(os.environ, MESHDIFF_CACHE_KEY="bench-recce", DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    meshdiff = os.path.join(os.path.dirname(sys.executable), "meshdiff")
    catalog = os.path.join(jaffle, "target", "catalog.json")
    compiled = os.path.join(work, "meshdiff-compiled")

    def md(cache: str) -> list[str]:
        return [meshdiff, "lineage", "--project", jaffle, "--catalog", f"{project}={catalog}", "--format", "json",
                "--output", os.path.join(work, "meshdiff-lineage.json"), "--cache-dir", cache, "--quiet",
                "--lineage-timeout", "600", "--sandbox", "auto"]

    log("whole process: meshdiff's dbt compile (not timed: a cache hit in the runs below)")
    timed_process(md(compiled), env)
    cold = os.path.join(work, "meshdiff-cold")
    shutil.rmtree(cold, ignore_errors=True)
    os.makedirs(cold)
    for name in os.listdir(compiled):
        if name != "lineage":
            src = os.path.join(compiled, name)
            (shutil.copytree if os.path.isdir(src) else shutil.copy2)(src, os.path.join(cold, name))
    out: dict = {}
    log("whole process: meshdiff lineage, cold")
    out["meshdiff_cold"] = timed_process(md(cold), env)
    log("whole process: meshdiff lineage, warm")
    out["meshdiff_warm"] = timed_process(md(cold), env)
    recce_bin = os.path.join(os.path.dirname(recce_py), "recce")
    db = os.path.join(work, "recce-cll.db")
    if os.path.exists(db):
        os.unlink(db)
    argv = [recce_bin, "init", "--project-dir", jaffle, "--profiles-dir", jaffle, "--target-path", "target",
            "--cache-db", db]
    log("whole process: recce init, cold")
    out["recce_cold"] = timed_process(argv, recce_env(work), cwd=jaffle)
    log("whole process: recce init, warm")
    out["recce_warm"] = timed_process(argv, recce_env(work), cwd=jaffle)
    return out


def _analyze(spec: dict) -> dict:
    from analysis.pipeline import analyze
    from bench.phases import _request

    report = analyze(_request(spec))
    return {"verdict": report.conclusion, "errors": report.errors[:3], "compile_s": report.timings.get("compile_s")}


def _base_first(spec: dict) -> None:
    """The base analysed before: ``mesh_at_rest`` of the base mesh into the PR's cache."""
    from analysis.pipeline import ProjectSpec, mesh_at_rest

    mesh_at_rest(ProjectSpec(spec["base_dir"]), [ProjectSpec(d) for d in spec["downstream"]],
                 cache_dir=spec["cache_root"])


def one_model_pr(work: str) -> dict:
    """Phase 3: the demo PR end to end, against one ``dbt compile`` of shop in a fresh process."""
    from bench.run import examples_pr

    shutil.rmtree(os.path.join(work, "pr"), ignore_errors=True)
    pr = examples_pr(os.path.join(work, "pr"))
    spec = pr["spec"]
    out: dict = {}
    compile_dir = os.path.join(work, "dbt-compile-shop")
    shutil.rmtree(compile_dir, ignore_errors=True)
    shutil.copytree(spec["head_dir"], compile_dir)
    dbt = os.path.join(os.path.dirname(sys.executable), "dbt")
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false",
               MESHDIFF_EXAMPLES_DB=os.path.join(work, "compile.duckdb"))
    target = os.path.join(work, "dbt-target")
    shutil.rmtree(target, ignore_errors=True)  # no parse state: dbt parses everything, as meshdiff's cold run
    argv = [dbt, "compile", "--project-dir", compile_dir, "--profiles-dir", compile_dir, "--target-path", target]
    log("PR: one dbt compile of shop in a fresh process, full parse")
    out["dbt_compile"] = timed_process(argv, env)
    # a developer's compile after the same edit: the base compiled first (not timed) into the
    # same folder, then the PR's files over it, dbt starting from the base's parse state
    shutil.rmtree(target, ignore_errors=True)
    shutil.rmtree(compile_dir, ignore_errors=True)
    shutil.copytree(spec["base_dir"], compile_dir, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"))
    log("PR: dbt compile of shop at base (not timed), then the PR's files over it")
    timed_process(argv, env)
    shutil.copytree(spec["head_dir"], compile_dir, dirs_exist_ok=True)
    log("PR: dbt compile of shop at head from the base's parse state (partial parse)")
    out["dbt_compile_again"] = timed_process(argv, env)
    for name, cached in (("cold", False), ("base_cached", True)):
        cache_root = os.path.join(work, f"pr-cache-{name}")
        shutil.rmtree(cache_root, ignore_errors=True)
        spec = dict(spec, cache_root=cache_root)
        if cached:
            log("PR: the base analysed first (not timed)")
            in_child(_base_first, spec)
        before = load()
        log(f"PR: analyze, {name} (load {before})")
        start = time.perf_counter()
        info = in_child(_analyze, spec)
        out[name] = dict(info, seconds=time.perf_counter() - start, load=before)
    return out


def repeated(runs: list[dict]) -> dict:
    """Runs of one phase merged: each figure's median seconds and load, its range, the highest RSS."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, dict) and "seconds" in value:
            seconds = sorted(r[key]["seconds"] for r in runs)
            loads = sorted(r[key].get("load", 0.0) for r in runs)
            out[key] = dict(value, seconds=statistics.median(seconds), load=round(statistics.median(loads), 1),
                            spread=[seconds[0], seconds[-1]], runs=len(runs),
                            rss_mb=max(r[key].get("rss_mb", 0.0) for r in runs))
    return out


def _s(x: dict) -> str:
    text = f"{x['seconds']:.1f}"
    if x.get("runs", 1) > 1:
        text += f" ({x['spread'][0]:.1f}–{x['spread'][1]:.1f})"
    return text


# -- report -------------------------------------------------------------------------------------

def _ratio(a: float, b: float) -> str:
    return f"{b / a:.2f}x faster" if a <= b else f"{a / b:.2f}x slower"


def render(res: dict) -> str:
    lines = ["# meshdiff vs Recce, and issue 14's goals", "",
             f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; seconds are the median of "
             f"{res.get('repeat', 1)} interleaved run(s) (range in brackets), with the median 1-minute load "
             "average taken just before each.", ""]
    for label, title in (("jaffle", "DataRecce/jaffle-shop-expand"), ("synth", "synthetic, one project")):
        r = res.get(label)
        if not r:
            continue
        md, nc = r["meshdiff"], r["meshdiff_nocache"]
        lines += [f"## Cold lineage of every model in process: {title} ({md['nodes']} models)", "",
                  "| run | seconds | load | peak RSS | vs Recce's same kind of run |", "|---|---:|---:|---:|---|"]
        rows = [("meshdiff `mesh_lineage`, empty cache folder (writes it), worker per core", md),
                ("meshdiff, the same in one process (`MESHDIFF_LINEAGE_WORKERS=1`)", r["meshdiff_1"]),
                ("meshdiff, no cache, worker per core", nc)]
        if "recce_adapter" in r:
            rows.append(("Recce `get_cll_cached` per node (fresh adapter)", r["recce_adapter"]))
        rows.append(("Recce bare `cll()` per node", r["recce_bare"]))
        for name, x in rows:
            vs = ""
            if x is not nc and "recce_adapter" in r:
                vs = _ratio(x["seconds"], r["recce_adapter"]["seconds"])
            elif x is not nc and x is not r["recce_bare"]:
                vs = _ratio(x["seconds"], r["recce_bare"]["seconds"]) + " (than bare)"
            elif x is nc:
                vs = _ratio(nc["seconds"], r["recce_bare"]["seconds"]) + " (than bare)"
            lines.append(f"| {name} | {_s(x)} | {x['load']} | {x['rss_mb']:.0f} MB | {vs} |")
        lines.append("")
        for key in ("agree_adapter", "agree_bare"):
            a = r.get(key)
            if a:
                lines.append(f"- answers, meshdiff vs Recce ({key[6:]}): {a['same']:,} of {a['both']:,} columns "
                             f"both traced have the same upstream columns; {a['only_ours']:,} traced by meshdiff "
                             f"only, {a['only_theirs']:,} by Recce only")
        lines.append(f"- meshdiff statuses: {md['statuses']}; Recce errors (unknown nodes): "
                     f"{r.get('recce_adapter', r['recce_bare'])['errors']}")
        lines.append("")
    w = res.get("process")
    if w:
        lines += ["## Whole CLI process, jaffle-shop-expand", "",
                  "| run | meshdiff `lineage` | load | Recce `init` | load | meshdiff vs Recce |", "|---|---:|---:|---:|---:|---|"]
        for kind in ("cold", "warm"):
            m, rc = w[f"meshdiff_{kind}"], w[f"recce_{kind}"]
            lines.append(f"| {kind} | {_s(m)} s, {m['rss_mb']:.0f} MB | {m['load']} | "
                         f"{_s(rc)} s, {rc['rss_mb']:.0f} MB | {rc['load']} | {_ratio(m['seconds'], rc['seconds'])} |")
        lines.append("")
    p = res.get("pr")
    if p:
        c = p["dbt_compile"]["seconds"]
        again = p.get("dbt_compile_again", p["dbt_compile"])["seconds"]
        lines += ["## One-model PR end to end (`examples/`, the demo change, real dbt)", "",
                  "The goals compare with the first row: `dbt compile` of shop at head in a fresh process and "
                  "a new target folder, so dbt parses the whole project (as meshdiff must when nothing is "
                  "cached). The second row is what a developer's `dbt compile` after the same edit takes: "
                  "dbt starting from its parse state of the base (as meshdiff's head compile does when the "
                  "base is cached).", "",
                  "| run | seconds | load | vs `dbt compile`, full parse | vs `dbt compile`, partial parse |",
                  "|---|---:|---:|---:|---:|",
                  f"| one `dbt compile` of shop, fresh process, full parse | {_s(p['dbt_compile'])} | "
                  f"{p['dbt_compile']['load']} | 1x | |"]
        if "dbt_compile_again" in p:
            lines.append(f"| `dbt compile` at head from the base's parse state | {_s(p['dbt_compile_again'])} | "
                         f"{p['dbt_compile_again']['load']} | | 1x |")
        for name, what in (("base_cached", "analyze, base analysed before"), ("cold", "analyze, nothing cached")):
            x = p[name]
            lines.append(f"| {what} ({x['verdict']}) | {_s(x)} | {x['load']} | {x['seconds'] / c:.2f}x | "
                         f"{x['seconds'] / again:.2f}x |")
        lines.append("")
    lines += ["## Goals (issue 14)", "", "| goal | today | met |", "|---|---|---|"]
    j = res.get("jaffle")
    if p:
        c = p["dbt_compile"]["seconds"]
        for name, goal in (("base_cached", GOAL_PR_CACHED), ("cold", GOAL_PR_COLD)):
            x = p[name]["seconds"] / c
            lines.append(f"| one-model PR, {name.replace('_', ' ')}: <= {goal}x one dbt compile (full parse) | "
                         f"{x:.2f}x | "
                         f"{'yes' if x <= goal else '**no**'} |")
    if j and "recce_adapter" in j:
        x = j["recce_adapter"]["seconds"] / j["meshdiff"]["seconds"]
        lines.append(f"| cold lineage in process >= {GOAL_INPROC}x faster than Recce | {x:.2f}x | "
                     f"{'yes' if x >= GOAL_INPROC else '**no**'} |")
    if w:
        x = w["recce_cold"]["seconds"] / w["meshdiff_cold"]["seconds"]
        lines.append(f"| whole process cold >= {GOAL_PROCESS}x faster than Recce | {x:.2f}x | "
                     f"{'yes' if x >= GOAL_PROCESS else '**no**'} |")
        x = w["meshdiff_warm"]["seconds"]
        lines.append(f"| warm whole process < {GOAL_WARM_S} s | {x:.2f} s | {'yes' if x < GOAL_WARM_S else '**no**'} |")
    lines.append("")
    return "\n".join(lines)


def synth_project(work: str, models: int) -> tuple[str, str, str]:
    """A one-project synthetic mesh on disk, and a catalog of its columns (as the generator made them)."""
    from bench import synth

    mesh = synth.generate(models=models, projects=1)
    root = os.path.join(work, "synth")
    shutil.rmtree(root, ignore_errors=True)
    dirs = synth.write_projects(mesh, root)
    paths = synth.write_mesh(mesh.manifests, mesh.relations, root)
    project = mesh.projects[0]
    manifest = mesh.manifests[project]
    nodes, sources = {}, {}
    for section, into in (("nodes", nodes), ("sources", sources)):
        for uid, node in manifest[section].items():
            if node.get("resource_type") not in ("model", "seed", "snapshot", "source"):
                continue
            cols = _synth_columns(mesh, uid)
            if cols is not None:
                into[uid] = {"columns": {c: {"name": c, "type": t, "index": i} for i, (c, t) in enumerate(cols, 1)}}
    catalog = os.path.join(root, project, "target", "catalog.json")
    with open(catalog, "w", encoding="utf-8") as handle:
        json.dump({"nodes": nodes, "sources": sources}, handle)
    return paths[project], dirs[project], catalog


def _synth_columns(mesh, uid: str):
    m = mesh.models.get(uid)
    if m is not None:
        return [(c.name, c.type.upper()) for c in m.columns]
    for r in mesh.relations.values():
        if r.uid == uid:
            return [(c.name, c.type.upper()) for c in r.columns]
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.versus_recce", description=__doc__.split("\n")[0])
    parser.add_argument("--jaffle", required=True, help="jaffle-shop-expand checkout (dbt deps done, target/ with "
                                                        "manifest.json and catalog.json from dbt docs generate)")
    parser.add_argument("--recce-python", required=True, help="the Python of a virtualenv with recce, dbt-duckdb")
    parser.add_argument("--synth-models", type=int, default=1000, help="models of the synthetic project (0: skip)")
    parser.add_argument("--skip", action="append", default=[], choices=["jaffle", "synth", "process", "pr"])
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every measure (medians reported)")
    parser.add_argument("--work", help="work folder (default: a temporary one)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "recce.md"))
    args = parser.parse_args(argv)
    jaffle = os.path.abspath(args.jaffle)
    work = args.work or tempfile.mkdtemp(prefix="meshdiff-recce-")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(jaffle, "dbt_project.yml"), encoding="utf-8") as handle:
        project = next(line.split(":", 1)[1].strip().strip("'\"") for line in handle if line.startswith("name:"))
    manifest = os.path.join(jaffle, "target", "manifest.json")
    catalog = os.path.join(jaffle, "target", "catalog.json")
    for path in (manifest, catalog):
        if not os.path.exists(path):
            parser.error(f"{path} is missing: run dbt seed, dbt run and dbt docs generate in {jaffle} "
                         "(bench/README.md)")
    res: dict = {"load_start": os.getloadavg()}
    start = time.perf_counter()
    phases = {}
    if "jaffle" not in args.skip:
        phases["jaffle"] = lambda: inproc("jaffle", manifest, jaffle, project, catalog, args.recce_python, work, jaffle)
    if "synth" not in args.skip and args.synth_models:
        s_manifest, s_dir, s_catalog = synth_project(work, args.synth_models)
        phases["synth"] = lambda: inproc("synth", s_manifest, s_dir, os.path.basename(s_dir), s_catalog,
                                         args.recce_python, work, None)
    if "process" not in args.skip:
        phases["process"] = lambda: whole_process(jaffle, project, args.recce_python, work)
    if "pr" not in args.skip:
        phases["pr"] = lambda: one_model_pr(work)
    runs: dict[str, list] = {name: [] for name in phases}
    for round_ in range(args.repeat):  # rounds interleave: a burst of load hits every tool alike
        for name, run in phases.items():
            log(f"round {round_ + 1}/{args.repeat}: {name}")
            runs[name].append(run())
    res.update({name: repeated(r) for name, r in runs.items()}, repeat=args.repeat)
    res["load_end"] = os.getloadavg()
    res["seconds"] = time.perf_counter() - start
    text = render(res) + f"\nLoad average at the start {res['load_start']}, at the end {res['load_end']}; " \
                         f"the whole run took {res['seconds']:.0f} s.\n"
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text)
    with open(os.path.splitext(args.out)[0] + ".json", "w", encoding="utf-8") as handle:
        json.dump(res, handle, indent=1, default=str)
    print(text)


if __name__ == "__main__":
    main()
