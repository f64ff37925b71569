"""Compiles as a graph (analysis.dbt.schedule) and one compile per cache key (analysis.dbt.compile):
independent jobs run at the same time, a job sees what it runs after, an error stops what waits
for it, and two compiles of one key (threads or processes) run dbt once. No dbt runs here: the
function that runs it is replaced."""
import json
import multiprocessing
import os
import threading

import pytest

from analysis.dbt import compile as dbt
from analysis.dbt.sandbox import SandboxConfig
from analysis.dbt.schedule import Job, run_graph
from tests.paths import ROOT

EXAMPLES = os.path.join(ROOT, "examples")

WAIT = 300  # only a bound against a hang: a busy machine is slower, never wrong


def test_independent_jobs_run_at_the_same_time_and_dependents_see_their_results():
    both = threading.Barrier(2, timeout=WAIT)  # broken (an error) unless both jobs wait at once

    def meet(name):
        def run(done):
            both.wait()
            return name
        return run

    results = run_graph({
        "base": Job(meet("base")),
        "head": Job(meet("head")),
        "down": Job(lambda done: sorted(done.items()), after=("base", "head")),
    })
    assert results == {"base": "base", "head": "head", "down": [("base", "base"), ("head", "head")]}


def test_an_error_stops_the_jobs_that_wait_for_it():
    ran = []

    def fail(done):
        raise RuntimeError("head does not compile")

    with pytest.raises(RuntimeError, match="head does not compile"):
        run_graph({"head": Job(fail), "base": Job(lambda d: ran.append("base")),
                   "down": Job(lambda d: ran.append("down"), after=("head",))})
    assert ran == ["base"]


def test_a_job_must_follow_what_it_runs_after():
    with pytest.raises(ValueError, match="not listed before it"):
        run_graph({"down": Job(lambda d: 1, after=("head",)), "head": Job(lambda d: 2)})


def fake_compile(calls: list, gate: threading.Event | None = None):
    """A stand-in for dbt: writes a manifest of ``project`` and counts the runs."""
    def run(project, upstream, folders, key, *args):
        calls.append(project.name)
        if gate is not None:
            gate.wait(WAIT)
        manifest = {"metadata": {"project_name": project.name}, "nodes": {}}
        path = os.path.join(folders.out, "accepted-manifest.json")
        with open(path, "w") as handle:
            json.dump(manifest, handle)
        return dbt.CompileResult(project.name, project.path, key, path, True, manifest=manifest)
    return run


def test_two_threads_compiling_one_key_run_dbt_once(tmp_path, monkeypatch):
    calls, gate = [], threading.Event()
    monkeypatch.setattr(dbt, "_run_compile", fake_compile(calls, gate))
    project = dbt.read_project(os.path.join(EXAMPLES, "shop"))
    off = SandboxConfig(policy="off")
    results = []

    def one():
        results.append(dbt.compile_project(project, {}, cache_dir=str(tmp_path), sandbox=off))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    while not calls:  # the first is in dbt; the second waits for its slot
        threading.Event().wait(0.01)
    gate.set()
    for t in threads:
        t.join(WAIT)
    assert calls == ["shop"]
    assert sorted(r.cached for r in results) == [False, True]
    assert results[0].manifest_path == results[1].manifest_path and results[0].ok
    assert results[0].interface == results[1].interface and results[0].interface.startswith("interface:")


def _compile_in_process(cache: str, ready, counter, arrived, out) -> None:
    from analysis.dbt import compile as module

    def run(project, upstream, folders, key, *args):
        with counter.get_lock():
            counter.value += 1
        ready.wait(WAIT)
        return fake_compile([])(project, upstream, folders, key)

    module._run_compile = run
    module._snapshot = lambda *a: None
    project = module.read_project(os.path.join(EXAMPLES, "shop"))
    with arrived.get_lock():
        arrived.value += 1
    out.put(module.compile_project(project, {}, cache_dir=cache, sandbox=SandboxConfig(policy="off")).manifest_path)


def test_two_processes_compiling_one_key_run_dbt_once(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    ready, counter, arrived, out = spawn.Event(), spawn.Value("i", 0), spawn.Value("i", 0), spawn.Queue()
    procs = [spawn.Process(target=_compile_in_process, args=(str(tmp_path), ready, counter, arrived, out))
             for _ in range(2)]
    for proc in procs:
        proc.start()
    try:
        for _ in range(WAIT * 20):
            if counter.value and arrived.value == 2:  # one in "dbt", the other on its way to the slot
                break
            threading.Event().wait(0.05)
        threading.Event().wait(1.0)  # the other process is at the slot's lock by now, or soon is: one run either way
        ready.set()
        paths = [out.get(timeout=WAIT) for _ in procs]
    finally:
        for proc in procs:
            proc.join(WAIT)
            if proc.is_alive():
                proc.kill()
    assert counter.value == 1
    assert paths[0] == paths[1] and os.path.isfile(paths[0])


def test_a_slot_is_published_whole_and_a_broken_one_replaced(tmp_path):
    slot = str(tmp_path / "compile" / "ab" / "abcd")
    os.makedirs(slot)  # a slot left without its status by a crash
    (tmp_path / "m.json").write_text("{}")
    from analysis.dbt.slots import write_slot
    from analysis.store import sealer_for

    sealer = sealer_for(str(tmp_path))
    status = lambda: json.loads(sealer.read(os.path.join(slot, "status.json")))  # noqa: E731
    write_slot(slot, sealer, ok=True, error="", seconds=0.0, interface="interface:1",
               manifest_path=str(tmp_path / "m.json"), manifest=None, project_dir="/x")
    assert status()["interface"] == "interface:1"
    write_slot(slot, sealer, ok=True, error="", seconds=0.0, interface="interface:2",
               manifest_path=str(tmp_path / "m.json"), manifest=None, project_dir="/x")
    assert status()["interface"] == "interface:1"  # another writer was first: its slot stays as it is
    assert sorted(os.listdir(os.path.dirname(slot))) == ["abcd"]  # no temporary folder left


# -- the compiles of an analysis -----------------------------------------------------------------

class P:
    """A project file: its name and the projects its dbt-loom config names."""

    def __init__(self, name, *reads, path=None):
        self.name, self.upstream_names, self.path = name, reads, path or f"/{name}"


class R:
    def __init__(self, label, given, ok=True):
        self.label, self.given, self.ok, self.error = label, given, ok, "" if ok else f"{label} failed"
        self.partial_parse = None


def fake(fail=(), barrier=None):
    def compile_one(project, upstream, side, **kw):
        if barrier is not None and side.startswith(("head", "base")):
            barrier.wait()  # the changed project's base and head compile at the same time
        label = f"{project.name}@{side.split(' ')[0] if side != 'as is' else 'up'}"
        given = {n: r.label for n, r in sorted(upstream.items())}
        return R(label, given, ok=label not in fail)
    return compile_one


def test_each_compile_gets_the_compiles_it_reads_from_its_own_world():
    from analysis.dbt.schedule import compile_worlds

    shop, finance, execs, other = P("shop", "core"), P("finance", "shop"), P("exec", "finance", "shop"), P("other", "shop")
    worlds = compile_worlds(shop, P("shop", "core"), [P("core")], [finance, other, execs],
                            fake(barrier=threading.Barrier(2, timeout=WAIT)), base_ref="main", head_ref="pr",
                            seed_head=False)  # side by side (the barrier); a seeded head runs after the base
    assert {n: (r.label, r.given) for n, r in worlds.base.items()} == {
        "core": ("core@up", {}), "shop": ("shop@base", {"core": "core@up"}),
        "finance": ("finance@against", {"shop": "shop@base"}), "other": ("other@against", {"shop": "shop@base"}),
        "exec": ("exec@against", {"finance": "finance@against", "shop": "shop@base"})}
    assert worlds.head["exec"].given == {"finance": "finance@against", "shop": "shop@head"}
    assert worlds.head["finance"].given == {"shop": "shop@head"} and worlds.head["shop"].given == {"core": "core@up"}
    assert list(worlds.base) == ["core", "shop", "finance", "other", "exec"] == list(worlds.head)
    assert not worlds.errors and not worlds.head_failures


def test_a_consumer_that_breaks_keeps_its_base_and_one_that_never_compiled_is_left_out():
    from analysis.dbt.schedule import compile_worlds

    shop, finance, execs = P("shop"), P("finance", "shop"), P("exec", "finance")
    broken = fake(fail={"finance@against"})  # both sides: finance does not compile even at the base

    def head_only(project, upstream, side):
        result = fake()(project, upstream, side)
        if project.name == "finance" and side == "against head":
            result.ok, result.error = False, "finance breaks"
        return result

    worlds = compile_worlds(shop, P("shop"), [], [finance, execs], head_only, base_ref="main", head_ref="pr")
    assert worlds.head_failures == {"finance": "finance breaks"}
    assert worlds.head["finance"] is worlds.base["finance"]
    assert worlds.head["exec"].given == {"finance": worlds.base["finance"].label}  # reads finance's base
    left_out = compile_worlds(shop, P("shop"), [], [finance, execs], broken, base_ref="main", head_ref="pr")
    assert "finance" not in left_out.base and "finance" not in left_out.head
    assert "finance does not compile against shop@main" in left_out.errors[0]
    assert left_out.base["exec"].given == {}  # its upstream is missing: its compile says so


def test_the_changed_project_not_compiling_is_an_error():
    from analysis.dbt.schedule import compile_worlds
    from analysis.errors import AnalysisError

    with pytest.raises(AnalysisError, match="shop does not compile at pr"):
        compile_worlds(P("shop"), P("shop"), [], [P("finance", "shop")], fake(fail={"shop@head"}),
                       base_ref="main", head_ref="pr")
    with pytest.raises(AnalysisError, match="upstream project core"):
        compile_worlds(P("shop", "core"), None, [P("core")], [], fake(fail={"core@up"}), base_ref="main",
                       head_ref="pr")
    worlds = compile_worlds(P("shop"), None, [], [P("finance", "shop")], fake(), base_ref="main", head_ref="pr")
    assert worlds.base["finance"] is worlds.head["finance"] and "shop" not in worlds.base


def test_only_the_head_starts_from_a_parse_state_and_only_from_its_base():
    """dbt's parse state flows from the base to the head, never back: the head is the PR's code,
    and what it leaves must never shape a base compile (a cache entry other PRs read). The head
    runs after its base (cached or not), against the same upstream compiles."""
    from analysis.dbt.schedule import compile_worlds

    seeds, order, lock = {}, [], threading.Lock()

    def compile_one(project, upstream, side, **kw):
        with lock:
            seeds[f"{project.name} {side}"] = kw.get("seed")
            order.append(f"{project.name} {side}")
        result = fake()(project, upstream, side)
        if project.name == "shop" and side.startswith("base"):
            result.partial_parse = "/cache/slot/partial_parse.msgpack"
        result.given_ups = sorted(upstream)
        return result

    shop, base = P("shop", "core"), P("shop", "core")
    worlds = compile_worlds(shop, base, [P("core")], [P("finance", "shop")], compile_one, base_ref="main",
                            head_ref="pr", seed_head=True)
    assert seeds["shop head (pr)"] is worlds.base["shop"]  # the head starts from its base's parse state
    assert order.index("shop base (main)") < order.index("shop head (pr)")
    assert worlds.base["shop"].given_ups == worlds.head["shop"].given_ups == ["core"]
    assert all(seed is None for label, seed in seeds.items() if label != "shop head (pr)")

    def no_state(project, upstream, side, **kw):  # a base without a parse state: no seed
        seeds[f"{project.name} {side}"] = kw.get("seed")
        return fake()(project, upstream, side)

    seeds.clear()
    compile_worlds(shop, base, [P("core")], [], no_state, base_ref="main", head_ref="pr", seed_head=True)
    assert seeds and all(seed is None for seed in seeds.values())


def test_without_partial_parsing_base_and_head_run_side_by_side():
    from analysis.dbt.schedule import compile_worlds

    both = threading.Barrier(2, timeout=WAIT)  # broken (an error) unless both wait at once
    seeds = []

    def compile_one(project, upstream, side, **kw):
        seeds.append(kw.get("seed"))
        if project.name == "shop":
            both.wait()
        result = fake()(project, upstream, side)
        result.partial_parse = "/cache/slot/partial_parse.msgpack"
        return result

    compile_worlds(P("shop"), P("shop"), [], [], compile_one, base_ref="main", head_ref="pr", seed_head=False)
    assert seeds == [None, None]


def test_when_both_fail_the_head_error_is_the_one_reported_and_nothing_downstream_compiles():
    """The head runs after its base; a base that does not compile stops the analysis, but the
    head still compiles first and its own error wins (it is what the PR's author fixes)."""
    from analysis.dbt.schedule import compile_worlds
    from analysis.errors import AnalysisError

    ran = []

    def compile_one(project, upstream, side, **kw):
        ran.append(f"{project.name} {side.split(' ')[0]}")
        return fake(fail={"shop@base", "shop@head"})(project, upstream, side)

    for seed_head in (True, False):
        ran.clear()
        with pytest.raises(AnalysisError, match="shop does not compile at pr"):
            compile_worlds(P("shop"), P("shop"), [], [P("finance", "shop")], compile_one, base_ref="main",
                           head_ref="pr", seed_head=seed_head)
        assert sorted(ran) == ["shop base", "shop head"]  # finance never compiled
    with pytest.raises(AnalysisError, match="shop does not compile at main"):
        compile_worlds(P("shop"), P("shop"), [], [P("finance", "shop")], fake(fail={"shop@base"}), base_ref="main",
                       head_ref="pr", seed_head=True)
    with pytest.raises(AnalysisError, match="shop does not compile at main"):
        compile_worlds(P("shop"), P("shop"), [], [], fake(fail={"shop@base"}), base_ref="main", head_ref="pr",
                       seed_head=False)
