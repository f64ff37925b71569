"""Data tests and unit tests a change reaches (issue 9, item 11), from hand-built hits: no dbt.
The scenario on real compiles: tests/analysis/test_never_silently_safe.py."""
import networkx as nx

from analysis.dbt import DataTest, Project
from analysis.impact.propagation import _Hit
from analysis.impact.testsreached import reached_tests
from analysis.mesh import Mesh

ORDERS = "model.shop.orders"
REV = "model.finance.revenue"


def mesh(tests):
    projects = {}
    for test in tests:
        projects.setdefault(test.project, Project(test.project, "duckdb", {}))
        projects[test.project].tests[test.unique_id] = test
    return Mesh(projects=projects, nodes={}, graph=nx.DiGraph())


def data_test(uid, reads=(), reads_all=(), kind="test"):
    project = uid.split(".")[1]
    return DataTest(uid, project, uid.split(".")[2], kind, reads=tuple(reads), reads_all=tuple(reads_all))


NOT_NULL = data_test("test.finance.not_null_revenue_total", [(REV, "total")])
UNIQUE = data_test("test.finance.unique_revenue_id", [(REV, "id")])
OWN = data_test("test.shop.accepted_values_orders_status", [(ORDERS, "status")])
UNIT = data_test("unit_test.finance.revenue.sums", reads_all=[REV], kind="unit_test")
HITS = {
    (REV, "total"): _Hit("renamed", "breaking", (ORDERS, "amount"), "reads `amount` of model.shop.orders (renamed)"),
    (REV, "net"): _Hit("modified", "changed", (ORDERS, "status"), ""),
}


def by_id(found):
    return {i.node: (i.severity, i.columns, i.resource_type) for i in found}


def test_tests_on_hit_columns_and_changed_columns_of_the_pr_itself():
    world = mesh([NOT_NULL, UNIQUE, OWN, UNIT])
    found = reached_tests(HITS, {ORDERS: {"amount": "renamed", "status": "modified"}}, world, world)
    assert by_id(found) == {
        NOT_NULL.unique_id: ("breaking", ["total"], "test"),
        UNIT.unique_id: ("breaking", ["net", "total"], "unit_test"),  # rows from SQL: any column of the model
        OWN.unique_id: ("changed", ["status"], "test"),
    }
    first = found[0]
    assert first.reasons == ["test reads `total` of model.finance.revenue, renamed: the test fails"]
    assert first.via == [f"{ORDERS}.amount", f"{REV}.total", NOT_NULL.unique_id]


def test_a_test_the_pr_removes_with_its_column_is_not_listed():
    base, head = mesh([OWN]), mesh([])
    head.projects["shop"] = Project("shop", "duckdb", {})
    assert reached_tests({}, {ORDERS: {"status": "removed"}}, head, base) == []
    # a project missing from the head world (it no longer compiles) keeps its base tests
    found = reached_tests({}, {ORDERS: {"status": "removed"}}, mesh([]), base)
    assert by_id(found) == {OWN.unique_id: ("breaking", ["status"], "test")}


def test_a_whole_node_hit_reaches_every_test_of_it():
    world = mesh([UNIQUE])
    found = reached_tests({(REV, "*"): _Hit("unknown", "unknown", None, "its lineage is unknown")}, {}, world, world)
    assert by_id(found) == {UNIQUE.unique_id: ("unknown", ["id"], "test")}
