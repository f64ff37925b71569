"""LEFT JOINs on a proven key keep their left side's rows (issue 10, item 5): real sqlglot, no mocks.

Upstream: orders (unique on id), customers (unique on id), payments (no key declared), events
(unique on the pair event_id, kind). Each case names what a change of a join key changes."""
from __future__ import annotations

from analysis.lineage.columns import ColumnRef
from analysis.lineage.trace import analyse
from tests.analysis.lineage.test_trace_cases import IDS, RESOLVERS, SCHEMAS

UNIQUE = {IDS["orders"]: (("id",),), IDS["customers"]: (("id",),), IDS["events"]: (("event_id", "kind"),)}
O, C, P = '"mesh"."main"."orders"', '"mesh"."main"."customers"', '"main"."payments"'


def run(sql: str, unique=UNIQUE):
    return analyse("model.shop.m", sql, "duckdb", RESOLVERS["duckdb"], SCHEMAS, unique=unique).lineage


def ups(lin, column: str) -> set[str]:
    return {f"{u.ref.node.rsplit('.', 1)[-1]}.{u.ref.column}" for u in lin.columns[column]}


def rows(lin) -> set[str]:
    return {f"{r.node.rsplit('.', 1)[-1]}.{r.column}" for r in lin.row_shaping}


def test_left_join_on_a_unique_key_changes_the_joined_columns_only():
    lin = run(f"select o.id, o.amount, c.name, c.country from {O} o left join {C} c on c.id = o.customer_id")
    assert lin.status == "ok"
    assert rows(lin) == set()
    assert ups(lin, "id") == {"orders.id"} and ups(lin, "amount") == {"orders.amount"}
    # a change to either key changes which customer an order gets: its columns, not the order's
    assert ups(lin, "name") == {"customers.name", "customers.id", "orders.customer_id"}
    assert ups(lin, "country") == {"customers.country", "customers.id", "orders.customer_id"}
    assert [u.kind for u in lin.columns["name"] if u.ref.column == "name"] == ["passthrough"]


def test_without_a_proven_key_the_join_shapes_every_row():
    for sql, unique in ((f"select o.id, c.name from {O} o left join {C} c on c.id = o.customer_id", {}),
                        (f"select o.id, p.method from {O} o left join {P} p on p.order_id = o.id", UNIQUE),
                        (f"select o.id, c.name from {O} o join {C} c on c.id = o.customer_id", UNIQUE),
                        (f"select o.id, c.name from {O} o left join {C} c on c.id > o.customer_id", UNIQUE),
                        (f"select c.id, o.amount from {C} c right join {O} o on c.id = o.customer_id", UNIQUE),
                        (f"select o.id, c.name from {O} o full join {C} c on c.id = o.customer_id", UNIQUE)):
        lin = run(sql, unique)
        assert {"orders.customer_id", "customers.id"} <= rows(lin) or {"payments.order_id", "orders.id"} <= rows(lin), sql


def test_a_key_of_several_columns_must_all_be_equated():
    E = "read_csv('/data/events.csv', header = true)"
    half = run(f"select o.id, e.at from {O} o left join {E} e on e.event_id = o.id")
    assert {"events.event_id", "orders.id"} <= rows(half)
    whole = run(f"select o.id, e.at from {O} o left join {E} e on e.event_id = o.id and e.kind = 'x'")
    # a key column equated to a constant is fixed too: at most one event per order
    assert rows(whole) == set()
    unequal = run(f"select o.id, e.at from {O} o left join {E} e on e.event_id = o.id and e.kind <> o.status")
    assert {"events.event_id", "orders.id"} <= rows(unequal)
    both = run(f"select o.id, e.at from {O} o left join {E} e on e.event_id = o.id and e.kind = o.status")
    assert rows(both) == set() and ups(both, "at") == {"events.at", "events.event_id", "events.kind",
                                                        "orders.id", "orders.status"}


def test_extra_conditions_narrow_the_match_and_stay_with_the_joined_columns():
    lin = run(f"select o.id, c.name from {O} o left join {C} c on c.id = o.customer_id and c.country = 'FR'")
    assert rows(lin) == set() and ups(lin, "name") == {"customers.name", "customers.id", "customers.country",
                                                       "orders.customer_id"}


def test_filters_grouping_and_distinct_over_the_joined_columns_still_shape_rows():
    where = run(f"select o.id from {O} o left join {C} c on c.id = o.customer_id where c.country = 'FR'")
    assert rows(where) == {"customers.country", "customers.id", "orders.customer_id"}
    grouped = run(f"select c.country, count(*) as n from {O} o left join {C} c on c.id = o.customer_id group by 1")
    assert {"customers.country", "customers.id", "orders.customer_id"} <= rows(grouped)


def test_grouped_and_distinct_subqueries_are_unique_on_their_keys():
    lin = run(f"""with paid as (select order_id, sum(amount) as paid from {P} where method <> 'gift' group by order_id),
                  methods as (select distinct order_id, method from {P})
                  select o.id, o.status, paid.paid from {O} o left join paid on paid.order_id = o.id""")
    assert rows(lin) == set()
    assert ups(lin, "status") == {"orders.status"}
    # the CTE's own filter decides which payment rows count: the joined column's business only
    assert ups(lin, "paid") == {"payments.amount", "payments.order_id", "payments.method", "orders.id"}
    not_key = run(f"""with methods as (select distinct order_id, method from {P})
                      select o.id, m.method from {O} o left join methods m on m.order_id = o.id""")
    assert {"payments.order_id", "orders.id"} <= rows(not_key)


def test_a_staging_model_passes_its_sources_key_through():
    lin = run(f"""with stg as (select id as customer_id, name as customer_name from {C} where country is not null)
                  select o.id, s.customer_name from {O} o left join stg s on s.customer_id = o.customer_id""")
    assert rows(lin) == set()
    assert ups(lin, "customer_name") == {"customers.name", "customers.id", "customers.country", "orders.customer_id"}


def test_a_chain_of_kept_joins_carries_the_first_key_into_the_second():
    lin = run(f"""select p.id as payment_id, o.status, c.name from {P} p
                  left join {O} o on o.id = p.order_id
                  left join {C} c on c.id = o.customer_id""")
    assert rows(lin) == set()
    assert ups(lin, "status") == {"orders.status", "orders.id", "payments.order_id"}
    # which customer depends on which order matched: payments.order_id too
    assert ups(lin, "name") == {"customers.name", "customers.id", "orders.customer_id", "orders.id",
                                "payments.order_id"}


def test_a_where_on_the_left_side_still_shapes_rows():
    lin = run(f"select o.id, c.name from {O} o left join {C} c on c.id = o.customer_id where o.status = 'paid'")
    assert rows(lin) == {"orders.status"}
    assert ColumnRef(IDS["orders"], "customer_id") not in lin.row_shaping


def test_distinct_over_a_star_of_unknown_columns_proves_no_key():
    lin = run(f"""with d as (select distinct * from "mesh"."main"."blob")
                  select o.id, d.x from {O} o left join d on d.id = o.id""")
    assert {"orders.id"} <= rows(lin) or lin.unknown_columns


def test_a_kept_join_whose_columns_are_not_read_still_reads_its_keys():
    """`select o.* from orders o left join customers c on c.id = o.customer_id`: no column of c
    comes out, but the SQL reads c.id and o.customer_id: removing or renaming either breaks the
    model. They must stay in its lineage (row shaping, as without a proven key), never vanish."""
    lin = run(f"select o.id, o.amount from {O} o left join {C} c on c.id = o.customer_id")
    assert lin.status == "ok"
    assert {"customers.id", "orders.customer_id"} <= rows(lin)
