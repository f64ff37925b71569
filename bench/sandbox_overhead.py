"""What the sandbox costs: the same command fenced in and not (``python -m bench.sandbox_overhead``).

Two measures, alternating fenced and unfenced runs so that machine load hits both alike:

- a process that does nothing (``python -I -S -c pass``): the fixed cost of making the sandbox
  (the user namespace meshdiff makes as root, bubblewrap's mounts, the limits);
- a real ``dbt compile`` of ``examples/shop`` (cold compile cache each time): what it adds to the
  work it fences.

Prints medians and the host's 1-minute load. A benchmark, not a test: it never fails.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _empty_process(fenced: bool) -> float:
    from analysis.dbt import sandbox
    from analysis.dbt.fence import Fence

    work = tempfile.mkdtemp(prefix="meshdiff-bench-")
    try:
        fence = Fence(writable=work, uid=sandbox.sandbox_uid(), gid=sandbox.sandbox_uid()) if fenced else None
        start = time.perf_counter()
        result = sandbox.run([sys.executable, "-I", "-S", "-c", "pass"], cwd=work, env=sandbox.sandbox_env(work),
                             timeout_s=120, fence=fence)
        assert result.ok, result.output
        return time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _compile(fenced: bool, project_dir: str) -> float:
    from analysis.dbt import compile as dbt
    from analysis.dbt.sandbox import SandboxConfig

    cache = tempfile.mkdtemp(prefix="meshdiff-bench-cache-")
    try:
        start = time.perf_counter()
        result = dbt.compile_project(dbt.read_project(project_dir), {}, cache_dir=cache,
                                     sandbox=SandboxConfig(policy="required" if fenced else "off"))
        assert result.ok, result.error
        return time.perf_counter() - start
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--empty", type=int, default=20, help="runs of the empty process each way (default 20)")
    parser.add_argument("--compiles", type=int, default=3, help="dbt compiles each way (default 3)")
    args = parser.parse_args(argv)
    from analysis.dbt import sandbox

    status = sandbox.probe()
    if not status.ok:
        sys.exit(f"this host cannot make the sandbox: {status.reason}")
    times: dict[str, list[float]] = {k: [] for k in ("empty fenced", "empty bare", "compile fenced", "compile bare")}
    for _ in range(args.empty):
        times["empty fenced"].append(_empty_process(True))
        times["empty bare"].append(_empty_process(False))
    source = tempfile.mkdtemp(prefix="meshdiff-bench-src-")
    try:
        project = os.path.join(source, "shop")
        shutil.copytree(os.path.join(ROOT, "examples", "shop"), project,
                        ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*"))
        for _ in range(args.compiles):
            times["compile fenced"].append(_compile(True, project))
            times["compile bare"].append(_compile(False, project))
    finally:
        shutil.rmtree(source, ignore_errors=True)
    print(f"sandbox: {status.reason}")
    print(f"load (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| run | fenced (median) | unfenced (median) | added |")
    print("|---|---|---|---|")
    for what, label in (("empty", f"empty process (x{args.empty})"), ("compile", f"dbt compile examples/shop (x{args.compiles})")):
        fenced, bare = statistics.median(times[f"{what} fenced"]), statistics.median(times[f"{what} bare"])
        print(f"| {label} | {fenced:.3f} s | {bare:.3f} s | {fenced - bare:+.3f} s |")


if __name__ == "__main__":
    main()
