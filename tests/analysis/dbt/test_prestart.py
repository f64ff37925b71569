"""dbt started ahead of its compile (:mod:`analysis.dbt.prestart`, :func:`analysis.dbt.launch.start`).

- a held command waits for its go, and its time limit counts from the go;
- :class:`Prestarts` starts a project's compile only on a core no dbt run holds, never more than
  its limit, hands a held compile to one compile, and stops what nobody took;
- on real dbt compiles of the example mesh: a downstream compile served by a dbt started ahead
  (before its upstream manifest existed, from a thread that has ended since) gives the same
  manifest as a compile started the usual way, and wrote nothing before it was let go.
"""
import json
import os
import shutil
import sys
import threading
import time

import pytest

from analysis.dbt import compile as dbt
from analysis.dbt import launch
from analysis.dbt.prepare import ahead_of
from analysis.dbt.prestart import Prestarts, enabled
from analysis.dbt.snapshot import snapshot_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EXAMPLES = os.path.join(ROOT, "examples")

HANG = 600

HELD = "import sys\nline = sys.stdin.readline()\nprint('ran' if line == 'go\\n' else 'cancelled')\n"


def test_a_held_command_waits_for_its_go_and_its_time_limit_counts_from_there(tmp_path):
    started = launch.start([sys.executable, "-c", HELD], cwd=str(tmp_path), env=dict(os.environ), hold=True)
    time.sleep(0.5)
    assert started.proc.poll() is None  # still waiting: it did not go on by itself
    started.started -= 1000.0  # as if held for 1,000 s, far longer than the limit below
    started.release()
    result = started.finish(120.0)  # the limit counts from the go: not already spent
    assert result.ok and not result.timed_out and result.output.strip() == "ran"
    assert result.seconds < 120.0  # the time is the run's since the go, not the hold's


def test_a_cancelled_command_ends_without_going_on(tmp_path):
    started = launch.start([sys.executable, "-c", HELD], cwd=str(tmp_path), env=dict(os.environ), hold=True)
    started.cancel()
    assert started.proc.poll() is not None and "ran" not in started.output.text()


class _Fake:
    """A stand-in for a held compile: records what happened to it."""

    def __init__(self, name):
        self.name, self.discarded = name, False

    def discard(self):
        self.discarded = True


class _File:
    def __init__(self, name, path=None):
        self.name, self.path = name, path or f"/projects/{name}"


def test_prestarts_wait_for_an_idle_core_keep_to_their_limit_and_stop_what_nobody_took():
    idle = [0]
    made = []

    def make(project_file):
        made.append(project_file.name)
        return _Fake(project_file.name)

    readers = {"shop": [_File("finance"), _File("marketing"), _File("exec")]}
    prestarts = Prestarts(make, readers, limit=2, idle=lambda: idle[0])
    prestarts.started("shop")
    time.sleep(0.4)
    assert made == []  # every core holds a dbt run: nothing is started ahead
    idle[0] = 1
    deadline = time.monotonic() + 10
    while len(made) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert made == ["finance", "marketing"]  # the limit: the third is never started
    finance = prestarts.take(_File("finance"))
    assert finance is not None and finance.name == "finance" and prestarts.take(_File("finance")) is None
    assert prestarts.take(_File("exec")) is None
    who = ("marketing", "/projects/marketing")
    while who not in prestarts._held and time.monotonic() < deadline:
        time.sleep(0.05)  # made: stored a moment later
    marketing = prestarts._held[who]
    prestarts.close()
    assert marketing.discarded and not finance.discarded  # taken: its compile owns it


def test_a_compile_never_waits_for_one_still_waiting_for_a_core():
    made = []
    prestarts = Prestarts(lambda f: made.append(f.name) or _Fake(f.name), {"shop": [_File("finance")]},
                          idle=lambda: 0)
    prestarts.started("shop")
    taken = []
    taker = threading.Thread(target=lambda: taken.append(prestarts.take(_File("finance"))), daemon=True)
    taker.start()
    taker.join(timeout=60)  # a take that waited for a core that never comes would never return
    assert not taker.is_alive() and taken == [None]
    prestarts.close()
    assert made == [] and enabled({}) and not enabled({"MESHDIFF_PRESTART": "0"})


def _nodes(result) -> dict:
    """The manifest's nodes but for what names the run: its output folder, its time, and the
    checksum dbt-loom gives a node it injects (made from the path of the upstream manifest's
    copy, a folder of that run; meshdiff's snapshot leaves it out too)."""
    with open(result.manifest_path, encoding="utf-8") as handle:
        data = json.load(handle)
    own = data["metadata"]["project_name"]
    return {uid: {k: v for k, v in node.items() if k not in ("created_at", "compiled_path")
                  and not (k == "checksum" and node.get("package_name") != own)}
            for uid, node in data["nodes"].items()}


def _started_ahead(project, upstream_name: str, cache: str):
    """``project``'s compile started ahead, held, as ``upstream_name`` starts dbt: the Prestarts
    and the held compile (made on the Prestarts' own thread)."""
    made = []
    prestarts = Prestarts(lambda f: made.append(ahead_of(f, cache_dir=cache)) or made[-1],
                          {upstream_name: [project]}, idle=lambda: 1)
    prestarts.started(upstream_name)
    deadline = time.monotonic() + HANG  # a bound against a hang only: a busy machine is slower, never wrong
    while not made and time.monotonic() < deadline:
        time.sleep(0.1)
    assert made and made[0] is not None
    return prestarts, made[0]


@pytest.mark.dbt
def test_a_compile_served_by_a_dbt_started_ahead_equals_one_started_as_usual(tmp_path):
    cache = str(tmp_path / "cache")
    shop = dbt.read_project(os.path.join(EXAMPLES, "shop"))
    finance = dbt.read_project(os.path.join(EXAMPLES, "finance"))
    upstream = dbt.compile_project(shop, {}, cache_dir=cache)
    assert upstream.ok, upstream.error
    usual = dbt.compile_project(finance, {"shop": upstream}, cache_dir=str(tmp_path / "usual"))
    assert usual.ok, usual.error

    made = []

    def make(project_file):  # on the Prestarts' own thread, which outlives the held process
        ahead = ahead_of(project_file, cache_dir=cache)
        made.append(ahead)
        return ahead

    prestarts = Prestarts(make, {"shop": [finance]}, idle=lambda: 1)
    prestarts.started("shop")
    deadline = time.monotonic() + 60
    while not made and time.monotonic() < deadline:
        time.sleep(0.1)
    ahead = made[0]
    assert ahead is not None
    time.sleep(1.0)  # a thread that started it has nothing to do with it dying: it is still held
    assert ahead.started.proc.poll() is None
    out = ahead.ready.folders.out
    assert not os.path.exists(os.path.join(out, "target", "manifest.json")) and not os.listdir(
        os.path.join(ahead.ready.folders.inputs, "upstream"))  # nothing written, no input yet

    result = []
    thread = threading.Thread(target=lambda: result.append(
        dbt.compile_project(finance, {"shop": upstream}, cache_dir=cache, prestarts=prestarts)))
    thread.start()
    thread.join()
    prestarts.close()
    served = result[0]
    assert served.ok, served.error
    assert ahead.done and ahead.started.proc.returncode == 0  # it ran the compile (not stopped unused)
    assert not os.path.exists(ahead.work)  # then its folder was removed
    assert served.key == usual.key and served.interface == usual.interface
    assert _nodes(served) == _nodes(usual)
    with open(snapshot_path(served.manifest_path), encoding="utf-8") as a, \
            open(snapshot_path(usual.manifest_path), encoding="utf-8") as b:
        assert sorted(a.read().splitlines()[1:]) == sorted(b.read().splitlines()[1:])


@pytest.mark.dbt
def test_a_dbt_started_ahead_parses_its_project_while_held_and_reads_its_inputs_after_the_go(tmp_path):
    """Held, dbt gets as far as it can without the compile's inputs: it parses the project's
    macros and models, then waits before it makes its plugin manager (dbt-loom reads in/). The
    upstream manifest and dbt-loom's config are written at the go, and the nodes dbt-loom
    injects from them are in the manifest (read before the go, there would be none: the ref to
    shop would not resolve and finance would not compile)."""
    cache = str(tmp_path / "cache")
    shop = dbt.read_project(os.path.join(EXAMPLES, "shop"))
    finance = dbt.read_project(os.path.join(EXAMPLES, "finance"))
    upstream = dbt.compile_project(shop, {}, cache_dir=cache)
    assert upstream.ok, upstream.error
    prestarts, ahead = _started_ahead(finance, "shop", cache)
    deadline = time.monotonic() + HANG  # a bound against a hang only: a busy machine is slower, never wrong
    while "Starting full parse" not in ahead.started.output.text() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2.0)  # time enough to go on, were it not held
    text = ahead.started.output.text()
    assert "Starting full parse" in text and ahead.started.proc.poll() is None  # parsing, then held
    assert "dbt-loom" not in text.split("Starting full parse")[1]  # nothing of dbt-loom yet: it waits
    assert not os.listdir(os.path.join(ahead.ready.folders.inputs, "upstream"))
    try:
        served = dbt.compile_project(finance, {"shop": upstream}, cache_dir=cache, prestarts=prestarts)
    finally:
        prestarts.close()
    assert served.ok, served.error
    assert ahead.started.proc.returncode == 0  # the held dbt ran the compile
    with open(served.manifest_path, encoding="utf-8") as handle:
        nodes = json.load(handle)["nodes"]
    assert any(uid.startswith("model.shop.") for uid in nodes)  # injected by dbt-loom after the go


@pytest.mark.dbt
def test_a_held_compile_nobody_takes_is_stopped_and_removed(tmp_path):
    finance = dbt.read_project(os.path.join(EXAMPLES, "finance"))
    ahead = ahead_of(finance, cache_dir=str(tmp_path / "cache"))
    assert ahead is not None and os.path.isdir(ahead.work)
    ahead.discard()
    assert ahead.started.proc.poll() is not None and not os.path.exists(ahead.work)
    shutil.rmtree(str(tmp_path), ignore_errors=True)


@pytest.mark.dbt
def test_the_project_cannot_tell_it_was_started_ahead(tmp_path):
    """The variable that holds dbt is gone before dbt runs: a model reading it renders the same
    whether its dbt was started ahead or as usual (a verdict must not depend on the schedule)."""
    root = tmp_path / "p"
    (root / "models").mkdir(parents=True)
    (root / "dbt_project.yml").write_text("name: hold\nprofile: hold\nconfig-version: 2\nversion: '1.0'\n")
    (root / "models" / "m.sql").write_text("select '{{ env_var(\"MESHDIFF_HOLD\", \"absent\") }}' as hold\n")
    project = dbt.read_project(str(root))
    cache = str(tmp_path / "cache")
    prestarts, ahead = _started_ahead(project, "up", cache)
    try:
        ahead_result = dbt.compile_project(project, {}, cache_dir=cache, prestarts=prestarts)
    finally:
        prestarts.close()
    usual = dbt.compile_project(project, {}, cache_dir=str(tmp_path / "usual"))
    assert ahead.started.proc.returncode == 0  # the held dbt compiled it
    for result in (ahead_result, usual):
        assert result.ok, result.error
        with open(result.manifest_path, encoding="utf-8") as handle:
            sql = json.load(handle)["nodes"]["model.hold.m"]["compiled_code"]
        assert "'absent' as hold" in sql


def test_the_head_is_started_ahead_first_and_held_before_it_reads_anything(monkeypatch):
    """analysis.compiles.prestarts_for: the head (given its base's parse state before its go) is
    held at HOLD_START, the readers at HOLD_INPUTS; the head comes first among its base's readers
    (the limit of held compiles never leaves it out); and a compile given a parse state never
    takes a dbt held later than HOLD_START (its project's Jinja has run in that folder)."""
    import analysis.compiles
    from analysis.dbt.invoke import HOLD_INPUTS, HOLD_START
    from analysis.dbt.prestart import Ahead

    calls = []
    monkeypatch.setattr(analysis.compiles, "ahead_of", lambda f, **kw: calls.append((f.name, kw["seeded"])))
    head, finance, execs = _File("shop", "/pr/shop"), _File("finance"), _File("exec")
    finance.upstream_names, execs.upstream_names = ("shop",), ("shop", "finance")
    prestarts = analysis.compiles.prestarts_for([finance, execs], lambda f: {}, head=head)
    assert [f.name for f in prestarts.readers["shop"]] == ["shop", "finance", "exec"]
    for f in prestarts.readers["shop"]:
        prestarts.make(f)
    assert calls == [("shop", True), ("finance", False), ("exec", False)]

    class Alive:
        proc = type("P", (), {"poll": staticmethod(lambda: None)})

    late = Ahead("/pr/shop", ("t",), "/w", None, Alive(), hold=HOLD_INPUTS)
    early = Ahead("/pr/shop", ("t",), "/w", None, Alive(), hold=HOLD_START)
    assert late.serves(("t",), seeded=False) and not late.serves(("t",), seeded=True)
    assert early.serves(("t",), seeded=True) and not early.serves(("other",), seeded=True)
