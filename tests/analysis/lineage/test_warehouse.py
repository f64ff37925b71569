"""Macros that need a warehouse (analysis.lineage.warehouse): found in a model's Jinja, and said
in its lineage."""
from analysis.lineage.columns import ColumnRef, ModelLineage, Upstream
from analysis.lineage.warehouse import mark, warehouse_macros

UNION = """{{ dbt_utils.union_relations(relations=[ref('orders_eu'), ref('orders_us')]) }}"""
PIVOT = """select order_id,
{% for method in dbt_utils.get_column_values(ref('payments'), 'method') %}
  sum(case when method = '{{ method }}' then amount end) as {{ method }}_amount{% if not loop.last %},{% endif %}
{% endfor %}
from {{ ref('payments') }} group by 1"""


def test_warehouse_macros_are_found_in_the_jinja_only():
    assert warehouse_macros(UNION) == ["dbt_utils.union_relations"]
    assert warehouse_macros(PIVOT) == ["dbt_utils.get_column_values"]
    assert warehouse_macros("{% set rows = run_query('select 1') %} select 1") == ["run_query"]
    # a comment or a column named like a macro is not a call; a plain star is expanded by meshdiff
    assert warehouse_macros("select union_relations(x) from t -- get_column_values(") == []
    assert warehouse_macros("select {{ dbt_utils.star(ref('orders')) }} from {{ ref('orders') }}") == []
    assert warehouse_macros("select {{ dbt_utils.star(from=ref('orders'), except=['id']) }} from x") == \
        ["dbt_utils.star"]
    assert warehouse_macros(None) == []


def test_mark_makes_the_generated_columns_unknown_and_names_the_macro():
    lin = ModelLineage("model.p.m", columns={"_dbt_source_relation": ()}, fingerprints={"_dbt_source_relation": "x"})
    marked = mark(lin, ["dbt_utils.union_relations"])
    assert marked.status == "partial" and marked.unknown_columns == {"*"}
    assert "`dbt_utils.union_relations` reads the columns of the relations it unions" in marked.reason
    assert "empty database" in marked.reason
    assert list(marked.columns) == ["_dbt_source_relation"]
    empty = mark(ModelLineage("model.p.m"), ["dbt_utils.get_column_values"])
    assert empty.status == "unknown" and "get_column_values" in empty.reason
    ok = ModelLineage("model.p.m", columns={"a": (Upstream(ColumnRef("model.p.x", "a"), "passthrough"),)})
    assert mark(ok, []) is ok
