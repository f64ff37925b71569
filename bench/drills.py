"""The App under faults and load: drills with real processes, figures in a table.

    python -m bench.drills                    # everything: about 15 minutes on 2 cores
    python -m bench.drills --only load,slow   # some drills (load, fuzz, slow, kill, redis)
    python -m bench.drills --rates 50,100,200 --seconds 25 --fuzz 10000 --out bench/results/drills.md

Each drill starts what an operator runs (``tests/app_rig.py``): gunicorn as the README runs it,
real Celery workers, a redis-server of its own (killed and restarted by the drills), and the
stand-in GitHub (``tests/standin/``, needs ``npm ci --prefix tests/standin``) with the example
mesh. The drills themselves are in ``tests/app_drills.py``, whose cores are also end-to-end
tests (``tests/test_e2e_drills.py``). The load figures need a quiet machine: the load average
at the start and the end is printed with them.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

GOALS = {"load_p99_ms": 50.0, "kill_s": 180.0, "slow_added_ms": 100.0}


def _uptime() -> str:
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "?"


@contextlib.contextmanager
def _rig(tmp: str, name: str, **kw):
    """A rig (tests/app_rig.py) with gunicorn running, stopped at the end."""
    from tests.app_rig import Rig

    rig = Rig(Path(tmp) / name, **kw)
    try:
        rig.start_web()
        yield rig
    finally:
        rig.stop()


def _ok(flag: bool) -> str:
    return "yes" if flag else "**NO**"


def _load_row(r: dict, seconds: float) -> list[str]:
    once = r["queued_twice"] == 0 and r["lost"] == 0 and r["queued"] == r["distinct"]
    return [f"webhook, {r['rate']:g} signed deliveries/s for {seconds:g} s ({r['sent']}, "
            f"{r['sent'] - r['distinct']} redeliveries)",
            f"p50 {r['p50_ms']:.1f} / p95 {r['p95_ms']:.1f} / p99 {r['p99_ms']:.1f} ms (max {r['max_ms']:.0f}); "
            f"web CPU {r['web_cpu_ms_per_delivery']:.2f} ms/delivery; {r['queued']} queued, {r['queued_twice']} "
            f"twice, {r['lost']} lost, {r['refused_503']} answered 503",
            f"p99 < {GOALS['load_p99_ms']:g} ms at 200/s, each queued once",
            _ok(once and (r["rate"] < 200 or r["p99_ms"] < GOALS["load_p99_ms"]))]


def _fuzz_rows(r: dict, big: int) -> list[list[str]]:
    return [[f"{r['sent']:,} fuzzed signed requests", f"answers {r['statuses']}; {r['five_xx']} 5xx, "
             f"{r['queued']} jobs queued, {r['invalid_jobs']} invalid", "0 answered 5xx, 0 invalid jobs queued",
             _ok(r["five_xx"] == 0 and r["invalid_jobs"] == 0)],
            ["chunked body of 26 MB, unsigned", f"answered {big}", "413 before verification", _ok(big == 413)]]


def _slow_row(r: dict) -> list[str]:
    return [f"{r['stalled']} stalled clients (headers + 100 bytes, then nothing), {r['probes']} probes at 10/s",
            f"probes p50 {r['during_p50_ms']:.1f} ms (max {r['during_max_ms']:.0f}) vs {r['baseline_p50_ms']:.1f} "
            f"(max {r['baseline_max_ms']:.0f}) without: {r['added_ms']:+.1f} ms at p99; probes "
            f"{r['probe_statuses']}, stalled {r['slow_statuses']}",
            f"others delayed < {GOALS['slow_added_ms']:g} ms",
            _ok(r["added_ms"] < GOALS["slow_added_ms"] and r["probe_statuses"] == {202: r["probes"]})]


def _kill_row(r: dict) -> list[str]:
    return ["whole worker SIGKILLed mid-analysis, a new one started at once (same name)",
            f"run completed {r['completed_s']:.0f} s after the new worker's start; {r['runs']} check run "
            f"({'the same' if r['same_run'] else 'ANOTHER'}), {r['comments']} comment, {r['conclusion']}; "
            f"work dirs left {r['work_dirs_left']} (were {len(r['work_dirs_after_kill'])})",
            "< 180 s, exactly one check run and one comment",
            _ok(r["killed_mid_analysis"] and r["completed_s"] < GOALS["kill_s"] and r["runs"] == 1
                and r["same_run"] and r["comments"] == 1 and r["work_dirs_left"] == 0)]


def _redis_row(r: dict) -> list[str]:
    return ["Redis restarted without persistence: one job running, one queued",
            f"{r['prs_with_a_run']}/2 PRs completed ({r['all_prs_completed_s']:.0f} s after the restart), "
            f"conclusions {r['conclusions']}, {r['false_superseded']} false superseded, comments {r['comments']}",
            "no false \"superseded\", every PR ends with a check run",
            _ok(r["false_superseded"] == 0 and r["prs_with_a_run"] == 2)]


def run(only: set[str], rates: list[float], seconds: float, fuzz_n: int, tmp: str) -> tuple[list[list[str]], dict]:
    from tests import app_drills as drills

    rows: list[list[str]] = []
    raw: dict = {}
    if only & {"load", "fuzz", "slow"}:
        with _rig(tmp, "web", mesh=False) as rig:
            if "load" in only:
                drills.load(rig, rate=20, seconds=3)  # warm up both gunicorn workers
                for rate in rates:
                    raw[f"load_{int(rate)}"] = r = drills.load(rig, rate=rate, seconds=seconds)
                    rows.append(_load_row(r, seconds))
            if "fuzz" in only:
                raw["fuzz"] = r = drills.fuzz(rig, fuzz_n)
                raw["chunked_26mb"] = big = drills.oversized_chunked(rig)
                rows += _fuzz_rows(r, big)
            if "slow" in only:
                raw["slow"] = r = drills.slow_clients(rig)
                rows.append(_slow_row(r))
    for name, drill, row in (("kill", drills.worker_kill, _kill_row), ("redis", drills.redis_restart, _redis_row)):
        if name in only:
            with _rig(tmp, name) as rig:
                r = drill(rig)
            raw[name] = {k: v for k, v in r.items() if k != "log"}
            rows.append(row(r))
    return rows, raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--only", default="load,fuzz,slow,kill,redis")
    parser.add_argument("--rates", default="50,100,200")
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--fuzz", type=int, default=10_000)
    parser.add_argument("--out", default="bench/results/drills.md")
    args = parser.parse_args(argv)
    only = {o.strip() for o in args.only.split(",") if o.strip()}
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    before, started = _uptime(), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="meshdiff-drills-") as tmp:
        rows, raw = run(only, rates, args.seconds, args.fuzz, tmp)
    after = _uptime()
    lines = [f"# meshdiff drills ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
             f"load average {before} at the start, {after} at the end, {time.monotonic() - started:.0f} s)", "",
             "| drill | measured | goal | met |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(report)
        with open(os.path.splitext(args.out)[0] + ".json", "w", encoding="utf-8") as handle:
            json.dump({"load_average": [before, after], **raw}, handle, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
