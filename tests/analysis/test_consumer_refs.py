"""Consumer PRs (issue 9, item 10): when the PR's project reads upstream projects, refs to
deprecated upstream versions are warned about (the date, passed or not, the version to move to,
whether the PR adds the ref), and a ref to a version the upstream does not have (removed on its
default branch, or not merged yet) fails with the versions it has. Real dbt compiles of the
lakemesh fixture: ``dock`` is the changed project, ``lake`` (``orders`` v1 deprecated since
2020-01-01, v2 latest) its upstream as given."""
import json
import os
from datetime import date

import pytest

from analysis.dbt import Node
from analysis.impact import deprecated_refs
from analysis.report import Report
from bot.demo import commit_change
from tests.lakemesh import init_lake_repo, meshdiff

LEGACY = ("dock/models/legacy_orders.sql", None, "select order_id, amount from {{ ref('lake', 'orders', v=1) }}\n")
FUTURE = ("dock/models/future_orders.sql", None, "select order_id from {{ ref('lake', 'orders', v=3) }}\n")
WARNING = ("dock.legacy_orders reads lake.orders v1, deprecated since 2020-01-01 (passed: dbt warns on every run); "
           "move to v2, the latest (this PR adds the ref)")


def _analyze(repo, branch, out, cache):
    proc = meshdiff("analyze", "--project", f"{repo}/dock", "--upstream", f"{repo}/lake", "--env", "LAKE_REGION=eu",
                    "--base", "main", "--head", branch, "--format", "json", "--output", out, cache=cache)
    with open(out, encoding="utf-8") as handle:
        return proc, Report.from_dict(json.load(handle))


@pytest.mark.dbt
def test_a_consumer_pr_reffing_deprecated_and_missing_upstream_versions(tmp_path, meshdiff_cache):
    repo = init_lake_repo(str(tmp_path / "repo"))
    out = str(tmp_path / "report.json")
    commit_change(repo, "legacy", [LEGACY], "read orders v1")
    proc, report = _analyze(repo, "legacy", out, meshdiff_cache)
    assert proc.returncode == 0, proc.stderr
    assert report.errors == [] and report.impacts == [] and report.conclusion == "success"
    assert {c.node: c.category for c in report.changes} == {"model.dock.legacy_orders": "additive"}
    assert report.warnings == [WARNING]

    # a version lake does not have: dbt's error, and the versions lake has
    commit_change(repo, "future", [FUTURE], "read orders v3")
    proc, report = _analyze(repo, "future", out, meshdiff_cache)
    assert proc.returncode == 2
    assert "with version '3' in package or project 'lake' which was not found" in report.errors[0]
    assert "lake.orders v3 does not exist in lake as meshdiff compiled it" in report.errors[0]
    assert "it has v1, v2 (latest v2)" in report.errors[0]

    # v1 removed on lake's side (the upstream as given), the consumer PR still adds a ref to it
    models = os.path.join(repo, "lake", "models")
    os.remove(os.path.join(models, "orders_v1.sql"))
    with open(os.path.join(models, "_models.yml"), encoding="utf-8") as handle:
        text = handle.read()
    with open(os.path.join(models, "_models.yml"), "w", encoding="utf-8") as handle:
        handle.write(text.replace("      - v: 1\n        deprecation_date: 2020-01-01\n", ""))
    proc, report = _analyze(repo, "legacy", out, meshdiff_cache)
    assert proc.returncode == 2
    assert "lake.orders v1 does not exist in lake as meshdiff compiled it" in report.errors[0]
    assert "it has v2 (latest v2). v1 was removed there" in report.errors[0]


def _model(uid, **kw):
    project, name = uid.split(".")[1], uid.split(".")[2]
    return Node(unique_id=uid, project=project, name=name, resource_type="model", **kw)


def test_deprecated_refs_by_rule():
    v1 = _model("model.lake.orders.v1", version=1, latest_version=2, deprecation_date="2099-06-30T00:00:00")
    plain = _model("model.lake.events", deprecation_date="2020-01-01")
    fresh = _model("model.lake.customers")
    reader = _model("model.dock.r", depends_on=("model.lake.orders.v1", "model.lake.events", "model.lake.customers"))
    nodes = {n.unique_id: n for n in (v1, plain, fresh, reader)}
    found = deprecated_refs({"model.dock.r": _model("model.dock.r", depends_on=("model.lake.events",))},
                            {"model.dock.r": reader}, nodes, "dock", today=date(2026, 1, 1))
    assert found == [
        "dock.r reads lake.orders v1, deprecated from 2099-06-30; move to v2, the latest (this PR adds the ref)",
        "dock.r reads lake.events, deprecated since 2020-01-01 (passed: dbt warns on every run)",
    ]
