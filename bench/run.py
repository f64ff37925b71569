"""meshdiff benchmark: full column lineage (cold, warm) vs the naive approach, and one PR.

Usage::

    python -m bench.run [--models 5000] [--projects 5] [--naive-sample 50] [--out bench/results/latest.md]
    python -m bench.run --quick          # 500 models, 3 projects, small naive sample: < 1 minute

What it does (see bench/README.md for what each figure means):

1. generates a synthetic mesh (:mod:`bench.synth`, seeded) and writes its manifests to a
   work directory; compiles the example projects once with ``analysis.pipeline.mesh_at_rest``
   (real dbt; cached in ``--examples-cache``);
2. for each mesh, in a fresh process each (:mod:`bench.phases`): the full lineage cold
   (empty cache dir) and warm; the tracemalloc peak; the naive baseline on a sample; and
   pull requests that touch one model, re-analysed after the first run (compiles excluded),
   phase by phase, with a cProfile of the run;
3. prints the results as Markdown and writes them to ``--out`` (plus the raw figures as
   JSON and the profiles next to it).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

from bench import phases, synth

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
GOAL_SPEEDUP = 10.0
GOAL_PR_S = 1.0


def in_child(fn, *args, **kwargs):
    """Run ``fn(*args, **kwargs)`` in a fresh (spawned) process: clean peak RSS, no shared caches."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- synthetic mesh and its pull requests --------------------------------------------------------

def pick_scenarios(mesh: synth.SynthMesh) -> list[tuple[str, str, str]]:
    """(kind, model id, why) for the PRs, all in the first (most upstream) project.

    - ``expression``: an intermediate model with the median number of downstream models
      among those the edit applies to (a typical PR; the schema does not change);
    - ``add_column``: the staging/first-layer model with the most downstream models (the
      schema changes, so every direct reader is re-traced, and readers through ``select *``);
    - ``remove_column``: the public model read by the most models of other projects (breaking).
    """
    first = mesh.projects[0]
    desc = mesh.descendants()
    own = [m for m in mesh.models.values() if m.project == first]

    def explicit(m: synth.Model) -> bool:
        return any("*" not in item for item in m.items[2:])

    typical = sorted((m for m in own if 1 <= m.layer <= 3 and explicit(m) and desc[m.uid]),
                     key=lambda m: (len(desc[m.uid]), m.uid))
    expr = typical[len(typical) // 2]
    hub = max((m for m in own if m.layer <= 1 and not m.aggregate), key=lambda m: (len(desc[m.uid]), m.uid))
    public = [m for m in own if m.access == "public" and explicit(m)]
    cross = max(public, key=lambda m: (sum(1 for d in desc[m.uid] if d.split(".")[1] != first), m.uid))
    out = []
    for kind, m, why in (("expression", expr, "typical: median fan-out"),
                         ("add_column", hub, "worst case: largest fan-out"),
                         ("remove_column", cross, "breaking, most cross-project readers")):
        n = len(desc[m.uid])
        other = sum(1 for d in desc[m.uid] if d.split(".")[1] != m.project)
        out.append((kind, m.uid, f"{why}: {n} downstream models ({other} in other projects)"))
    return out


def write_synth(args, work: str) -> tuple[dict, dict, list[dict]]:
    """Generate the mesh; write its projects (files + manifests) and one head checkout per PR."""
    start = time.perf_counter()
    mesh = synth.generate(args.models, args.projects, args.seed)
    gen_s = time.perf_counter() - start
    root = os.path.join(work, "synth")
    dirs = synth.write_projects(mesh, root)
    paths = synth.write_mesh(mesh.manifests, mesh.relations, root)
    files = {p: [path, dirs[p]] for p, path in paths.items()}
    info = synth.summary(mesh)
    info["generate_s"] = gen_s
    info["manifest_mb"] = sum(os.path.getsize(p) for p in paths.values()) / 1e6
    info["seed"] = args.seed
    prs = []
    for kind, uid, why in pick_scenarios(mesh):
        pr = synth.pr_head(mesh, uid, kind)
        project = pr.model.project
        pr_root = os.path.join(work, f"pr-{kind}")
        head_dir = os.path.join(pr_root, project)
        shutil.copytree(dirs[project], head_dir, ignore=shutil.ignore_patterns("target"))
        synth.write_model_file(pr.model, mesh, head_dir)
        head_path = synth.write_mesh({project: pr.manifests[project]}, {}, pr_root)[project]
        prs.append({"name": kind, "what": pr.description, "why": why, "spec": {
            "head_dir": head_dir, "base_dir": dirs[project],
            "downstream": [d for p, d in dirs.items() if p != project],
            "manifests": {"base": paths, "head": {project: head_path}},
        }})
    log(f"synthetic mesh: {info['models']} models, {info['projects']} projects, {info['manifest_mb']:.0f} MB of "
        f"manifests (generated in {gen_s:.1f} s, written in {time.perf_counter() - start - gen_s:.1f} s)")
    return files, info, prs


# -- the example projects -------------------------------------------------------------------------

def compile_examples(cache_dir: str) -> dict:
    """Compile examples/ (shop -> finance -> exec_reporting) with ``mesh_at_rest`` (cached)."""
    from analysis.pipeline import ProjectSpec, mesh_at_rest

    start = time.perf_counter()
    state = mesh_at_rest(ProjectSpec(os.path.join(EXAMPLES, "shop")),
                         [ProjectSpec(os.path.join(EXAMPLES, "finance")),
                          ProjectSpec(os.path.join(EXAMPLES, "exec_reporting"))], cache_dir=cache_dir)
    files = {name: [p.manifest_path, p.project_dir] for name, p in state.mesh.projects.items()}
    return {"seconds": time.perf_counter() - start, "files": files}


def examples_pr(work: str) -> dict:
    """The `meshdiff demo` PR: shop.customers renames its contracted column ``lifetime_value``."""
    from bot.demo import DEMO_EDITS

    head_dir = os.path.join(work, "examples-pr", "shop")
    shutil.copytree(os.path.join(EXAMPLES, "shop"), head_dir,
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal"))
    for rel, old, new in DEMO_EDITS:
        path = os.path.join(work, "examples-pr", rel)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        assert old in text, f"{rel}: {old!r} not found"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text.replace(old, new))
    return {"name": "rename_column", "what": "shop.customers renames its contracted column `lifetime_value` "
                                             "(the `meshdiff demo` change)",
            "why": "the bundled demo; real dbt compiles (cached after the first time)", "spec": {
                "head_dir": head_dir, "base_dir": os.path.join(EXAMPLES, "shop"),
                "downstream": [os.path.join(EXAMPLES, "finance"), os.path.join(EXAMPLES, "exec_reporting")],
            }}


# -- running ----------------------------------------------------------------------------------

def measure(label: str, files: dict, prs: list[dict], cache_root: str, args, results_dir: str) -> dict:
    """All phases for one mesh; ``cache_root`` is the meshdiff cache dir of the PR runs, whose
    ``lineage/`` the cold run fills (so the PRs find the cache of "the first run")."""
    cache = os.path.join(cache_root, "lineage")
    out: dict = {}
    log(f"{label}: full lineage, cold then warm")
    out["lineage"] = in_child(phases.lineage_phase, files, cache)
    c = out["lineage"]["cold"]
    log(f"{label}: cold {c['seconds']:.1f} s for {c['models']} models; warm {out['lineage']['warm_disk']['seconds']:.2f} s")
    log(f"{label}: tracemalloc pass")
    out["memory"] = in_child(phases.memory_phase, files, cache)
    log(f"{label}: naive baseline (sample {args.naive_sample}, budget {args.naive_budget:.0f} s)")
    out["naive"] = in_child(phases.naive_phase, files, cache, args.naive_sample, args.seed, args.naive_budget)
    out["prs"] = []
    for pr in prs:
        spec = {**pr["spec"], "cache_root": cache_root}
        log(f"{label}: PR {pr['name']}: {pr['what']}: first run (fills the compile cache)")
        seed = in_child(phases.pr_seed, spec)
        log(f"{label}: PR {pr['name']}: first run took {seed['seconds']:.1f} s; now timed")
        profile = os.path.join(results_dir, f"profile-{label}-{pr['name']}.txt")
        res = in_child(phases.pr_phase, spec, args.pr_repeat, profile, profile_over=0.0 if args.profile_always else GOAL_PR_S,
                       traced=not args.quick)
        res.update({k: pr[k] for k in ("name", "what", "why")})
        res["seed_s"] = seed["seconds"]
        res["profile_file"] = os.path.relpath(profile, ROOT) if "profile_top" in res else None
        out["prs"].append(res)
        log(f"{label}: PR {pr['name']}: {res['runs'][0]['total']:.2f} s (compiles excluded)")
    return out


# -- figures ----------------------------------------------------------------------------------

def naive_figures(res: dict) -> dict:
    """Per-model rates on the sample, and the naive time extrapolated to the whole mesh."""
    rows = res["naive"]["rows"]
    cold = res["lineage"]["cold"]
    if not rows:
        return {}
    ours = sum(r["ours_s"] for r in rows)
    naive = sum(r["naive_s"] for r in rows)
    models = cold["models"]
    # ratio estimator: the sample's naive/ours ratio applied to the mesh's measured trace time
    naive_mesh = naive / ours * cold["trace_seconds"] if ours else 0.0
    same = sum(r["same_columns"] for r in rows)
    total_cols = sum(r["naive_columns"] for r in rows)
    return {
        "n": len(rows), "ours_sample_s": ours, "naive_sample_s": naive, "ratio_sample": naive / ours,
        "ours_rate_sample": len(rows) / ours, "naive_rate_sample": len(rows) / naive,
        "naive_mesh_s_ratio": naive_mesh, "naive_mesh_s_mean": naive / len(rows) * models,
        "naive_rate_mesh": models / naive_mesh if naive_mesh else 0.0,
        "speedup_cold": naive_mesh / cold["seconds"] if cold["seconds"] else 0.0,
        "agreement": f"{same}/{total_cols}", "failures": len(res["naive"]["failures"]),
        "budget_hit": res["naive"]["budget_hit"],
        "max_naive_s": max(r["naive_s"] for r in rows),
        "max_cols": max(r["columns"] for r in rows),
    }


def fmt_s(x: float) -> str:
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s" if x < 100 else f"{x:.0f} s"


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kb = int(next(ln for ln in handle if ln.startswith("MemTotal")).split()[1])
            mem = f"{kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    from importlib.metadata import version

    return {"cores": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "sqlglot": version("sqlglot"), "platform": platform.platform()}


def render(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# meshdiff benchmark",
        "",
        f"- command: `{results['command']}`",
        f"- machine: {m['cores']} cores ({m['cpu']}), {m['memory']}, Python {m['python']}, sqlglot {m['sqlglot']}",
        f"- date: {results['date']}, wall time of the whole benchmark: {fmt_s(results['wall_s'])}; 1-minute load "
        f"average {results['load_start']:.1f} at the start, {results['load_end']:.1f} at the end (the benchmark "
        f"itself keeps one core busy; more means other processes shared the machine)",
    ]
    if "synth" in results:
        s = results["synth"]["info"]
        lines += [
            f"- synthetic mesh (seed {s['seed']}): {s['models']} models in {s['projects']} projects, "
            f"{s['sources']} sources, {s['seeds']} seeds, {s['manifest_nodes']} manifest nodes "
            f"(with tests and dbt-loom skeletons), {s['manifest_mb']:.0f} MB of manifests; {s['columns_mean']} columns "
            f"per model on average, {s['wide_models']} models of 100+ columns (max {s['columns_max']}); "
            f"{s['cross_project_refs']} cross-project refs; kinds: "
            + ", ".join(f"{k} {v}" for k, v in s["kinds"].items()),
        ]
    lines += ["", "## Full column lineage", "",
              "| mesh | models | cold | cold models/s | warm, same process | warm, new cache object (disk) "
              "| naive models/s | cold vs naive | peak RSS (cold) | traced peak (warm) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, title in (("synth", "synthetic"), ("examples", "examples/ (real dbt)")):
        if label not in results:
            continue
        r = results[label]
        lin, mem = r["lineage"], r["memory"]
        cold, wm, wd = lin["cold"], lin["warm_memory"], lin["warm_disk"]
        nf = naive_figures(r)
        n = cold["models"]
        naive_cell = (f"{fmt_rate(nf['naive_rate_mesh'])} (est.)" if nf and nf["n"] < n else
                      fmt_rate(nf["naive_rate_mesh"]) if nf else "n/a")
        speed = f"**{nf['speedup_cold']:.0f}x**" if nf else "n/a"
        lines.append(
            f"| {title} | {n} | {fmt_s(cold['seconds'])} | **{fmt_rate(n / cold['seconds'])}** "
            f"| {fmt_s(wm['seconds'])} ({fmt_rate(n / wm['seconds'])}/s) "
            f"| {fmt_s(wd['seconds'])} ({fmt_rate(n / wd['seconds'])}/s) | {naive_cell} | {speed} "
            f"| {cold['rss_mb']:.0f} MB | {mem['traced_peak_mb']:.0f} MB |")
    lines += [""]
    for label in ("synth", "examples"):
        if label not in results:
            continue
        r = results[label]
        cold = r["lineage"]["cold"]
        nf = naive_figures(r)
        st = ", ".join(f"{k} {v}" for k, v in sorted(cold["statuses"].items()))
        lines.append(f"- **{label}**: cold run parsed {cold['parsed']} models ({cold['cache_hits']} identical SQL texts "
                     f"hit the cache), of which SQL tracing {fmt_s(cold['trace_seconds'])}, GC {fmt_s(cold['gc_s'])}; "
                     f"lineage status: {st}; loading the mesh first: "
                     + ", ".join(f"{k} {fmt_s(v)}" for k, v in r["lineage"]["load"].items())
                     + f"; RSS before any work {r['lineage']['rss_baseline_mb']:.0f} MB.")
        if nf:
            sample_note = ("every model" if nf["n"] >= cold["models"] else
                           f"a seeded random sample of {nf['n']} models"
                           + (" (stopped by the naive time budget)" if nf["budget_hit"] else ""))
            lines.append(
                f"  Naive (`sqlglot.lineage.lineage` once per column, `bench/naive.py`) on {sample_note}: "
                f"{fmt_s(nf['naive_sample_s'])} vs {fmt_s(nf['ours_sample_s'])} for the one-pass lineage on the same models "
                f"(**{nf['ratio_sample']:.0f}x**; {fmt_rate(nf['naive_rate_sample'])} vs {fmt_rate(nf['ours_rate_sample'])} "
                f"models/s; slowest naive model {fmt_s(nf['max_naive_s'])}, widest {nf['max_cols']} columns). "
                f"Same upstream columns in {nf['agreement']} columns; {nf['failures']} models the naive way could not trace."
                + ("" if nf["n"] >= cold["models"] else
                   f" Extrapolated to the mesh: {fmt_s(nf['naive_mesh_s_ratio'])} (sample ratio x the mesh's measured "
                   f"tracing time; a plain mean-per-model extrapolation gives {fmt_s(nf['naive_mesh_s_mean'])})."))
    lines += ["", "## A pull request touching one model, after the first run (compiles excluded)", "",
              "`analysis.pipeline.analyze()` itself, unmodified, on a PR that edits one model of the first "
              "project, every other project downstream. \"After the first run\": the lineage cache holds the "
              "cold run of the base (above), and the compile cache holds both worlds' manifests, so the dbt "
              "compiles are cache hits (their time is shown and excluded from the total; for the synthetic mesh "
              "the first run was fed the generated manifests instead of running dbt). Each function `analyze` "
              "calls is timed on its own (time in the functions it calls excluded; `load_manifest` is then the "
              "file read + `json.load`), GC pauses are charged to the function running. The compiles run as a graph on threads: their "
              "rows add up the threads' times, and the total leaves out `compile_worlds`' wall time, callees "
              "included. \"first\" is the first run "
              "in a fresh process; \"median\" over the repetitions that follow (warm interpreter), on the same "
              "cache (what a run writes is deleted after it). Rows under 0.5 ms are left out.", ""]
    for label in ("synth", "examples"):
        if label not in results:
            continue
        for pr in results[label]["prs"]:
            runs = pr["runs"]
            first = runs[0]
            rest = runs[1:] or runs
            med = {k: statistics.median(r["seconds"].get(k, 0.0) for r in rest) for k in first["seconds"]}
            med_total = statistics.median(r["total"] for r in rest)
            info = pr["info"]
            lin = info["lineage"]
            base, head = lin.get("mesh_lineage (base)", {}), lin.get("mesh_lineage (head)", {})
            goal = "met" if first["total"] < GOAL_PR_S else "**not met**"
            changes = ", ".join(f"{c['node']} ({c['category']})" for c in info["changes"])
            lines += [
                f"### {label}: {pr['what']}",
                "",
                f"{pr['why']}. Re-traced (cache misses): {base.get('parsed', '?')} models of the base world, "
                f"{head.get('parsed', '?')} of the head world, of {head.get('models', '?')} models; the rest from the "
                f"cache. Report: {info['conclusion']}; changed: {changes or 'nothing'}; {info['impacted_nodes']} "
                f"impacted nodes in {info['impacted_projects']} projects "
                f"({', '.join(f'{k} {v}' for k, v in sorted(info['severities'].items())) or 'none'}). "
                f"Peak RSS {pr['rss_mb']:.0f} MB"
                + (f", tracemalloc peak {pr['traced_peak_mb']:.0f} MB." if "traced_peak_mb" in pr else "."),
                "",
                "| phase (function analyze calls) | calls | first run | of which GC | median |",
                "|---|---:|---:|---:|---:|",
            ]
            for k, v in first["seconds"].items():
                if v < 0.0005 and med[k] < 0.0005:
                    continue  # helpers that take no time
                lines.append(f"| {k} | {first['calls'].get(k, '')} "
                             f"| {v:.3f} s | {first['gc'].get(k, 0.0):.3f} s | {med[k]:.3f} s |")
            lines.append(f"| **total, compiles excluded** | | **{first['total']:.3f} s** "
                         f"| {sum(first['gc'].values()):.3f} s | **{med_total:.3f} s** |")
            if pr.get("missing"):
                lines.append(f"\n(not found, so not timed on their own: {', '.join(pr['missing'])})")
            lines += ["", f"Goal < {GOAL_PR_S:g} s: {goal}."
                      + (f" Full profile: `{pr['profile_file']}`." if pr.get("profile_file") else ""), ""]
            if first["total"] >= GOAL_PR_S and pr.get("profile_top"):
                lines += ["<details><summary>cProfile of one run</summary>", "",
                          "Top functions by own time:", "", "| function | calls | own | cumulative |", "|---|---:|---:|---:|"]
                for row in pr["profile_top"][:12]:
                    lines.append(f"| `{row['function']}` | {row['calls']:,} | {row['tottime']:.3f} s | {row['cumtime']:.3f} s |")
                lines += ["", "analysis/ functions by cumulative time:", "", "| function | calls | cumulative |",
                          "|---|---:|---:|"]
                for row in pr["profile_cumulative"][:20]:
                    lines.append(f"| `{row['function']}` | {row['calls']:,} | {row['cumtime']:.3f} s |")
                lines += ["", "</details>", ""]
    lines += ["## Goals", ""]
    for label in ("synth", "examples"):
        if label not in results:
            continue
        nf = naive_figures(results[label])
        if nf:
            ok = nf["speedup_cold"] >= GOAL_SPEEDUP
            lines.append(f"- {label}: cold full lineage vs naive: {nf['speedup_cold']:.0f}x "
                         f"(goal >= {GOAL_SPEEDUP:g}x): {'met' if ok else '**not met**'}")
        for pr in results[label]["prs"]:
            t = pr["runs"][0]["total"]
            lines.append(f"- {label}: PR `{pr['name']}` re-analysed in {t:.2f} s (goal < {GOAL_PR_S:g} s): "
                         f"{'met' if t < GOAL_PR_S else '**not met**'}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=5000, help="models in the synthetic mesh (all projects)")
    parser.add_argument("--projects", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--naive-sample", type=int, default=50, help="models timed the naive way")
    parser.add_argument("--naive-budget", type=float, default=150.0,
                        help="stop the naive sample after this many seconds of naive work")
    parser.add_argument("--pr-repeat", type=int, default=2, help="repetitions of each PR after the first run")
    parser.add_argument("--profile-always", action="store_true",
                        help="profile every PR run (default: only those over the 1 s goal)")
    parser.add_argument("--quick", action="store_true",
                        help="500 models, 3 projects, naive sample 10 (budget 8 s), no PR repetition and no "
                             "tracemalloc of the PR runs: about a minute")
    parser.add_argument("--no-examples", action="store_true", help="skip examples/ (needs dbt; ~20 s the first time)")
    parser.add_argument("--no-synth", action="store_true", help="only the example projects")
    parser.add_argument("--examples-cache", default=os.path.join(ROOT, "bench", "results", "cache"),
                        help="meshdiff cache dir for the example compiles (kept between runs)")
    parser.add_argument("--work", help="work directory (default: a temporary one, removed at the end)")
    parser.add_argument("--out", default=os.path.join("bench", "results", "latest.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.projects = min(args.models, 500), min(args.projects, 3)
        args.naive_sample, args.naive_budget, args.pr_repeat = min(args.naive_sample, 10), min(args.naive_budget, 8), 0
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    started = time.perf_counter()
    work = args.work or tempfile.mkdtemp(prefix="meshdiff-bench-")
    os.makedirs(work, exist_ok=True)
    results_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(results_dir, exist_ok=True)
    results: dict = {"command": command.strip(), "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
                     "args": vars(args), "load_start": os.getloadavg()[0]}
    try:
        if not args.no_synth:
            files, info, prs = write_synth(args, work)
            results["synth"] = measure("synth", files, prs, os.path.join(work, "cache-synth"), args, results_dir)
            results["synth"]["info"] = info
        if not args.no_examples:
            log("examples: compiling with mesh_at_rest (real dbt; cached after the first time)")
            compiled = in_child(compile_examples, args.examples_cache)
            log(f"examples: compiled in {compiled['seconds']:.1f} s")
            cache_root = os.path.join(work, "cache-examples")
            os.makedirs(os.path.join(args.examples_cache, "compile"), exist_ok=True)
            os.makedirs(cache_root, exist_ok=True)
            # the PR runs reuse the kept compile cache, and start from an empty lineage cache
            os.symlink(os.path.abspath(os.path.join(args.examples_cache, "compile")), os.path.join(cache_root, "compile"))
            ex_args = argparse.Namespace(**{**vars(args), "naive_sample": 10**6, "naive_budget": 10**6})
            results["examples"] = measure("examples", compiled["files"], [examples_pr(work)], cache_root, ex_args,
                                          results_dir)
            results["examples"]["compile_s"] = compiled["seconds"]
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    results["wall_s"] = time.perf_counter() - started
    results["load_end"] = os.getloadavg()[0]
    text = render(results)
    print(text)
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(text)
    with open(os.path.splitext(args.out)[0] + ".json", "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, default=str)
    log(f"wrote {args.out} in {results['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
