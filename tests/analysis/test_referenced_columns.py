"""A column a downstream model's SQL names without using it (an unused CTE projection), on real
dbt compiles of the never-safe mesh (tests/meshes/never_safe) plus one revenue model written
for it: removing the column upstream makes that model fail to bind, so the PR is blocked; a new
value of the column changes nothing the model outputs, so it is no impact (promises 2 and 3)."""
import os

import pytest

from bot.demo import _git
from tests.analysis.never_safe import analyze_change, init_repo

pytestmark = pytest.mark.dbt

ORDERS = "model.platform.orders"
CODES = "model.revenue.order_codes"
REV_ORDERS = "model.revenue.revenue_orders"
YML = "platform/models/_models.yml"
CODES_SQL = """with coded as (
    select order_id, upper(status) as status_code
    from {{ ref('platform', 'orders') }}
)
select order_id from coded
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    repo = init_repo(str(tmp_path_factory.mktemp("referenced") / "repo"))
    with open(os.path.join(repo, "revenue", "models", "order_codes.sql"), "w", encoding="utf-8") as handle:
        handle.write(CODES_SQL)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "order_codes names status in a CTE column it never reads")
    cache = str(tmp_path_factory.mktemp("referenced-cache"))

    def go(branch, edits):
        report = analyze_change(repo, branch, edits, cache_dir=cache, downstream=("revenue",))
        assert report.errors == [], report.errors
        return report
    return go


def test_removing_a_column_named_only_in_an_unused_cte_projection_blocks(run):
    report = run("remove-status", [
        ("platform/models/orders.sql", "    subtotal,\n    status\n", "    subtotal\n"),
        (YML, "      - name: status\n        data_type: varchar\n", ""),
    ])
    assert [(c.node, c.category) for c in report.changes] == [(ORDERS, "breaking")]
    impacts = {i.node: i for i in report.impacts}
    assert set(impacts) == {CODES}  # revenue_orders reads order_id, customer_id, subtotal only
    assert impacts[CODES].severity == "breaking"
    assert impacts[CODES].reasons == [f"its SQL names `status` of {ORDERS}, which this change removes: "
                                      "the model no longer builds"]
    assert report.conclusion == "failure"


def test_a_new_value_of_that_column_is_no_impact(run):
    report = run("recode-status", [("platform/models/orders.sql", "    status\n", "    lower(status) as status\n")])
    assert [(c.node, c.category) for c in report.changes] == [(ORDERS, "partial")]
    assert [i.node for i in report.impacts] == []
    assert report.conclusion == "success"
