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
import os

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
    import analysis.compiles
    from analysis.dbt.prestart import Ahead

    repo = init_mesh_repo(None, str(tmp_path / "repo"))
    commit_change(repo, name, SCENARIOS[name], name)
    ran, held, seeded = {}, [], []
    real_run, real_compile = Ahead.run, analysis.compiles.compile_project

    def run_held(self, timeout_s):
        held.append(os.path.basename(self.project_dir))
        return real_run(self, timeout_s)

    def compile_project(project, deps, **kw):
        result = real_compile(project, deps, **kw)
        if result.seeded:
            seeded.append(project.name)
        return result

    monkeypatch.setattr(Ahead, "run", run_held)
    monkeypatch.setattr(analysis.compiles, "compile_project", compile_project)
    for label, flag in (("ahead", "1"), ("plain", "0")):
        monkeypatch.setenv("MESHDIFF_PARTIAL_PARSE", flag)
        monkeypatch.setenv("MESHDIFF_PRESTART", flag)
        held.clear()
        seeded.clear()
        compiles = []

        def progress(step, compiles=compiles):
            if step.stage == "compile" and step.state == "end":
                compiles.append(step.cached)

        report = analyze_branch(repo, name, cache_dir=str(tmp_path / f"cache-{label}"), progress=progress)
        assert report.errors == [], report.errors
        ran[label] = (_comparable(report), compiles)
        if flag == "1":  # what makes this run differ: the head seeded, dbt started ahead and used
            assert seeded == ["shop"] and "shop" in held and "finance" in held, (seeded, held)
        else:
            assert seeded == [] and held == []
    (ahead, ahead_compiles), (plain, plain_compiles) = ran["ahead"], ran["plain"]
    assert ahead["conclusion"] == "failure" and ahead["impacts"]  # both PRs break consumers
    assert ahead == plain
    assert ahead_compiles.count(False) == plain_compiles.count(False)  # dbt ran for the same compiles


def test_a_mesh_at_rest_is_the_same_with_dbt_started_ahead(tmp_path, monkeypatch):
    """``meshdiff lineage`` (:func:`analysis.pipeline.mesh_at_rest`): finance and exec_reporting
    started ahead, held, as the projects they read start dbt, or each started when it runs:
    the same nodes, the same compiled SQL, the same lineage."""
    import analysis.compiles
    from analysis.pipeline import ProjectSpec, mesh_at_rest
    from bot.demo import EXAMPLES

    made = []
    real = analysis.compiles.ahead_of

    def counted(project_file, **kw):
        made.append(project_file.name)
        return real(project_file, **kw)

    monkeypatch.setattr(analysis.compiles, "ahead_of", counted)
    from analysis.dbt.prestart import Ahead

    used, real_run = [], Ahead.run
    monkeypatch.setattr(Ahead, "run", lambda self, timeout_s: used.append(self) or real_run(self, timeout_s))
    states = {}
    for flag in ("1", "0"):
        monkeypatch.setenv("MESHDIFF_PRESTART", flag)
        states[flag] = mesh_at_rest(ProjectSpec(os.path.join(EXAMPLES, "shop")),
                                    [ProjectSpec(os.path.join(EXAMPLES, p)) for p in ("finance", "exec_reporting")],
                                    cache_dir=str(tmp_path / f"cache-{flag}"))
    assert sorted(set(made)) == ["exec_reporting", "finance"]  # started ahead with 1 only
    assert len(used) == 2  # and both held compiles ran
    ahead, plain = states["1"], states["0"]
    assert ahead.warnings == plain.warnings
    sql = {flag: {uid: n.compiled_sql for uid, n in s.mesh.nodes.items()} for flag, s in states.items()}
    assert sql["1"] == sql["0"] and any(uid.startswith("model.exec_reporting.") for uid in sql["1"])
    columns = {flag: {uid: (m.status, dict(m.columns)) for uid, m in s.lineage.models.items()}
               for flag, s in states.items()}
    assert columns["1"] == columns["0"]
