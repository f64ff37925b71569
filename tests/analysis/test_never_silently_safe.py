"""Never silently safe (issue 9, items 1, 2, 3, 5, 7, 11), on real dbt compiles of a mesh written
for it (tests/meshes/never_safe): ``platform`` changes on a branch; ``revenue`` reads it through a
dbt-loom entry labelled ``potato``, ``finance`` through dbt's own ``dependencies.yml``. Each test
asserts the exact changes, impacts (models and tests) and the conclusion."""
import pytest

from tests.analysis.never_safe import analyze_change, init_repo

pytestmark = pytest.mark.dbt

ORDERS = "model.platform.orders"
STATS = "model.platform.customer_stats"
FIN = "model.finance.finance_orders"
REV_ORDERS = "model.revenue.revenue_orders"
REV_BY = "model.revenue.revenue_by_customer"
TOP = "model.revenue.top_spenders"
ACTIVE = "model.revenue.active_customers"
NOT_NULL = "test.revenue.not_null_revenue_orders_subtotal.bc8f8cfe06"
UNIT = "unit_test.revenue.revenue_by_customer.revenue_sums_subtotals"
YML = "platform/models/_models.yml"
FIN_COLUMNS = ["customer_id", "order_id", "status", "subtotal"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    repo = init_repo(str(tmp_path_factory.mktemp("never-safe") / "repo"))
    cache = str(tmp_path_factory.mktemp("never-safe-cache"))

    def go(branch, edits):
        report = analyze_change(repo, branch, edits, cache_dir=cache)
        assert report.errors == [], report.errors
        return report
    return go


def impacts(report):
    return {i.node: (i.severity, i.columns) for i in report.impacts}


def test_rename_reaches_a_relabelled_loom_consumer_a_dependencies_yml_consumer_and_their_tests(run):
    """Items 1, 2 and 11: before, revenue (entry `potato`) and finance (dependencies.yml) were left
    out ("does not read platform") and the report listed no impact at all."""
    report = run("rename-subtotal", [
        ("platform/models/orders.sql", "    subtotal,\n", "    subtotal as amount,\n"),
        (YML, "      - name: subtotal\n", "      - name: amount\n"),
        (YML, '"subtotal >= 0"', '"amount >= 0"'),
    ])
    assert report.projects == ["platform", "finance", "revenue"]
    assert not any("left out" in w for w in report.warnings), report.warnings
    assert [(c.node, c.category) for c in report.changes] == [(ORDERS, "breaking")]
    assert impacts(report) == {
        FIN: ("breaking", ["amount", *FIN_COLUMNS]),
        REV_ORDERS: ("breaking", ["subtotal"]),
        REV_BY: ("breaking", ["revenue"]),
        NOT_NULL: ("breaking", ["subtotal"]),
        UNIT: ("breaking", ["revenue", "subtotal"]),
    }
    by_id = {i.node: i for i in report.impacts}
    assert by_id[NOT_NULL].resource_type == "test" and by_id[UNIT].resource_type == "unit_test"
    assert by_id[NOT_NULL].reasons == ["test reads `subtotal` of model.revenue.revenue_orders, renamed: the test fails"]
    assert by_id[NOT_NULL].via == ["model.platform.orders.subtotal", "model.revenue.revenue_orders.subtotal", NOT_NULL]
    assert "the SQL produces `amount` which the contract does not declare" in " ".join(by_id[FIN].reasons)
    assert report.conclusion == "failure"


def test_a_column_added_upstream_breaks_a_contracted_select_star_consumer(run):
    """Item 3: platform.orders gains `discount` (its own contract updated: additive); finance's
    contracted `select *` now produces a column its contract does not declare."""
    report = run("add-discount", [
        ("platform/models/orders.sql", "    status\n", "    status,\n    subtotal / 10 as discount\n"),
        (YML, "      - name: status\n        data_type: varchar\n",
         "      - name: status\n        data_type: varchar\n      - name: discount\n        data_type: integer\n"),
    ])
    assert [(c.node, c.category) for c in report.changes] == [(ORDERS, "additive")]
    assert impacts(report) == {FIN: ("breaking", ["customer_id", "discount", *FIN_COLUMNS[1:]])}
    assert report.impacts[0].reasons == [
        "its enforced contract no longer matches its SQL with this change: the SQL produces `discount` which the "
        "contract does not declare: `dbt build` will fail the contract check"]
    assert report.conclusion == "failure"


def test_an_enforced_constraint_removed_from_a_public_contract_blocks(run):
    """Item 5: `not_null` dropped from orders.order_id (DuckDB enforces it): dbt's breaking change."""
    report = run("drop-not-null", [
        (YML, "          - type: not_null\n          - type: primary_key\n", "          - type: primary_key\n"),
    ])
    assert [(c.node, c.category) for c in report.changes] == [(ORDERS, "breaking")]
    assert report.changes[0].reasons == [
        "governance: enforced `not_null` constraint on column `order_id` removed or loosened: consumers lose its "
        "guarantee (dbt: breaking contract change)"]
    assert report.impacts == []
    assert report.conclusion == "failure"


def test_a_loosened_check_blocks(run):
    report = run("loosen-check", [(YML, '"subtotal >= 0"', '"subtotal >= -100"')])
    assert [(c.node, c.category) for c in report.changes] == [(ORDERS, "breaking")]
    assert report.policy == [
        "model.platform.orders: enforced `check subtotal >= 0` constraint on column `subtotal` removed or loosened: "
        "consumers lose its guarantee (dbt: breaking contract change)"]


def test_unknown_lineage_still_says_which_columns_are_removed_and_added(run):
    """Item 7: customer_stats cannot be parsed; its YAML columns say `lifetime_spend` is gone and
    `avg_spend` new. The reader of `lifetime_spend` breaks; the reader of `customer_id` only is
    unknown (its values are not proven)."""
    report = run("unknown-drop-spend", [
        ("platform/models/customer_stats.sql", "    sum(subtotal) as lifetime_spend\n", "    avg(subtotal) as avg_spend\n"),
        (YML, "      - name: lifetime_spend\n", "      - name: avg_spend\n"),
    ])
    (change,) = report.changes
    assert (change.node, change.category) == (STATS, "unknown")
    assert {c.name: c.change for c in change.columns} == {
        "avg_spend": "added", "customer_id": "modified", "lifetime_spend": "removed", "order_count": "modified"}
    assert ("its output columns (from the YAML `columns:`) say: `lifetime_spend` removed, `avg_spend` added; the "
            "values of the other columns are not proven") in change.reasons
    assert impacts(report) == {TOP: ("breaking", ["customer_id", "lifetime_spend"]),
                               ACTIVE: ("unknown", ["customer_id"])}
    assert report.conclusion == "failure"
