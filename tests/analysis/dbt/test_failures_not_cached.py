"""A failed or timed-out compile is never served from the cache (issue 9, item 6).

Real dbt compiles of a tiny project: a compile stopped by its time limit, then the same
project with a normal limit, compiles (it is not handed the time-out); a dbt error is run
again by the next call (not read back); a failure stored by an older meshdiff is a miss."""
import json
import os

import pytest

from analysis.dbt import compile as dbt
from analysis.dbt.slots import write_slot
from analysis.store import sealer_for

pytestmark = pytest.mark.dbt


@pytest.fixture
def tiny(tmp_path):
    project = tmp_path / "tiny"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: tiny\nprofile: tiny\nconfig-version: 2\nversion: '1.0'\n")
    (project / "models" / "one.sql").write_text("select 1 as id\n")
    return dbt.read_project(str(project)), str(tmp_path / "cache")


def _slots(cache: str) -> list[str]:
    root = os.path.join(cache, "compile")
    if not os.path.isdir(root):
        return []
    return [os.path.join(d, s) for d in os.listdir(root) for s in os.listdir(os.path.join(root, d))
            if not s.endswith(".lock") and not s.startswith(".")]


def test_a_timed_out_compile_is_compiled_again_with_a_higher_limit(tiny):
    project, cache = tiny
    stopped = dbt.compile_project(project, {}, cache_dir=cache, timeout_s=1)
    assert not stopped.ok and "did not finish within 1 s" in stopped.error
    assert _slots(cache) == []  # nothing stored for the key
    done = dbt.compile_project(project, {}, cache_dir=cache, timeout_s=300)
    assert done.ok, done.error
    assert not done.cached and done.key == stopped.key  # same key, compiled for real
    again = dbt.compile_project(project, {}, cache_dir=cache, timeout_s=1)
    assert again.ok and again.cached  # a success is reused, whatever the limit


def test_a_dbt_error_is_run_again_not_read_back(tiny):
    project, cache = tiny
    with open(os.path.join(project.path, "models", "broken.sql"), "w") as handle:
        handle.write("select {{ no_such_macro() }} as id\n")
    first = dbt.compile_project(project, {}, cache_dir=cache)
    assert not first.ok and "no_such_macro" in first.error and not first.cached
    second = dbt.compile_project(project, {}, cache_dir=cache)
    assert not second.ok and "no_such_macro" in second.error
    assert not second.cached and second.log  # dbt ran again: its output is there
    assert _slots(cache) == []


def test_a_failure_stored_by_an_older_meshdiff_is_a_miss(tiny):
    project, cache = tiny
    key = dbt.compile_project(project, {}, cache_dir=cache, timeout_s=1).key
    slot = os.path.join(cache, "compile", key[:2], key)
    sealer = sealer_for(cache)
    write_slot(slot, sealer, ok=False, error="dbt compile did not finish within 1 s and was stopped", seconds=1.0,
               interface=None, manifest_path=None, manifest=None, project_dir=project.path)
    assert json.loads(sealer.read(os.path.join(slot, "status.json")))["ok"] is False  # a real, sealed failure
    result = dbt.compile_project(project, {}, cache_dir=cache)
    assert result.ok and not result.cached, result.error
