"""Identifier case on a real dbt compile (issue 10, item 6): DuckDB keeps a quoted name's case,
so ``meshdiff lineage`` and ``meshdiff analyze`` name ``ArrUsd``, not ``arrusd``; which columns
are impacted does not depend on case."""
import json
import os

import pytest

from analysis.report import Report
from bot.demo import commit_change
from tests.lakemesh import init_project_repo, meshdiff

pytestmark = pytest.mark.dbt

REVENUE = 'select 1 as "ArrUsd", 2 as plain, 3 as "Extra"\n'
FILES = {
    "dbt_project.yml": "name: cases\nprofile: cases\nconfig-version: 2\nversion: '1.0'\n",
    "models/revenue.sql": REVENUE,
    # a quoted reference, an unquoted one in another case (DuckDB names it as the column it reads)
    "models/reader.sql": 'select "ArrUsd", plain from {{ ref(\'revenue\') }}\n',
    "models/loose.sql": "select arrusd as arrusd_copy, arrusd from {{ ref('revenue') }}\n",
    "models/starry.sql": "select * from {{ ref('revenue') }}\n",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return init_project_repo(str(tmp_path_factory.mktemp("idcase") / "repo"), "cases", FILES)


def test_lineage_names_columns_as_duckdb_spells_them(repo, meshdiff_cache):
    proc = meshdiff("lineage", "--project", os.path.join(repo, "cases"), "--format", "json", cache=meshdiff_cache)
    assert proc.returncode == 0, proc.stderr
    models = json.loads(proc.stdout)["models"]
    assert list(models["model.cases.revenue"]["columns"]) == ["ArrUsd", "plain", "Extra"]
    assert list(models["model.cases.reader"]["columns"]) == ["ArrUsd", "plain"]
    assert models["model.cases.reader"]["columns"]["ArrUsd"] == [{"from": "model.cases.revenue.ArrUsd",
                                                                   "kind": "passthrough"}]
    assert list(models["model.cases.loose"]["columns"]) == ["arrusd_copy", "ArrUsd"]
    assert list(models["model.cases.starry"]["columns"]) == ["ArrUsd", "plain", "Extra"]
    # a column is asked for in any case; what it reaches is named as the warehouse has it
    proc = meshdiff("lineage", "--project", os.path.join(repo, "cases"), "--column", "model.cases.revenue.arrusd",
                    "--format", "json", cache=meshdiff_cache)
    assert proc.returncode == 0, proc.stderr
    reached = json.loads(proc.stdout)["model.cases.revenue.arrusd"]
    assert {"model.cases.reader.ArrUsd", "model.cases.loose.arrusd_copy", "model.cases.loose.ArrUsd",
            "model.cases.starry.ArrUsd"} <= set(reached)
    assert not any(r.endswith(".arrusd") for r in reached)


def test_analyze_names_changed_and_impacted_columns_as_duckdb_spells_them(repo, tmp_path, meshdiff_cache):
    commit_change(repo, "arr", [("cases/models/revenue.sql", None, 'select 10 as "ArrUsd", 2 as plain\n')], "arr")
    out = str(tmp_path / "report.json")
    proc = meshdiff("analyze", "--project", os.path.join(repo, "cases"), "--base", "main", "--head", "arr",
                    "--format", "json", "--output", out, cache=meshdiff_cache)
    assert os.path.isfile(out), proc.stderr
    report = Report.from_dict(json.loads(open(out, encoding="utf-8").read()))
    assert report.errors == [], report.errors
    (change,) = report.changes
    assert {(c.name, c.change) for c in change.columns} == {("ArrUsd", "modified"), ("Extra", "removed")}
    impacts = {i.node: i for i in report.impacts}
    assert impacts["model.cases.reader"].columns == ["ArrUsd"]
    assert impacts["model.cases.reader"].via[0] == "model.cases.revenue.ArrUsd"
    assert sorted(impacts["model.cases.loose"].columns) == ["ArrUsd", "arrusd_copy"]
    assert "ArrUsd" in impacts["model.cases.starry"].columns
    # the markdown names them so too
    md = meshdiff("analyze", "--project", os.path.join(repo, "cases"), "--base", "main", "--head", "arr",
                  cache=meshdiff_cache).stdout
    assert "ArrUsd" in md and "arrusd`" not in md
