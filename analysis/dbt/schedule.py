"""The compiles of one analysis as a graph: each starts as soon as the compiles it reads are done.

An analysis compiles the upstream projects, the changed project at base and at head, and each
downstream project against the base and against the head. Most of these do not wait for each
other: a downstream project's compile against the base needs only the base compiles of the
projects it reads, and two downstream projects that do not read each other are independent. :func:`run_graph` runs each
job in its own thread once its dependencies are done; the dbt processes themselves are
limited to one per core by :mod:`analysis.dbt.compile` (``MESHDIFF_COMPILE_SLOTS``), so a job
whose compile is a cache hit never waits behind one that runs dbt.

The head compile of the changed project runs after its base compile and starts from dbt's parse
state of it (:mod:`analysis.dbt.partialparse`): dbt then parses only the files the PR changed.
With the base cached, the head starts at once. With nothing cached it waits for the base; that
costs less than running the two side by side on two cores: a seeded head is dbt's import and a
few files, its import runs ahead while the base compiles (:mod:`analysis.dbt.prestart`), and the
other core is free for the projects that read the base (on the critical path whenever the PR
leaves the changed project's interface as it was). With partial parsing turned off
(``MESHDIFF_PARTIAL_PARSE=0``) the two run side by side.

Two jobs with the same compile key (a downstream project whose upstream interfaces the PR
leaves unchanged is the same compile against the base and the head, see
:mod:`analysis.dbt.interface`) do not both run dbt: the second waits for the first's cache
slot and reads its result.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from analysis.dbt import partialparse, versions
from analysis.errors import AnalysisError


@dataclass(frozen=True)
class Job:
    """``run(done)`` once every job of ``after`` is done; ``done`` maps those jobs to their results."""

    run: Callable[[Mapping[Hashable, Any]], Any]
    after: tuple[Hashable, ...] = field(default=())


def run_graph(jobs: Mapping[Hashable, Job]) -> dict[Hashable, Any]:
    """Run ``jobs`` (a DAG: each job's ``after`` names jobs listed *before* it) and return their
    results, in the order of ``jobs``. A job that raises stops the jobs waiting for it, and the
    first exception (in the order of ``jobs``) is raised once every started job has ended."""
    futures: dict[Hashable, Future] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(jobs)), thread_name_prefix="meshdiff-compile") as pool:
        for key, job in jobs.items():
            missing = [d for d in job.after if d not in futures]
            if missing:
                raise ValueError(f"job {key!r} runs after {missing!r}, which are not listed before it")
            futures[key] = pool.submit(_when_ready, job, {d: futures[d] for d in job.after})
    return {key: future.result() for key, future in futures.items()}


def _when_ready(job: Job, after: dict[Hashable, Future]) -> Any:
    done = {key: future.result() for key, future in after.items()}  # re-raises a dependency's error
    return job.run(done)


def serialized(observer: Callable | None) -> Callable | None:
    """``observer`` called by one thread at a time (compiles report progress from their threads)."""
    if observer is None:
        return None
    lock = threading.Lock()

    def call(event) -> None:
        with lock:
            observer(event)

    return call


# -- the compiles of an analysis ----------------------------------------------------------------

@dataclass
class Worlds:
    """Every compile of an analysis: the world before the PR and the world after it."""

    #: project -> its compile in the world before (upstream, base of the changed project, downstream)
    base: dict[str, Any]
    #: project -> its compile in the world after (a downstream project that stops compiling: its base)
    head: dict[str, Any]
    #: downstream project -> dbt's error, when it compiles against the base but not against the head
    head_failures: dict[str, str] = field(default_factory=dict)
    #: messages of downstream projects that do not compile even against the base (left out)
    errors: list[str] = field(default_factory=list)


#: ``compile_one(project file, {upstream name: result}, side label) -> CompileResult``
CompileOne = Callable[..., Any]


def compile_worlds(changed, base, upstream: Sequence, downstream: Sequence, compile_one: CompileOne, *,
                   base_ref: str, head_ref: str, seed_head: bool | None = None) -> Worlds:
    """Compile the mesh of an analysis as a graph (see the module docstring).

    ``changed``/``base``: the changed project's file at head and at base (``None``: not a dbt
    project at base); ``upstream``: project files it reads, in dependency order (each compiled
    once, as is); ``downstream``: the projects that read it, in dependency order. Each compile
    is given the compiles of the projects its dbt-loom config names, from its own world.
    ``seed_head`` (default: :func:`analysis.dbt.partialparse.enabled`): the head compile runs
    after the base's and gets it as ``seed=`` when it left a parse state.
    Raises :class:`AnalysisError` when an upstream project, the head, or the base of the changed
    project does not compile."""
    name = changed.name
    ups = {u.name for u in upstream}
    downs = {d.name for d in downstream}
    jobs: dict[Hashable, Job] = {}

    def world_key(world: str, project: str) -> Hashable:
        return ("up", project) if project in ups else (world, project)

    def reads(project_file, seen: set[str]) -> list[str]:
        return [n for n in project_file.upstream_names if n in seen]

    def view(world: str, project: str, done: Mapping) -> Any:
        """``project``'s compile in ``world`` (``None``: it is not part of that world)."""
        if project in ups:
            return done[("up", project)]
        if world == "base" and base is None and project == name:
            return None
        found = done.get((world, project))
        if world == "head" and project in downs:
            before = done.get(("base", project)) if base is not None else None
            if before is not None and not before.ok:
                return None  # not in either world
            if found is None or not found.ok:
                return before
        if world == "base" and found is not None and not found.ok:
            return None
        return found

    seen: set[str] = set()
    for unit in upstream:
        names = reads(unit, seen)

        def up(done, unit=unit, names=names):
            result = compile_one(unit, {n: done[("up", n)] for n in names}, "as is")
            if not result.ok:
                raise AnalysisError(f"upstream project {unit.name} ({unit.path}) does not compile",
                                    detail=result.error, hint="fix it or leave it out of --upstream")
            return result

        jobs[("up", unit.name)] = Job(up, tuple(("up", n) for n in names))
        seen.add(unit.name)
    names = reads(changed, seen)
    after_ups = tuple(("up", n) for n in names)

    def base_compiled(done, names=names) -> None:
        """Raise the base's error once it is known not to compile (the head compiled first, its
        own error wins: it is what the PR's author must fix)."""
        before = done.get(("base", name))
        if before is not None and not before.ok:
            raise AnalysisError(f"{name} does not compile at {base_ref}",
                                detail=versions.with_hint(before.error, {n: done[("up", n)] for n in names
                                                                         if ("up", n) in done}),
                                hint="the base must compile to compare against it")

    def head_job(done, names=names):
        ups = {n: done[("up", n)] for n in names}
        before = done.get(("base", name))  # only when the head runs after it (seed_head)
        seed = {"seed": before} if before is not None and before.ok and before.partial_parse else {}
        result = compile_one(changed, ups, f"head ({head_ref})", **seed)
        if not result.ok:  # a ref to an upstream version it lacks: the versions it has (versions.with_hint)
            raise AnalysisError(f"{name} does not compile at {head_ref} ({changed.path})",
                                detail=versions.with_hint(result.error, ups),
                                hint="fix the error above; a project that does not compile cannot be analysed")
        base_compiled(done)
        return result

    def base_job(done, names=names):  # its failure is raised by the jobs after it (base_compiled)
        return compile_one(base, {n: done[("up", n)] for n in names}, f"base ({base_ref})")

    if seed_head is None:
        seed_head = partialparse.enabled()
    if base is not None:
        jobs[("base", name)] = Job(base_job, after_ups)
    jobs[("head", name)] = Job(head_job, after_ups + ((("base", name),) if base is not None and seed_head else ()))
    seen.add(name)
    for unit in downstream:
        names = reads(unit, seen)
        deps_base = tuple(world_key("base", n) for n in names if n in ups or n in downs or base is not None)
        deps_head = tuple(dict.fromkeys([world_key("head", n) for n in names]
                                        + [("base", n) for n in names if n in downs and base is not None]))

        def side(world: str, label: str, unit=unit, names=names):
            def run(done):
                base_compiled(done)  # nothing to compare against: no downstream compile
                given = {n: r for n in names if (r := view(world, n, done)) is not None}
                return compile_one(unit, given, label)
            return run

        if base is not None:
            jobs[("base", unit.name)] = Job(side("base", "against base"), deps_base)
        jobs[("head", unit.name)] = Job(side("head", "against head"), deps_head)
        seen.add(unit.name)

    done = run_graph(jobs)
    base_compiled(done)
    worlds = Worlds(base={n: done[("up", n)] for n in ups}, head={n: done[("up", n)] for n in ups})
    if base is not None:
        worlds.base[name] = done[("base", name)]
    worlds.head[name] = done[("head", name)]
    for unit in downstream:
        d = unit.name
        before = done.get(("base", d))
        after = done[("head", d)]
        if before is not None and not before.ok:
            worlds.errors.append(
                f"{d} does not compile against {name}@{base_ref} (before this change), so its impact cannot be "
                f"analysed:\n{before.error}\n→ fix {d} on its own branch first")
            continue
        worlds.base[d] = before or after
        if after.ok:
            worlds.head[d] = after
        else:
            worlds.head_failures[d] = after.error
            worlds.head[d] = before  # keep its graph: it is what breaks
    return worlds
