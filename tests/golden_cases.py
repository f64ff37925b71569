"""The golden comment cases (issue 11): seven real PRs on the example mesh and a synthetic one.

Each real case is a branch of the example mesh (edits as in ``tests.scenarios``), analysed by the
real pipeline (dbt compiles); ``synthetic_report`` builds a 200-impact report without dbt.
"""
from __future__ import annotations

import os

from analysis.report import Change, ColumnChange, GitRef, Impact, Report
from bot.demo import DEMO_EDITS, EXAMPLES
from tests.scenarios import SCENARIOS

MARTS = "shop/models/marts/_marts.yml"
ORDERS_V2 = "shop/models/marts/orders_v2.sql"


def _read(rel: str) -> str:
    with open(os.path.join(EXAMPLES, rel), encoding="utf-8") as handle:
        return handle.read()


def _v1_block() -> str:
    text = _read(MARTS)
    start = text.index("      - v: 1\n")
    return text[start:text.index("      - v: 2\n", start)]


CASES: dict[str, list] = {
    # `meshdiff demo`: rename customers.lifetime_value (an unversioned public contracted model)
    "demo": list(DEMO_EDITS),
    # a column nothing downstream reads is added (contract updated): no impact
    "safe-change": SCENARIOS["add-column"],
    # rename a column of the versioned public model orders (v2), read by a consumer
    "breaking-rename": [
        (ORDERS_V2, "as credit_card_amount,", "as card_amount,"),
        (MARTS, "      - name: credit_card_amount\n        description: Part paid by credit card, in dollars.",
         "      - name: card_amount\n        description: Part paid by credit card, in dollars."),
        (MARTS, "              - credit_card_amount\n", "              - card_amount\n"),
    ],
    # staging stops passing test orders: every order-derived column of the mesh may change
    "read-by-18": [("shop/models/staging/stg_orders.sql", "from source\n",
                    "from source\nwhere order_id > 0\n")],
    # SQL dbt compiles but sqlglot cannot parse: unknown, gates
    "unparsable-model": SCENARIOS["unparseable-sql"],
    # keywords, spacing and comments only
    "equivalent-refactor": SCENARIOS["reformat-only"],
    # orders v1 removed while finance still pins it
    "dropped-version": [("shop/models/marts/orders_v1.sql", None, None), (MARTS, _v1_block(), "")],
}


def pinned(report: Report, name: str, today: str | None = None) -> Report:
    """The report with fixed refs and shas and a fixed deprecation date (goldens depend neither on
    the commit ids nor on the day they run)."""
    import copy
    from datetime import date, timedelta

    from analysis.impact.unblock import DEPRECATION_DAYS

    report = copy.deepcopy(report)
    deadline = today or (date.today() + timedelta(days=DEPRECATION_DAYS)).isoformat()
    real = report.base.sha[:12]
    for s in report.suggestions:
        s.text = s.text.replace(deadline, "2099-01-01")
        for snippet in s.snippets:
            snippet.code = snippet.code.replace(real, "a" * 12).replace(deadline, "2099-01-01")
    report.base, report.head = GitRef("main", "a" * 40), GitRef(name, "b" * 40)
    report.timings = {}
    return report


def synthetic_report(n: int = 200) -> Report:
    """``n`` impacts over 6 consumer projects, a third of each severity, long-ish names."""
    change = Change(node="model.shop.orders", resource_type="model", category="breaking",
                    columns=[ColumnChange("amount", "removed"), ColumnChange("status", "renamed", "order_status")],
                    reasons=["governance: contract column `amount` removed"], file="shop/models/marts/orders.sql",
                    access="public")
    impacts = []
    for i in range(n):
        project = f"consumer_{i % 6}"
        severity = ("breaking", "unknown", "changed")[i % 3]
        node = f"model.{project}.mart_{i:03d}_daily_metrics"
        mid = f"model.{project}.int_{i % 10:02d}_orders_enriched"
        impacts.append(Impact(
            project=project, node=node, resource_type="model", severity=severity,
            columns=[f"metric_{j}" for j in range(i % 7 + 1)],
            via=["model.shop.orders.amount", f"{mid}.amount", f"{node}.metric_0"] if i % 2 else
                ["model.shop.orders.status", f"{node}.metric_0"],
            owners=[f"Team {i % 6} <team{i % 6}@example.com>"], handles=[f"@octo-org/team-{i % 6}"],
            reasons=[f"`metric_0` reads `amount` of {mid} (removed)"], file=f"models/marts/mart_{i:03d}.sql"))
    return Report("shop", GitRef("main", "a" * 40), GitRef("drop-amount", "b" * 40), "failure", [change], impacts,
                  projects=["shop"] + [f"consumer_{i}" for i in range(6)],
                  policy=[f"{n} impacted nodes"], warnings=[f"lineage of model.consumer_0.m{i} is partial: x" for i in range(30)])
