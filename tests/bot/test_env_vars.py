"""``env:``/``vars:`` of ``.meshdiff.yml`` and ``--env``/``--vars`` (issue 9, item 9): a model
calling ``env_var()`` without a default compiles when the variable is given, both are part of the
compile key, and what cannot be given (secrets by dbt's convention, meshdiff's own variables) is
refused before any compile. Real dbt compiles of the lakemesh fixture (tests/fixtures/lakemesh)."""
import json
import os
import shutil

import pytest

from analysis.dbt import compile as dbt
from analysis.errors import AnalysisError
from analysis.dbt.manifest import load_manifest
from bot.cli import inputs
from bot.config import ConfigError, parse_mesh_config
from bot.demo import commit_change
from tests.lakemesh import FIXTURE, analyze_lake, init_lake_repo, meshdiff

REGION = [("lake/models/stg_events.sql", """'{{ env_var("LAKE_REGION") }}' as region""",
           """upper('{{ env_var("LAKE_REGION") }}') as region""")]


def test_bad_env_and_vars_are_refused_before_any_compile():
    with pytest.raises(AnalysisError, match="DBT_ENV_SECRET_TOKEN is a secret"):
        inputs.env_values(["DBT_ENV_SECRET_TOKEN=x"])
    with pytest.raises(AnalysisError, match="PATH is set by meshdiff itself"):
        inputs.env_values(["PATH=/tmp"])
    for name in ("GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH", "LC_CTYPE", "MALLOC_ARENA_MAX", "LD_AUDIT"):
        with pytest.raises(AnalysisError, match=f"{name} is set by meshdiff itself or steers how dbt runs"):
            inputs.env_values([f"{name}=/tmp/x"])
    with pytest.raises(AnalysisError, match="not NAME=VALUE"):
        inputs.env_values(["LAKE_REGION"])
    assert inputs.env_values(["LAKE_REGION=eu", "EMPTY="]) == {"LAKE_REGION": "eu", "EMPTY": ""}
    assert inputs.vars_value("{start: 2024-01-01, n: 3}") == {"start": "2024-01-01", "n": 3}  # a date as Jinja prints it
    with pytest.raises(AnalysisError, match="--vars must be a mapping"):
        inputs.vars_value("[1, 2]")
    with pytest.raises(ConfigError, match=r"`projects\[0\].env.LD_PRELOAD` LD_PRELOAD is set by meshdiff"):
        parse_mesh_config("projects:\n  - path: lake\n    env: {LD_PRELOAD: /x.so}\n", source=".meshdiff.yml")
    with pytest.raises(ConfigError, match=r"`downstream\[0\].vars` must be a mapping"):
        parse_mesh_config("downstream:\n  - path: dock\n    vars: [1]\n", source=".meshdiff.yml")
    config = parse_mesh_config("projects:\n  - path: lake\n    env: {LAKE_REGION: eu, N: 3}\n    vars: {a: 1}\n",
                               source=".meshdiff.yml")
    assert config.projects[0].env == {"LAKE_REGION": "eu", "N": "3"} and config.projects[0].vars == {"a": 1}


@pytest.mark.dbt
def test_env_and_vars_reach_dbt_and_key_the_compile(tmp_path):
    lake = tmp_path / "lake"
    shutil.copytree(os.path.join(FIXTURE, "lake"), lake)
    with open(lake / "models" / "with_var.sql", "w") as handle:
        handle.write("select '{{ var(\"start_date\") }}' as start_date\n")
    project, cache = dbt.read_project(str(lake)), str(tmp_path / "cache")
    missing = dbt.compile_project(project, {}, cache_dir=cache, dbt_vars={"start_date": "2024-01-01"})
    assert not missing.ok and "LAKE_REGION" in missing.error and "--env NAME=VALUE" in missing.error
    eu = dbt.compile_project(project, {}, cache_dir=cache, env={"LAKE_REGION": "eu"},
                             dbt_vars={"start_date": "2024-01-01"})
    us = dbt.compile_project(project, {}, cache_dir=cache, env={"LAKE_REGION": "us"},
                             dbt_vars={"start_date": "2024-01-01"})
    later = dbt.compile_project(project, {}, cache_dir=cache, env={"LAKE_REGION": "eu"},
                                dbt_vars={"start_date": "2025-01-01"})
    assert eu.ok and us.ok and later.ok, (eu.error, us.error, later.error)
    assert len({eu.key, us.key, later.key}) == 3 and not (eu.cached or us.cached or later.cached)

    def sql(result, model):
        return load_manifest(result.manifest_path, project_dir=result.project_dir).nodes[f"model.lake.{model}"].compiled_sql

    assert "'eu' as region" in sql(eu, "stg_events") and "'us' as region" in sql(us, "stg_events")
    assert "'2024-01-01' as start_date" in sql(eu, "with_var") and "'2025-01-01'" in sql(later, "with_var")
    again = dbt.compile_project(project, {}, cache_dir=cache, env={"LAKE_REGION": "eu"},
                                dbt_vars={"start_date": "2024-01-01"})
    assert again.cached and again.key == eu.key


@pytest.mark.dbt
def test_an_env_var_model_analysed_with_the_mesh_files_env_or_the_flag(tmp_path, meshdiff_cache):
    repo = init_lake_repo(str(tmp_path / "repo"))
    out = str(tmp_path / "report.json")
    # without the variable (no --mesh, no --env): the analysis cannot be done, and says what to do
    commit_change(repo, "region-upper", REGION, "upper region")
    proc = meshdiff("analyze", "--project", f"{repo}/lake", "--downstream", f"{repo}/dock", "--base", "main",
                    "--head", "region-upper", "--format", "json", "--output", out, cache=meshdiff_cache)
    assert proc.returncode == 2, proc.stderr
    errors = json.loads(open(out).read())["errors"]
    assert any("LAKE_REGION" in e and ".meshdiff.yml" in e for e in errors), errors

    # the mesh file's env: the change of the region expression reaches no reader in dock
    proc, report = analyze_lake(repo, "region-upper", REGION, cache=meshdiff_cache, out=out)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert report.errors == [] and report.conclusion == "success"
    assert {c.node: (c.category, [x.name for x in c.columns]) for c in report.changes} == {
        "model.lake.stg_events": ("partial", ["region"])}
    assert {i.node: (i.severity, i.columns) for i in report.impacts} == {
        "model.lake.orders.v2": ("changed", ["region"])}

    # --env over the file's value, without the mesh file
    os.remove(out)
    proc = meshdiff("analyze", "--project", f"{repo}/lake", "--downstream", f"{repo}/dock", "--base", "main",
                    "--head", "region-upper", "--env", "LAKE_REGION=us", "--format", "json", "--output", out,
                    cache=meshdiff_cache)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(open(out).read())["errors"] == []

    # meshdiff lineage takes them too
    proc = meshdiff("lineage", "--project", f"{repo}/lake", "--env", "LAKE_REGION=eu", "--vars", "{unused: 1}",
                    "--column", "model.lake.stg_events.region", "--format", "json", cache=meshdiff_cache)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"model.lake.stg_events.region": ["model.lake.orders.v2.region"]}
