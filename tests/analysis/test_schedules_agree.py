"""The order compiles run in never changes a report (real, sandboxed dbt compiles).

By default the head compile of the changed project runs after its base, from its parse state,
and dbt is started ahead for it and for downstream projects (held while the compiles it reads
run, :mod:`analysis.dbt.prestart`); with ``MESHDIFF_PARTIAL_PARSE=0`` and ``MESHDIFF_PRESTART=0``
every compile parses in full and starts when it runs. Each PR below is analysed both ways, each
on an empty cache, and the reports must be identical but for their timings: one PR leaves the
changed project's interface as it was (the downstream head compiles are the base's), one
changes it (they are compiled again, and the consumers break).
"""
import json

import pytest

from bot.demo import analyze_branch, commit_change, init_mesh_repo
from tests.scenarios import SCENARIOS

pytestmark = pytest.mark.dbt


def _comparable(report) -> dict:
    data = report.to_dict()
    data.pop("timings", None)
    return json.loads(json.dumps(data, sort_keys=True, default=str))


@pytest.mark.parametrize("name", ["rename-public-column", "make-public-model-private"])
def test_a_report_is_the_same_whatever_the_schedule(tmp_path, monkeypatch, name):
    repo = init_mesh_repo(None, str(tmp_path / "repo"))
    commit_change(repo, name, SCENARIOS[name], name)
    ran = {}
    for label, flag in (("ahead", "1"), ("plain", "0")):
        monkeypatch.setenv("MESHDIFF_PARTIAL_PARSE", flag)
        monkeypatch.setenv("MESHDIFF_PRESTART", flag)
        compiles = []

        def progress(step, compiles=compiles):
            if step.stage == "compile" and step.state == "end":
                compiles.append(step.cached)

        report = analyze_branch(repo, name, cache_dir=str(tmp_path / f"cache-{label}"), progress=progress)
        assert report.errors == [], report.errors
        ran[label] = (_comparable(report), compiles)
    (ahead, ahead_compiles), (plain, plain_compiles) = ran["ahead"], ran["plain"]
    assert ahead["conclusion"] == "failure" and ahead["impacts"]  # both PRs break consumers
    assert ahead == plain
    assert ahead_compiles.count(False) == plain_compiles.count(False)  # dbt ran for the same compiles
