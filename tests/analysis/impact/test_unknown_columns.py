"""A changed model whose lineage is unknown still says which columns are removed, renamed or added
(issue 9, item 7), from its contract, its select list or its YAML columns: no dbt. The scenario on
real compiles (YAML columns of SQL sqlglot cannot parse): tests/analysis/test_never_silently_safe.py."""
import pytest

from analysis.dbt import DeclaredColumn, Node
from analysis.impact.diff import diff_project
from analysis.lineage import ModelLineage, output_names

M = "model.shop.stats"


def node(sql, columns=(), contract=False):
    return Node(M, "shop", "stats", "model", compiled_sql=sql, contract_enforced=contract,
                columns={c: DeclaredColumn(c, "integer" if contract else None) for c in columns})


def diff(base, head, sb=None, sh=None):
    unknown = ModelLineage.unknown(M, "lineage of model.shop.stats exceeded 10 s (during qualify)")
    sb = sb if sb is not None else {c: None for c in base.columns} or {"*": None}
    sh = sh if sh is not None else {c: None for c in head.columns} or {"*": None}
    d = diff_project({M: base}, {M: head}, {M: unknown}, {M: unknown}, {M: sb}, {M: sh}, dialect="duckdb")
    (change,) = d.changes
    assert change.category == "unknown"  # the values are still unproven: it gates
    return change, d.seeds[M]


def test_the_select_list_says_removed_renamed_and_added():
    base = node("select id, sum(x) as total, count(*) as n, max(y) as last_y from t group by id")
    head = node("select id, sum(x) as grand_total, count(*) as n, avg(x) as mean_x from t group by id")
    change, seeds = diff(base, head)
    assert {c.name: (c.change, c.renamed_to) for c in change.columns} == {
        "total": ("renamed", "grand_total"), "last_y": ("removed", None), "mean_x": ("added", None)}
    assert seeds == {"*": "unknown", "total": "renamed", "last_y": "removed"}
    assert ("its output columns (from the select list) say: `total` renamed to `grand_total`, `last_y` removed, "
            "`mean_x` added; the values of the other columns are not proven") in change.reasons


def test_the_enforced_contract_comes_first():
    base = node("select a, b from t", ["a", "b"], contract=True)
    head = node("select a, c from t order by a using <", ["a", "c"], contract=True)
    change, seeds = diff(base, head, {"a": "int", "b": "int"}, {"a": "int", "c": "int"})
    assert {c.name: c.change for c in change.columns} == {"a": "modified", "b": "removed", "c": "added"}
    assert seeds == {"a": "unknown", "b": "removed"}


def test_yaml_columns_when_the_sql_cannot_be_read():
    base = node("select 1 using <", ["id", "spend"])
    head = node("select 2 using <", ["id", "avg_spend"])
    change, seeds = diff(base, head, {"id": None, "spend": None, "*": None}, {"id": None, "avg_spend": None, "*": None})
    assert {c.name: c.change for c in change.columns} == {"id": "modified", "spend": "removed", "avg_spend": "added"}
    assert seeds == {"id": "unknown", "spend": "removed", "*": "unknown"}


def test_nothing_to_read_stays_all_unknown():
    change, seeds = diff(node("select * from t"), node("select *, 1 as x from t"))
    assert change.columns == [] and seeds == {"*": "unknown"}


@pytest.mark.parametrize("sql, expected", [
    ("select a, b as c, count(*) as n, t.x from t order by 1", {"a": "a", "c": "b", "n": "COUNT(*)", "x": "t.x"}),
    ("select * from t", None),
    ("select t.*, a from t", None),
    ("select a + 1 from t", None),  # an unnamed expression: the warehouse names it
    ("select a from t order by a using <", None),  # does not parse
    ("select a as z from q union all select b from r", {"z": "a"}),
    ("select 1; select 2", None),
])
def test_output_names(sql, expected):
    assert output_names(sql, "duckdb") == expected
