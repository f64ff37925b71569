"""PR scenarios on the precision mesh (issue 10), with real dbt compiles: exact columns, never `unknown`.

``tests/analysis/precision_mesh`` is committed to a git repository; each test commits a branch
that changes ``platform`` and runs the whole pipeline (worktrees, dbt compile of platform at base
and head and of marketing against both, lineage, diff, propagation, policy). Its sources declare
no column, its seeds load the tables its sources read and one source is a ``read_csv``: before
issue 10 every reader of them was ``unknown`` and these three PRs were blocked.
"""
from __future__ import annotations

import os
import shutil

import pytest

from analysis.pipeline import AnalysisRequest, ProjectSpec, analyze
from analysis.report import GitRef
from bot import worktree
from bot.demo import _git, commit_change
from tests.analysis.test_accuracy_precision import MESH

pytestmark = pytest.mark.dbt

ORDERS = "platform/models/marts/orders.sql"
CUSTOMERS = "platform/models/marts/customers.sql"
STG_EVENTS = "platform/models/staging/stg_events.sql"
SEGMENTS = "model.marketing.customer_segments"
CHANNEL = "model.marketing.channel_orders"


@pytest.fixture(scope="module")
def branch(tmp_path_factory):
    repo = str(tmp_path_factory.mktemp("precision") / "repo")
    shutil.copytree(MESH, repo, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "precision mesh"]):
        _git(repo, *args)
    cache = str(tmp_path_factory.mktemp("precision-cache"))
    done = {}

    def run(name: str, edits):
        if name not in done:
            commit_change(repo, name, edits, name)
            checkout = worktree.locate(os.path.join(repo, "platform"))
            base, head = worktree.resolve(checkout, "main"), worktree.resolve(checkout, name)
            with worktree.worktrees(checkout, {"base": base, "head": head}) as dirs:
                report = analyze(AnalysisRequest(
                    changed=ProjectSpec(dirs["head"], name="platform"), base_path=dirs["base"],
                    base=GitRef("main", base), head=GitRef(name, head),
                    downstream=[ProjectSpec(os.path.join(repo, "marketing"), name="marketing")],
                    repo_subdir="platform", cache_dir=cache))
            assert report.errors == [], report.errors
            assert report.warnings == [], report.warnings
            done[name] = report
        return done[name]
    return run


def impacts(report):
    return {i.node: (i.severity, i.columns) for i in report.impacts}


def test_a_reformat_only_pr_impacts_nothing(branch):
    text = (MESH / ORDERS).read_text(encoding="utf-8")
    reformatted = ("-- orders, reformatted: case, spacing, comments only\n"
                   + text.replace("select\n", "SELECT\n").replace("from ", "FROM ").replace("left join", "LEFT  JOIN")
                   .replace(" as ", " AS ").replace("group by", "GROUP BY").replace("    ", "  "))
    report = branch("reformat-only", [(ORDERS, None, reformatted)])
    assert report.conclusion == "success"
    assert {c.node: c.category for c in report.changes} == {"model.platform.orders": "metadata"}
    assert report.impacts == []


def test_a_one_column_expression_change_impacts_exactly_its_readers(branch):
    report = branch("one-expression", [(CUSTOMERS, "coalesce(order_totals.kept_amount, 0) as lifetime_value",
                                        "round(coalesce(order_totals.kept_amount, 0), 0) as lifetime_value")])
    assert report.conclusion == "success"
    assert [(c.name, c.change) for c in report.changes[0].columns] == [("lifetime_value", "modified")]
    # the segment reads it; the rank orders by it (a window's ORDER BY shapes that column only)
    assert impacts(report) == {SEGMENTS: ("changed", ["region_rank", "segment"])}


def test_a_where_on_a_staging_model_of_a_read_csv_source_impacts_exact_columns(branch):
    report = branch("where-on-events", [(STG_EVENTS, "from {{ source('files', 'events') }}",
                                         "from {{ source('files', 'events') }}\nwhere channel <> 'store'")])
    assert report.conclusion == "success"
    found = impacts(report)
    assert {sev for sev, _ in found.values()} == {"changed"}  # never unknown
    # orders LEFT JOINs the events grouped by order_id (unique): only the event columns change
    assert found["model.platform.orders"] == ("changed", ["event_count", "last_event_at"])
    # events are the rows of order_events and orders_with_events: all their columns
    assert found["model.platform.order_events"][1] == ["channel", "customer_id", "event_at", "event_id",
                                                       "event_type", "order_id", "order_status",
                                                       "previous_event_at"]
    assert found["model.platform.orders_with_events"][1] == ["channel", "event_type", "order_id", "status"]
    # customers never reads events; channel_orders joins on events without a proven key: all its columns
    assert SEGMENTS not in found and "model.platform.customers" not in found
    assert found[CHANNEL][1] == ["amount", "customer_name", "first_channel", "order_id", "previous_amount"]
