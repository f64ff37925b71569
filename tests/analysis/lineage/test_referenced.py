"""Columns a model's SQL names without using them (``ModelLineage.referenced``): real sqlglot.

Removing or renaming such a column makes the SQL fail to bind even though no output column or
row depends on it, so the tracer must record it; a column a ``select *`` merely expands to is
not named (the SQL still binds without it)."""
from __future__ import annotations

from analysis.lineage.packs import lineage_from_json, lineage_to_json
from analysis.lineage.trace import analyse
from tests.analysis.lineage.test_joins import UNIQUE
from tests.analysis.lineage.test_trace_cases import RESOLVERS, SCHEMAS

O, C = '"mesh"."main"."orders"', '"mesh"."main"."customers"'


def run(sql: str, unique=None):
    return analyse("model.shop.m", sql, "duckdb", RESOLVERS["duckdb"], SCHEMAS, unique=unique).lineage


def short(refs) -> set[str]:
    return {f"{r.node.rsplit('.', 1)[-1]}.{r.column}" for r in refs}


def used(lin) -> set[str]:
    return short({u.ref for ups in lin.columns.values() for u in ups} | lin.row_shaping)


def test_an_unused_cte_projection_is_referenced_but_not_lineage():
    lin = run(f"with j as (select id, upper(status) as s from {O}) select id from j")
    assert lin.status == "ok"
    assert used(lin) == {"orders.id"}
    assert short(lin.referenced) == {"orders.id", "orders.status"}


def test_a_filter_in_an_unused_cte_and_an_unused_subquery_column():
    lin = run(f"with unused as (select id from {O} where amount > 0), "
              f"x as (select id, ordered_at as t from {O}) select id from x")
    assert used(lin) == {"orders.id"}
    assert short(lin.referenced) == {"orders.id", "orders.amount", "orders.ordered_at"}
    sub = run(f"select id from (select id, customer_id, status from {O}) q")
    assert used(sub) == {"orders.id"}
    assert short(sub.referenced) == {"orders.id", "orders.customer_id", "orders.status"}


def test_a_filter_in_a_cte_that_is_read_is_row_shaping_and_referenced():
    lin = run(f"with j as (select id from {O} where status = 'paid') select id from j")
    assert short(lin.row_shaping) == {"orders.status"}
    assert "orders.status" in short(lin.referenced)


def test_the_on_columns_of_a_kept_join_are_referenced():
    lin = run(f"select o.id, c.name from {O} o left join {C} c on c.id = o.customer_id and c.segment = 'b2b'",
              UNIQUE)
    assert short(lin.row_shaping) == set()  # a kept join: its ON decides the joined columns only
    assert {"customers.id", "orders.customer_id", "customers.segment"} <= short(lin.referenced)


def test_a_star_names_nothing_but_a_name_read_through_it_is_named():
    lin = run(f"with j as (select * from {O}) select id from j")
    assert short(lin.referenced) == {"orders.id"}  # the SQL binds without orders.status
    through = run(f"with j as (select * from {O}), k as (select id, status from j) select id from k")
    assert short(through.referenced) == {"orders.id", "orders.status"}


def test_using_keys_are_named():
    lin = run(f"with unused as (select o.id from {O} o join {C} c using (id)) select 1 as one")
    assert {"orders.id", "customers.id"} <= short(lin.referenced)


def test_referenced_survives_the_cache_encoding():
    lin = run(f"with j as (select id, upper(status) as s from {O}) select id from j")
    again = lineage_from_json(lineage_to_json(lin))
    assert again.referenced == lin.referenced and again == lin


def test_a_name_no_source_has_any_more_still_names_the_table_it_selects_from():
    # traced against the schema after `status` was removed: the CTE no longer binds, and the
    # unused projection must still say which column it names
    without = {node: {c: t for c, t in cols.items() if c != "status"} for node, cols in SCHEMAS.items()}
    lin = analyse("model.shop.m", f"with j as (select id, upper(status) as s from {O}) select id from j", "duckdb",
                  RESOLVERS["duckdb"], without).lineage
    assert short(lin.referenced) == {"orders.id", "orders.status"}
