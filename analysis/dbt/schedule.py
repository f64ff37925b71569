"""The compiles of one analysis as a graph: each starts as soon as the compiles it reads are done.

An analysis compiles the upstream projects, the changed project at base and at head, and each
downstream project against the base and against the head. Most of these do not wait for each
other: the base and the head of the changed project are independent, a downstream project's
compile against the base needs only the base compiles of the projects it reads, and two
downstream projects that do not read each other are independent. :func:`run_graph` runs each
job in its own thread once its dependencies are done; the dbt processes themselves are
limited to one per core by :mod:`analysis.dbt.compile` (``MESHDIFF_COMPILE_SLOTS``), so a job
whose compile is a cache hit never waits behind one that runs dbt.

Two jobs with the same compile key (a downstream project whose upstream interfaces the PR
leaves unchanged is the same compile against the base and the head, see
:mod:`analysis.dbt.interface`) do not both run dbt: the second waits for the first's cache
slot and reads its result.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


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
