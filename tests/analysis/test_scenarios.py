"""PR scenarios on the example mesh, with real dbt compiles (issues 2 and 3).

Each test commits a branch on a git copy of ``examples/``, runs the whole pipeline
(worktrees, dbt compile of shop at base and head and of finance and exec_reporting
against both, lineage, diff, propagation, policy) and asserts the exact impacted nodes
per project, their severities, the impacted columns, and the conclusion.
"""
import pytest

from tests.scenarios import SCENARIOS

pytestmark = pytest.mark.dbt

SEG = "model.finance.customer_segments"
ORD = "model.finance.customer_orders"
TOP = "model.exec_reporting.top_customers"
CHURN = "exposure.finance.churn_model"
BOARD = "exposure.exec_reporting.board_dashboard"
CUSTOMERS = "model.shop.customers"
ALL_TOP = ["customer_id", "customer_name", "kept_spend", "most_recent_order_date", "spend_rank", "value_segment"]
ALL_SEG = ["customer_id", "customer_name", "first_order_date", "kept_order_count", "kept_spend", "lifetime_value",
           "value_segment"]
ALL_ORD = ["amount", "cumulative_amount", "customer_id", "customer_name", "customer_order_number", "is_first_order",
           "order_channel", "order_date", "order_id", "order_status"]


@pytest.fixture
def run(scenario):
    def go(name):
        report = scenario(name, SCENARIOS[name])
        assert report.errors == [], report.errors
        return report
    return go


TESTS = ("test", "unit_test")


def impacts(report):
    """Impacted nodes but data and unit tests (:func:`tests_hit`)."""
    return {i.node: (i.severity, i.columns) for i in report.impacts if i.resource_type not in TESTS}


def by_project(report):
    found = {p: sorted(i.node for i in items if i.resource_type not in TESTS)
             for p, items in report.impacts_by_project().items()}
    return {p: nodes for p, nodes in found.items() if nodes}


def hit_tests(report):
    """Impacted data tests and unit tests: test id -> (severity, columns)."""
    return {i.node: (i.severity, i.columns) for i in report.impacts if i.resource_type in TESTS}


def changes(report):
    return {c.node: c.category for c in report.changes}


# --- issue 2: node-level scenarios ------------------------------------------------------

def test_public_model_removed(run):
    report = run("remove-public-model")
    assert report.conclusion == "failure"
    assert changes(report) == {CUSTOMERS: "breaking"}
    assert by_project(report) == {"finance": [CHURN, ORD, SEG], "exec_reporting": [BOARD, TOP]}
    assert all(sev == "breaking" for sev, _ in impacts(report).values())
    # the consumer that no longer compiles is reported with dbt's own message
    assert any("depends on a node named 'customers'" in b.error for b in report.broken)
    assert {b.project for b in report.broken} == {"finance", "exec_reporting"}
    assert any("public model `customers` removed" in p for p in report.policy)


def test_public_model_made_private(run):
    report = run("make-public-model-private")
    assert report.conclusion == "failure"
    assert changes(report) == {CUSTOMERS: "breaking"}
    assert by_project(report) == {"finance": [CHURN, ORD, SEG], "exec_reporting": [BOARD, TOP]}
    got = impacts(report)
    assert {n for n, (s, _) in got.items() if s == "breaking"} == {ORD, SEG, TOP}
    assert {n for n, (s, _) in got.items() if s == "changed"} == {CHURN, BOARD}
    assert any("private to the 'sales' group" in r for r in
               next(i for i in report.impacts if i.node == ORD).reasons)
    assert any("access narrowed from `public` to `private`" in p for p in report.policy)


def test_new_version_added_while_old_stays(run):
    report = run("add-version-keep-old")
    assert report.conclusion == "success"
    assert changes(report) == {"model.shop.orders.v3": "additive"}
    assert report.impacts == []


def test_model_added_impacts_nothing(run):
    report = run("add-model")
    assert report.conclusion == "success"
    assert changes(report) == {"model.shop.order_counts": "additive"}
    assert report.impacts == []


def test_description_only_change_is_metadata(run):
    report = run("description-only")
    assert report.conclusion == "success"
    assert changes(report) == {CUSTOMERS: "metadata"}
    assert report.impacts == []


def test_private_model_change_flows_into_public_one_and_beyond(run):
    report = run("private-model-flows-into-public")
    assert report.conclusion == "success"
    assert changes(report) == {"model.shop.customer_ltv_private": "partial"}
    assert impacts(report) == {
        CUSTOMERS: ("changed", ["lifetime_value"]),
        SEG: ("changed", ["lifetime_value", "value_segment"]),
        TOP: ("changed", ["value_segment"]),
        CHURN: ("changed", []),
        BOARD: ("changed", []),
    }
    top = next(i for i in report.impacts if i.node == TOP)
    assert top.via == [
        "model.shop.customer_ltv_private.lifetime_value_cents", f"{CUSTOMERS}.lifetime_value",
        f"{SEG}.value_segment", f"{TOP}.value_segment",
    ]
    assert top.owners == ["Executive Reporting <exec-reporting@example.com>"]


# --- issue 3: column-level scenarios ----------------------------------------------------

def test_rename_public_column(run):
    report = run("rename-public-column")
    assert report.conclusion == "failure"
    (change,) = report.changes
    assert [(c.name, c.change, c.renamed_to) for c in change.columns] == [("lifetime_value", "renamed", "lifetime_value_usd")]
    assert impacts(report) == {
        SEG: ("breaking", ["lifetime_value", "value_segment"]),
        CHURN: ("breaking", []),
        TOP: ("changed", ["value_segment"]),
        BOARD: ("changed", []),
    }
    # customer_segments cannot be traced at head (it reads the renamed column): that is its
    # breaking impact, not a lineage warning of its own
    assert not [w for w in report.warnings if SEG in w], report.warnings
    # the test on a column of the consumer that no longer builds fails too
    assert hit_tests(report) == {
        "test.finance.accepted_values_customer_segments_value_segment__gold__silver__bronze.e82fb21627":
            ("breaking", ["value_segment"])}


def test_remove_public_column(run):
    report = run("remove-public-column")
    assert report.conclusion == "failure"
    (change,) = report.changes
    assert [(c.name, c.change) for c in change.columns] == [("most_recent_order_date", "removed")]
    assert impacts(report) == {TOP: ("breaking", ["most_recent_order_date"]), BOARD: ("breaking", [])}
    assert hit_tests(report) == {}  # no test reads it


def test_change_one_expression(run):
    report = run("change-expression")
    assert report.conclusion == "success"
    assert [(c.name, c.change) for c in report.changes[0].columns] == [("first_name", "modified")]
    assert impacts(report) == {
        ORD: ("changed", ["customer_name"]),
        # customer_segments groups by customer_name: every column of it may change
        SEG: ("changed", ALL_SEG),
        TOP: ("changed", ALL_TOP),
        CHURN: ("changed", []),
        BOARD: ("changed", []),
    }


def test_add_where_filter_changes_every_column(run):
    report = run("add-where-filter")
    assert report.conclusion == "success"
    assert changes(report) == {CUSTOMERS: "partial"}
    assert {c.change for c in report.changes[0].columns} == {"modified"}
    assert len(report.changes[0].columns) == 10
    assert impacts(report) == {
        ORD: ("changed", ALL_ORD), SEG: ("changed", ALL_SEG), TOP: ("changed", ALL_TOP),
        CHURN: ("changed", []), BOARD: ("changed", []),
    }


def test_add_column(run):
    report = run("add-column")
    assert report.conclusion == "success"
    assert changes(report) == {CUSTOMERS: "additive"}
    assert [(c.name, c.change) for c in report.changes[0].columns] == [("signed_up_on", "added")]
    assert report.impacts == []


def test_reformat_sql_only_impacts_nothing(run):
    report = run("reformat-only")
    assert report.conclusion == "success"
    assert changes(report) == {CUSTOMERS: "metadata"}
    assert report.changes[0].columns == []
    assert report.impacts == []


def test_change_of_a_column_no_one_reads(run):
    # finance.customer_orders reads shop.customers through `select *`, yet picks other columns
    report = run("change-unread-column")
    assert report.conclusion == "success"
    assert [(c.name, c.change) for c in report.changes[0].columns] == [("number_of_orders", "modified")]
    assert report.impacts == []


def test_unparseable_sql_is_unknown_and_blocks(run):
    report = run("unparseable-sql")
    assert report.conclusion == "failure"
    assert changes(report) == {CUSTOMERS: "unknown"}
    assert any("sqlglot could not parse model.shop.customers" in r for r in report.changes[0].reasons)
    # every reader of customers is `unknown`, never merely `changed`
    assert by_project(report) == {"finance": [CHURN, ORD, SEG], "exec_reporting": [BOARD, TOP]}
    assert {sev for sev, _ in impacts(report).values()} == {"unknown"}
    assert any(p.startswith(f"{CUSTOMERS} (category `unknown`") for p in report.policy)
    # so is every test on a column computed from it, in every project (shop's own included)
    assert {t.split(".")[2]: sev for t, (sev, _) in hit_tests(report).items()} == {
        "not_null_top_customers_customer_id": "unknown", "not_null_top_customers_spend_rank": "unknown",
        "unique_top_customers_customer_id": "unknown", "not_null_customer_orders_order_id": "unknown",
        "accepted_values_customer_segments_value_segment__gold__silver__bronze": "unknown",
        "not_null_customer_segments_customer_id": "unknown", "unique_customer_orders_order_id": "unknown",
        "unique_customer_segments_customer_id": "unknown", "unique_customers_customer_id": "unknown"}


def test_sql_change_without_contract_update_is_reported(run):
    report = run("add-column-without-contract")
    assert report.conclusion == "failure"
    assert report.impacts == []
    assert any("`signed_up_on` which the contract does not declare" in p for p in report.policy)


def test_move_latest_version_to_one_without_a_column(run):
    """v3 drops order_channel and becomes latest: unpinned consumers now read v3 (dbt compiles
    them fine: no warehouse check), so their own lineage, base vs head, decides the severity."""
    report = run("move-latest-version")
    assert report.conclusion == "failure"
    assert {(c.node, c.category) for c in report.changes} == {
        ("model.shop.orders.v1", "partial"), ("model.shop.orders.v2", "partial"), ("model.shop.orders.v3", "additive")}
    got = {i.node: i.severity for i in report.impacts}
    # customer_orders reads order_channel, which v3 lacks: it cannot be proven, and gates
    assert got[ORD] == "unknown"
    assert any("order_channel" in r for r in next(i for i in report.impacts if i.node == ORD).reasons)
    assert got[SEG] == got[TOP] == got[CHURN] == got[BOARD] == "unknown"
    # the other unpinned readers get their rows from another relation: changed, not blocking
    for node in ("model.finance.revenue", "model.finance.ledger_entries", "model.finance.payments_reconciliation"):
        assert got[node] == "changed"
    assert "model.finance.order_facts_v1_legacy" not in got  # pinned to v1: untouched
