"""Step 2 of an analysis, and of a mesh at rest: each compile told to the observer, run with one
set of terms, and dbt started ahead where it can be.

- :func:`compile_terms`: what every compile of a project in one run is run with (a compile
  and a compile started ahead must agree on it, or the held dbt is not used);
- :func:`compile_one`: one compile, told to ``progress`` as ``<project> <side>``;
- :func:`prestarts_for`: the compiles to start ahead (:mod:`analysis.dbt.prestart`): the
  projects that read a project, as it starts dbt, and the changed project's head as its base
  starts dbt (the head runs after it, from its parse state: :mod:`analysis.dbt.schedule`);
- :func:`compile_at_rest`: every project of a mesh as it is, as a graph (``meshdiff lineage``,
  the App's analysis of a target branch).

The analysis's own graph of two worlds is :func:`analysis.dbt.compile_worlds`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from analysis.dbt import (CompileResult, DbtProjectFile, Job, Prestarts, SandboxConfig, ahead_of, compile_project,
                          run_graph, serialized)
from analysis.errors import AnalysisError
from analysis.progress import Observer, step


def compile_terms(specs: Mapping[str, Any], *, cache_dir: str, sandbox: SandboxConfig | None, timeout_s: float,
                  cache_key: bytes | None = None) -> Callable[[DbtProjectFile], dict]:
    """``terms_of(project_file)``: what every compile of that project (its ``ProjectSpec`` in
    ``specs``, by project name) is run with, as keywords of :func:`~analysis.dbt.compile_project`
    and :func:`~analysis.dbt.ahead_of`."""
    def terms_of(project_file: DbtProjectFile) -> dict:
        spec = specs[project_file.name]
        return {"cache_dir": cache_dir, "timeout_s": timeout_s, "target": spec.target, "sandbox": sandbox,
                "cache_key": cache_key, "env": spec.env, "dbt_vars": spec.vars}
    return terms_of


def compile_one(project: DbtProjectFile, deps: dict, side: str, terms: dict, progress: Observer | None,
                warnings: list[str], seed: CompileResult | None = None,
                prestarts: Prestarts | None = None) -> CompileResult:
    """One compile, told to ``progress`` as ``<project> <side>`` (cached or not, with its time);
    what it left out (dropped dbt-loom entries) joins ``warnings`` once; ``seed``: the compile
    whose parse state dbt may start from (:mod:`analysis.dbt.partialparse`); ``prestarts``: the
    compiles started ahead."""
    with step(progress, "compile", f"{project.name} {side}") as info:
        result = compile_project(project, deps, **terms, seed=seed, prestarts=prestarts)
        info["cached"], info["ok"] = result.cached, result.ok
    warnings.extend(w for w in result.warnings if w not in warnings)
    return result


def prestarts_for(readers: Iterable[DbtProjectFile], terms_of: Callable[[DbtProjectFile], dict],
                  head: DbtProjectFile | None = None) -> Prestarts | None:
    """The compiles of ``readers`` started ahead as the projects they read start dbt, and
    ``head`` (the changed project's, which runs after its base) as its base starts dbt;
    ``None`` when turned off (``MESHDIFF_PRESTART=0``) or there is nothing to start ahead."""
    by_upstream: dict[str, list[DbtProjectFile]] = {}
    for reader in readers:
        for name in reader.upstream_names:
            by_upstream.setdefault(name, []).append(reader)
    if head is not None:  # first: the limit of held compiles never leaves it out
        by_upstream.setdefault(head.name, []).insert(0, head)
    if not by_upstream or not Prestarts.enabled():
        return None

    def make(project_file: DbtProjectFile):
        return ahead_of(project_file, **terms_of(project_file), seeded=project_file is head)

    return Prestarts(make, by_upstream)


def compile_at_rest(files: list[DbtProjectFile], terms_of: Callable[[DbtProjectFile], dict],
                    progress: Observer | None, warnings: list[str]) -> dict[str, CompileResult]:
    """Compile ``files`` (in dependency order) as they are, each once those it reads are done,
    dbt started ahead for the projects that read others; project name -> compile. What the
    compiles left out joins ``warnings`` in the order of ``files``. Raises
    :class:`AnalysisError` for the first project that does not compile."""
    serial = serialized(progress)
    told: dict[str, list[str]] = {f.name: [] for f in files}
    prestarts = prestarts_for(files, terms_of)

    def job(project_file: DbtProjectFile, names: list[str]) -> Job:
        def run(done) -> CompileResult:
            result = compile_one(project_file, {n: done[n] for n in names}, "as is", terms_of(project_file), serial,
                                 told[project_file.name], prestarts=prestarts)
            if not result.ok:
                raise AnalysisError(f"{project_file.name} does not compile ({project_file.path})",
                                    detail=result.error, hint="fix the error above and run again")
            return result
        return Job(run, tuple(names))

    jobs: dict[str, Job] = {}
    for project_file in files:  # each compile once those it reads are done (analysis.dbt.schedule)
        jobs[project_file.name] = job(project_file, [n for n in project_file.upstream_names if n in jobs])
    try:
        return run_graph(jobs)
    finally:
        if prestarts is not None:
            prestarts.close()
        for found in told.values():
            warnings.extend(w for w in found if w not in warnings)
