"""One cache folder shared by analyses running at once (two App workers, or machines on a shared
file system): nobody reads half a record, dbt runs once per compile key, and the answers are
those of an analysis alone.

Two processes analyse the same PR of the example mesh at the same time on one empty cache
(real, sandboxed dbt compiles); then a third analysis on that cache must run no dbt at all and
give the same report. No temporary folder or half slot may be left in the cache.
"""
import json
import multiprocessing
import os

import pytest

from bot.demo import analyze_branch, commit_change, init_mesh_repo
from tests.scenarios import SCENARIOS

pytestmark = pytest.mark.dbt

WAIT = 3600  # a bound against a hang only: compiles on a busy machine take minutes


def _analysis(repo: str, cache: str, out) -> None:
    compiles = []

    def progress(step):
        if step.stage == "compile" and step.state == "end":
            compiles.append(step.cached)

    report = analyze_branch(repo, "rename", cache_dir=cache, progress=progress)
    out.put((_comparable(report.to_dict()), compiles))


def _comparable(report: dict) -> dict:
    report.pop("timings", None)
    return json.loads(json.dumps(report, sort_keys=True, default=str))


def test_two_analyses_at_once_on_one_cache(tmp_path):
    repo = init_mesh_repo(None, str(tmp_path / "repo"))
    commit_change(repo, "rename", SCENARIOS["rename-public-column"], "rename")
    cache = str(tmp_path / "cache")
    spawn = multiprocessing.get_context("spawn")
    out = spawn.Queue()
    procs = [spawn.Process(target=_analysis, args=(repo, cache, out)) for _ in range(2)]
    for proc in procs:
        proc.start()
    try:
        (first, compiles_a), (second, compiles_b) = out.get(timeout=WAIT), out.get(timeout=WAIT)
    finally:
        for proc in procs:
            proc.join(60)
            if proc.is_alive():
                proc.kill()
    assert not first.get("errors"), first.get("errors")
    assert first == second
    assert first["conclusion"] == "failure" and first["impacts"]  # the rename breaks consumers
    # each compile key ran dbt once between the two (the other waited for its slot and read it)
    slots = [os.path.join(d, s) for d, _, files in os.walk(os.path.join(cache, "compile")) for s in files
             if s == "status.json"]
    ran = compiles_a.count(False) + compiles_b.count(False)
    assert ran == len(slots), (compiles_a, compiles_b, len(slots))

    third, compiles_c = _alone(repo, cache)
    assert third == first
    assert compiles_c and all(compiles_c), "every compile of a third analysis is a cache hit"
    leftovers = [os.path.join(d, n) for d, dirs, files in os.walk(cache) for n in dirs + files
                 if ".tmp-" in n or n.startswith(".discard-")]
    assert not leftovers
    for status in slots:
        slot = os.path.dirname(status)
        assert os.path.isfile(os.path.join(slot, "manifest.json"))


def _alone(repo: str, cache: str):
    queue = multiprocessing.get_context("spawn").Queue()
    _analysis(repo, cache, queue)
    return queue.get(timeout=10)
