"""Column lineage of single models: a table of SQL cases with hand-checked expectations.

Every case names the expected upstreams of each output column (``node.column=kind``, kinds
``p``assthrough, ``r``enamed, ``d``erived) and the expected row-shaping columns. The same
upstream nodes exist in three meshes (DuckDB, Snowflake, BigQuery) with the relation names
each adapter renders. Real sqlglot, no mocks.
"""
from __future__ import annotations

import re
import threading

import pytest

from analysis.lineage.columns import ColumnRef
from analysis.lineage.trace import analyse, model_lineage
from analysis.dbt.nodes import Node
from analysis.lineage.relations import TableResolver

IDS = {
    "orders": "model.shop.orders",
    "customers": "model.shop.customers",
    "payments": "model.shop.payments",
    "events": "source.shop.raw.events",
    "blob": "model.shop.blob",
}
SCHEMAS = {
    IDS["orders"]: {"id": "INT", "customer_id": "INT", "amount": "DECIMAL(18, 2)", "status": "TEXT",
                    "ordered_at": "TIMESTAMP", "items": "INT[]"},
    IDS["customers"]: {"id": "INT", "name": "TEXT", "country": "TEXT", "segment": "TEXT"},
    IDS["payments"]: {"id": "INT", "order_id": "INT", "method": "TEXT", "amount": "DECIMAL(18, 2)"},
    IDS["events"]: {"event_id": "BIGINT", "order_id": "INT", "kind": "TEXT", "at": "TIMESTAMP"},
    # blob: a model whose columns are unknown (no entry)
}
RELATIONS = {
    "duckdb": {"orders": '"mesh"."main"."orders"', "customers": '"mesh"."main"."customers"',
               "payments": '"main"."payments"', "blob": '"mesh"."main"."blob"'},
    "snowflake": {"orders": "ANALYTICS.CORE.ORDERS", "customers": "ANALYTICS.CORE.CUSTOMERS",
                  "payments": "ANALYTICS.CORE.PAYMENTS", "blob": "ANALYTICS.CORE.BLOB"},
    "bigquery": {"orders": "`proj`.`core`.`orders`", "customers": "`proj`.`core`.`customers`",
                 "payments": "`proj`.`core`.`payments`", "blob": "`proj`.`core`.`blob`"},
}
EVENTS_LOCATION = "read_csv('/data/events.csv', header = true)"


def resolver(dialect: str) -> TableResolver:
    nodes = [Node(IDS[short], "shop", short, "model", relation_name=rel) for short, rel in RELATIONS[dialect].items()]
    nodes.append(Node(IDS["events"], "shop", "raw.events", "source", relation_name=EVENTS_LOCATION,
                      external_location=EVENTS_LOCATION))
    return TableResolver.from_nodes(nodes)


RESOLVERS = {d: resolver(d) for d in RELATIONS}
KINDS = {"p": "passthrough", "r": "renamed", "d": "derived"}


def ref(text: str) -> ColumnRef:
    short, column = text.rsplit(".", 1)
    return ColumnRef(IDS[short], column)


def ups(spec: str) -> set[tuple[ColumnRef, str]]:
    """``"orders.id=p orders.amount=d"`` -> {(ColumnRef, kind)}."""
    out = set()
    for item in spec.split():
        text, kind = item.split("=")
        out.add((ref(text), KINDS[kind]))
    return out


def run(sql: str, dialect: str = "duckdb", schemas=SCHEMAS, **kw):
    return model_lineage("model.shop.m", sql, dialect, RESOLVERS[dialect], schemas, **kw)


# (id, dialects, sql, {column: upstream spec}, row-shaping spec). ``ALL``: DuckDB, Snowflake and
# BigQuery (the construct exists in each); ``{orders}``, ``{customers}``, ``{payments}`` and
# ``{blob}`` become each warehouse's relation names, ``{distinct}`` and ``{exclude}`` its keywords
# (BigQuery requires UNION/INTERSECT/EXCEPT DISTINCT and spells EXCLUDE as EXCEPT).
ALL = ("duckdb", "snowflake", "bigquery")
KEYWORDS = {"duckdb": {"distinct": "", "exclude": "exclude"}, "snowflake": {"distinct": "", "exclude": "exclude"},
            "bigquery": {"distinct": " distinct", "exclude": "except"}}
CASES = [
    # -- every dialect where the construct exists: the same SQL with each warehouse's names and keywords
    ("bare-rename-derive-where", ALL,
     """select id, customer_id as buyer_id, amount * 1.2 as gross, upper(status) as status
        from {orders} where status <> 'cancelled'""",
     {"id": "orders.id=p", "buyer_id": "orders.customer_id=r", "gross": "orders.amount=d", "status": "orders.status=d"},
     "orders.status"),
    ("case-when", ALL,
     """select id, case when amount > 100 then 'big' when status = 'x' then 'odd' else 'small' end as size
        from {orders} o""",
     {"id": "orders.id=p", "size": "orders.amount=d orders.status=d"}, ""),
    ("literal-and-count-star", ALL,
     """select 'shop' as source_name, count(*) as n, 1 as one from {orders} """,
     {"source_name": "", "n": "", "one": ""}, ""),
    ("nested-ctes-filter-in-cte", ALL,
     """with base as (select id, customer_id, amount from {orders} where status = 'paid'),
             enriched as (select base.id as order_id, base.amount, c.name
                          from base join {customers} c on c.id = base.customer_id)
        select order_id, amount as paid_amount, name from enriched""",
     {"order_id": "orders.id=r", "paid_amount": "orders.amount=r", "name": "customers.name=p"},
     "orders.status orders.customer_id customers.id"),
    ("cte-reused-twice", ALL,
     """with o as (select id, customer_id, amount from {orders})
        select a.id, b.id as other_id, a.amount + b.amount as pair_amount
        from o as a join o as b on a.customer_id = b.customer_id and a.id < b.id""",
     {"id": "orders.id=p", "other_id": "orders.id=r", "pair_amount": "orders.amount=d"},
     "orders.customer_id orders.id"),
    ("subquery-in-from", ALL,
     """select t.cid, t.total from (select customer_id as cid, sum(amount) as total
        from {orders} group by customer_id having count(*) > 1) as t""",
     {"cid": "orders.customer_id=r", "total": "orders.amount=d"}, "orders.customer_id"),
    ("ephemeral-dbt-cte", ALL,
     """with __dbt__cte__stg as (select id as payment_id, order_id, amount from {payments})
        select payment_id, order_id, amount from __dbt__cte__stg""",
     {"payment_id": "payments.id=r", "order_id": "payments.order_id=p", "amount": "payments.amount=p"}, ""),
    ("union-all", ALL,
     """select id, amount from {orders} union all select order_id, amount from {payments} """,
     {"id": "orders.id=p payments.order_id=r", "amount": "orders.amount=p payments.amount=p"}, ""),
    ("union-distinct-shapes-rows", ALL,
     """select customer_id as cid from {orders} union{distinct} select id from {customers} """,
     {"cid": "orders.customer_id=r customers.id=r"}, "orders.customer_id customers.id"),
    ("intersect", ALL,
     """select customer_id from {orders} intersect{distinct} select id from {customers} """,
     {"customer_id": "orders.customer_id=p customers.id=r"}, "orders.customer_id customers.id"),
    ("except-values-from-left", ALL,
     """select id from {orders} except{distinct} select order_id from {payments} """,
     {"id": "orders.id=p"}, "orders.id payments.order_id"),
    ("left-right-full-cross-joins", ALL,
     """select o.id, c.name, p.method, x.segment
        from {orders} o
        left join {customers} c on c.id = o.customer_id
        right join {payments} p on p.order_id = o.id
        full outer join {customers} x on x.country = c.country
        cross join {customers} y""",
     {"id": "orders.id=p", "name": "customers.name=p", "method": "payments.method=p", "segment": "customers.segment=p"},
     "customers.id orders.customer_id payments.order_id orders.id customers.country"),
    ("join-using-key-is-passthrough", ALL,
     """select order_id, p.method, q.amount from {payments} p join {payments} q using (order_id)""",
     {"order_id": "payments.order_id=p", "method": "payments.method=p", "amount": "payments.amount=p"},
     "payments.order_id"),
    ("aggregate-group-having", ALL,
     """select customer_id, count(*) as n, sum(amount) as total, max(ordered_at) as last_at
        from {orders} group by customer_id having sum(amount) > 10""",
     {"customer_id": "orders.customer_id=p", "n": "", "total": "orders.amount=d", "last_at": "orders.ordered_at=d"},
     "orders.customer_id orders.amount"),
    ("group-by-all", ALL,
     """select customer_id, status, sum(amount) as total from {orders} group by all""",
     {"customer_id": "orders.customer_id=p", "status": "orders.status=p", "total": "orders.amount=d"},
     "orders.customer_id orders.status"),
    ("window-and-qualify", ALL,
     """select id, row_number() over (partition by customer_id order by ordered_at desc) as rn,
               sum(amount) over (partition by customer_id) as customer_total
        from {orders} qualify rn = 1""",
     {"id": "orders.id=p", "rn": "orders.customer_id=d orders.ordered_at=d",
      "customer_total": "orders.amount=d orders.customer_id=d"},
     "orders.customer_id orders.ordered_at"),
    ("scalar-subquery-in-select", ALL,
     """select o.id, (select max(p.amount) from {payments} p where p.order_id = o.id and p.method = 'card')
               as max_card from {orders} o""",
     {"id": "orders.id=p", "max_card": "payments.amount=d payments.order_id=d payments.method=d orders.id=d"}, ""),
    ("in-subquery-in-where", ALL,
     """select id from {orders}
        where customer_id in (select id from {customers} where country = 'FR')""",
     {"id": "orders.id=p"}, "orders.customer_id customers.id customers.country"),
    ("correlated-exists", ALL,
     """select id from {orders} o
        where exists (select 1 from {payments} p where p.order_id = o.id)""",
     {"id": "orders.id=p"}, "payments.order_id orders.id"),
    ("star-and-table-star", ALL,
     """select o.*, c.name from {orders} o join {customers} c on c.id = o.customer_id""",
     {"id": "orders.id=p", "customer_id": "orders.customer_id=p", "amount": "orders.amount=p",
      "status": "orders.status=p", "ordered_at": "orders.ordered_at=p", "items": "orders.items=p",
      "name": "customers.name=p"},
     "customers.id orders.customer_id"),
    ("star-through-cte", ALL,
     """with c as (select * from {customers}) select * from c""",
     {"id": "customers.id=p", "name": "customers.name=p", "country": "customers.country=p",
      "segment": "customers.segment=p"}, ""),
    ("star-exclude-replace", ALL,
     """select * {exclude} (items, ordered_at) replace (amount * 100 as amount) from {orders} """,
     {"id": "orders.id=p", "customer_id": "orders.customer_id=p", "amount": "orders.amount=d",
      "status": "orders.status=p"}, ""),
    ("lateral-subquery", ("duckdb", "snowflake"),
     """select o.id, l.paid from {orders} o,
        lateral (select sum(p.amount) as paid from {payments} p where p.order_id = o.id) as l""",
     {"id": "orders.id=p", "paid": "payments.amount=d"}, "payments.order_id orders.id"),
    ("distinct", ALL,
     """select distinct customer_id, status from {orders} """,
     {"customer_id": "orders.customer_id=p", "status": "orders.status=p"}, "orders.customer_id orders.status"),
    ("order-by-limit-picks-rows", ALL,
     """select id, amount from {orders} order by amount desc limit 10""",
     {"id": "orders.id=p", "amount": "orders.amount=p"}, "orders.amount"),
    ("order-by-without-limit-does-not", ALL,
     """select id from {orders} order by ordered_at""",
     {"id": "orders.id=p"}, ""),
    ("pivot", ("duckdb", "bigquery"),
     """select * from (select order_id, method, amount from {payments})
        pivot (sum(amount) for method in ('card', 'cash'))""",
     {"order_id": "payments.order_id=p", "card": "payments.amount=d payments.method=d",
      "cash": "payments.amount=d payments.method=d"}, "payments.method payments.order_id"),
    # -- DuckDB only (Snowflake and BigQuery spell these differently: their own cases below)
    ("unnest-in-from", ("duckdb",),
     """select o.id, t.item from {orders} o, unnest(o.items) as t(item)""",
     {"id": "orders.id=p", "item": "orders.items=d"}, "orders.items"),
    ("unnest-in-select", ("duckdb",),
     """select id, unnest(items) as item from {orders} """,
     {"id": "orders.id=p", "item": "orders.items=d"}, "orders.items"),
    ("external-read-csv-source", ("duckdb",),
     """with src as (select * from read_csv('/data/events.csv', header = true))
        select cast(event_id as bigint) as event_id, lower(kind) as kind, at as event_at from src""",
     {"event_id": "events.event_id=d", "kind": "events.kind=d", "event_at": "events.at=r"}, ""),
    ("distinct-on", ("duckdb",),
     """select distinct on (customer_id) customer_id, id from {orders} order by customer_id, ordered_at desc""",
     {"customer_id": "orders.customer_id=p", "id": "orders.id=p"}, "orders.customer_id orders.ordered_at"),
    ("values-and-generate-series", ("duckdb",),
     """select v.code, v.label, g.n from (values ('a', 'Alpha'), ('b', 'Beta')) as v(code, label)
        cross join generate_series(1, 3) as g(n)""",
     {"code": "", "label": "", "n": ""}, ""),
    # -- repeated output names: DuckDB renames them (`id`, `id_1`) in tables, views, CTEs, subqueries
    ("duckdb-repeated-name-renamed", ("duckdb",),
     """select o.id, c.id, c.name from {orders} o join {customers} c on c.id = o.customer_id""",
     {"id": "orders.id=p", "id_1": "customers.id=r", "name": "customers.name=p"}, "customers.id orders.customer_id"),
    ("duckdb-star-over-join-renames", ("duckdb",),
     """select * from {orders} o join {customers} c on c.id = o.customer_id""",
     {"id": "orders.id=p", "customer_id": "orders.customer_id=p", "amount": "orders.amount=p",
      "status": "orders.status=p", "ordered_at": "orders.ordered_at=p", "items": "orders.items=p",
      "id_1": "customers.id=r", "name": "customers.name=p", "country": "customers.country=p",
      "segment": "customers.segment=p"},
     "customers.id orders.customer_id"),
    ("duckdb-renamed-name-read-outside", ("duckdb",),
     """with t as (select * from {orders} o join {customers} c on c.id = o.customer_id),
             u as (select o.id, c.id from {orders} o join {customers} c on c.id = o.customer_id)
        select t.id_1 as customer, t.name, u.id_1 as customer_again from t join u on u.id = t.id""",
     {"customer": "customers.id=r", "name": "customers.name=p", "customer_again": "customers.id=r"},
     "customers.id orders.customer_id orders.id"),
    ("duckdb-star-over-cte-with-repeated-names", ("duckdb",),
     """with u as (select o.id, c.id, o.id from {orders} o join {customers} c
                   on c.id = o.customer_id) select * from u""",
     {"id": "orders.id=p", "id_1": "customers.id=r", "id_2": "orders.id=r"}, "customers.id orders.customer_id"),
    # -- Snowflake: unquoted identifiers are upper case; quoted ones keep their case
    ("sf-upper-quoted-qualify", ("snowflake",),
     """select "ID", CUSTOMER_ID as BUYER, Amount, row_number() over (partition by customer_id order by ORDERED_AT) as RN
        from analytics.core.orders where "STATUS" = 'paid' qualify RN = 1""",
     {"id": "orders.id=p", "buyer": "orders.customer_id=r", "amount": "orders.amount=p",
      "rn": "orders.customer_id=d orders.ordered_at=d"},
     "orders.status orders.customer_id orders.ordered_at"),
    ("sf-exclude-rename", ("snowflake",),
     """select * exclude (items, ordered_at) rename (customer_id as buyer_id) from ANALYTICS.CORE.ORDERS""",
     {"id": "orders.id=p", "buyer_id": "orders.customer_id=r", "amount": "orders.amount=p", "status": "orders.status=p"},
     ""),
    ("sf-cte-join-using", ("snowflake",),
     """with P as (select ORDER_ID as ID, METHOD from ANALYTICS.CORE.PAYMENTS)
        select ID, O.STATUS, P.METHOD from ANALYTICS.CORE.ORDERS O join P using (ID)""",
     {"id": "orders.id=p payments.order_id=r", "status": "orders.status=p", "method": "payments.method=p"},
     "orders.id payments.order_id"),
    ("sf-lateral-flatten", ("snowflake",),
     """select o.id, f.value as item from analytics.core.orders o, lateral flatten(input => o.items) f""",
     {"id": "orders.id=p", "item": "orders.items=d"}, "orders.items"),
    ("sf-pivot-quoted-names", ("snowflake",),
     """select * from (select order_id, method, amount from ANALYTICS.CORE.PAYMENTS)
        pivot (sum(amount) for method in ('card', 'cash'))""",
     {"order_id": "payments.order_id=p", "'card'": "payments.amount=d payments.method=d",
      "'cash'": "payments.amount=d payments.method=d"}, "payments.method payments.order_id"),
    # -- BigQuery: backticks, three-part names, UNNEST, EXCEPT/REPLACE
    ("bq-backticks-three-part", ("bigquery",),
     """select o.id, c.name from `proj`.`core`.`orders` as o join `proj.core.customers` as c on c.id = o.customer_id""",
     {"id": "orders.id=p", "name": "customers.name=p"}, "customers.id orders.customer_id"),
    ("bq-two-part-name", ("bigquery",),
     """select id, country from core.customers where segment = 'b2b'""",
     {"id": "customers.id=p", "country": "customers.country=p"}, "customers.segment"),
    ("bq-unnest-with-offset", ("bigquery",),
     """select o.id, item, pos from `proj.core.orders` o, unnest(o.items) as item with offset as pos""",
     {"id": "orders.id=p", "item": "orders.items=d", "pos": "orders.items=d"}, "orders.items"),
    ("bq-except-replace", ("bigquery",),
     """select * except (items, ordered_at) replace (round(amount) as amount) from `proj.core.orders`""",
     {"id": "orders.id=p", "customer_id": "orders.customer_id=p", "amount": "orders.amount=d", "status": "orders.status=p"},
     ""),
    ("bq-qualify-window", ("bigquery",),
     """select customer_id, amount from `proj.core.orders`
        qualify row_number() over (partition by customer_id order by amount desc) = 1""",
     {"customer_id": "orders.customer_id=p", "amount": "orders.amount=p"}, "orders.customer_id orders.amount"),
]


def render(sql: str, dialect: str) -> str:
    words = {**RELATIONS[dialect], **KEYWORDS[dialect]}
    return re.sub(r"\{(\w+)\}", lambda m: words[m.group(1)], sql)


PARAMS = [pytest.param(dialect, *rest, id=f"{cid}[{dialect}]" if len(dialects) > 1 else cid)
          for cid, dialects, *rest in CASES for dialect in dialects]


@pytest.mark.parametrize("dialect, sql, columns, shaping", PARAMS)
def test_lineage_case(dialect, sql, columns, shaping):
    lin = run(render(sql, dialect), dialect)
    assert lin.status == "ok", lin.reason
    assert list(lin.columns) == list(columns), "output columns, in order"
    got = {c: {(u.ref, u.kind) for u in ups} for c, ups in lin.columns.items()}
    assert got == {c: ups(spec) for c, spec in columns.items()}
    assert lin.row_shaping == frozenset(ref(t) for t in shaping.split())
    assert set(lin.fingerprints) == set(columns) and lin.shape_fingerprint


@pytest.mark.parametrize("dialect, sql, columns, shaping", PARAMS)
def test_without_type_annotation_the_lineage_is_the_same(dialect, sql, columns, shaping):
    """``types=False`` (a catalog gives the types) changes nothing but the inferred types: the
    columns, upstreams, row shaping, fingerprints and status are those of the full run."""
    sql = render(sql, dialect)
    full = analyse("model.shop.x", sql, dialect, RESOLVERS[dialect], SCHEMAS).lineage
    lean = analyse("model.shop.x", sql, dialect, RESOLVERS[dialect], SCHEMAS, types=False).lineage
    for field in ("columns", "row_shaping", "fingerprints", "shape_fingerprint", "status", "reason",
                  "unknown_columns", "unresolved_tables"):
        assert getattr(lean, field) == getattr(full, field), field
    assert set(lean.types) == set(full.types)


# -- unknown and partial -------------------------------------------------------------------

@pytest.mark.parametrize("names", [
    ["id", "id"], ["id", "x", "id_1", "id", "y"], ["a", "a", "a_1"], ["a_1", "a", "a"], ["a", "a", "a"],
    ["a", "a", "a_1", "a_1"], ["Id", "ID", "iD"], ["b", "a", "b", "a", "b_1", "a_1"],
])
def test_duplicate_names_are_renamed_exactly_as_duckdb_does(names):
    import duckdb

    from analysis.lineage.scopes import dedupe_names
    select = ", ".join(f'{i} as "{n}"' for i, n in enumerate(names))
    con = duckdb.connect()
    con.execute(f"create view v as select {select}")
    real = [row[0] for row in con.execute("describe v").fetchall()]
    assert [n.lower() for n in dedupe_names(names)] == [n.lower() for n in real]


@pytest.mark.parametrize("dialect", ["snowflake", "bigquery"])
def test_repeated_names_elsewhere_are_partial_not_dropped(dialect):
    orders, customers = RELATIONS[dialect]["orders"], RELATIONS[dialect]["customers"]
    lin = run(f"select o.id, o.amount, c.id from {orders} o join {customers} c on c.id = o.customer_id", dialect)
    assert lin.status == "partial" and lin.unknown_columns == {"id"}
    assert list(lin.columns) == ["id", "amount"]
    # both candidates stay upstreams: a change to either reaches the readers of `id`
    assert {u.ref for u in lin.columns["id"]} == {ref("orders.id"), ref("customers.id")}
    assert "`id` is selected more than once" in lin.reason and dialect in lin.reason


def test_types_follow_duckdb_renamed_names():
    lin = run("""select o.id, c.name as id from "mesh"."main"."orders" o join "mesh"."main"."customers" c
                 on c.id = o.customer_id""")
    assert lin.types == {"id": "INT", "id_1": "TEXT"}


def test_star_over_unknown_schema_is_partial_and_keeps_known_columns():
    lin = run("""select o.id, b.* from "mesh"."main"."orders" o join "mesh"."main"."blob" b on b.order_id = o.id""")
    assert lin.status == "partial"
    assert list(lin.columns) == ["id"] and lin.unknown_columns == {"*"}
    assert "model.shop.blob" in lin.reason
    # the join key of the unknown table is still known by name
    assert ColumnRef("model.shop.blob", "order_id") in lin.row_shaping


def test_star_over_only_unknown_schema_is_unknown():
    lin = run("""select * from "mesh"."main"."blob" """)
    assert lin.status == "unknown" and lin.unknown_columns == {"*"}


def test_explicit_columns_of_schemaless_upstream_are_traced():
    lin = run("""select x, y + 1 as y1 from "mesh"."main"."blob" """)
    assert lin.status == "ok"
    assert {c: {(u.ref, u.kind) for u in v} for c, v in lin.columns.items()} == {
        "x": {(ColumnRef("model.shop.blob", "x"), "passthrough")},
        "y1": {(ColumnRef("model.shop.blob", "y"), "derived")},
    }


def test_ambiguous_column_is_unknown_not_guessed():
    lin = run("""select o.id, name2 from "mesh"."main"."orders" o join "mesh"."main"."customers" c on c.id = o.customer_id""")
    assert lin.status == "partial" and lin.unknown_columns == {"name2"}
    assert lin.columns["id"] == tuple(sorted(ups_tuple("orders.id=p")))


def ups_tuple(spec):
    from analysis.lineage.columns import Upstream
    return [Upstream(r, k) for r, k in ups(spec)]


def test_unresolved_table_is_listed_and_partial():
    lin = run("""select o.id, r.rate from "mesh"."main"."orders" o join other_db.fx.rates r on r.day = o.ordered_at""")
    assert lin.status == "partial"
    assert lin.unresolved_tables == ("other_db.fx.rates",)
    assert lin.columns["rate"] == () and not lin.unknown_columns
    assert "outside the mesh" in lin.reason


def test_untraceable_row_shaping_makes_every_column_unknown():
    lin = run("""select o.id from "mesh"."main"."orders" o join "mesh"."main"."customers" c on c.id = o.customer_id
                 where mystery > 1""")
    assert lin.unknown_columns == {"id"} and lin.status == "unknown"


def test_unparsable_sql_is_unknown_with_reason():
    lin = run("select id,, from where (")
    assert lin.status == "unknown" and not lin.columns
    assert lin.reason.startswith("sqlglot could not parse model.shop.m (duckdb):")
    assert "line 1" in lin.reason and "target/compiled" in lin.reason


def test_more_than_one_statement_is_unknown():
    lin = run("""select 1 as a; select 2 as b""")
    assert lin.status == "unknown" and "not a single SELECT" in lin.reason


def _pathological_sql(columns=120, ctes=12):
    cols = [f"c{i}" for i in range(columns)]
    parts = [f"t0 as (select {', '.join(f'{c}' for c in cols)} from \"mesh\".\"main\".\"blob\")"]
    for i in range(1, ctes):
        parts.append(f"t{i} as (select {', '.join(f'coalesce({c}, {i}) + {c} as {c}' for c in cols)} from t{i - 1})")
    return f"with {', '.join(parts)} select * from t{ctes - 1}"


def test_tiny_timeout_gives_unknown_exceeded():
    lin = run(_pathological_sql(), timeout_s=0.02)
    assert lin.status == "unknown"
    assert "exceeded 0.02 s" in lin.reason
    assert "--lineage-timeout SECONDS" in lin.reason  # the flag that raises it


def test_timeout_outside_main_thread_uses_the_deadline():
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("r", analyse(
        "model.shop.m", _pathological_sql(), "duckdb", RESOLVERS["duckdb"], SCHEMAS, timeout_s=1e-6)))
    thread.start()
    thread.join()
    assert box["r"].timed_out and "exceeded" in box["r"].lineage.reason


# -- types ---------------------------------------------------------------------------------

def test_types_from_upstream_schemas():
    lin = run("""select id, amount * 2 as twice, count(*) over () as n, status from "mesh"."main"."orders" """)
    assert lin.types == {"id": "INT", "twice": "DECIMAL(18, 2)", "n": "BIGINT", "status": "TEXT"}


def test_unknown_types_are_none():
    lin = run("""select x from "mesh"."main"."blob" """)
    assert lin.types == {"x": None}


# -- fingerprints ------------------------------------------------------------------------------

BASE = """with paid as (select id, customer_id, amount from "mesh"."main"."orders" where status = 'paid')
select paid.id, paid.customer_id, paid.amount * 1.2 as gross from paid"""


def prints(sql, dialect="duckdb"):
    lin = run(sql, dialect)
    assert lin.status == "ok", lin.reason
    return lin.fingerprints, lin.shape_fingerprint


def test_formatting_comments_quoting_and_table_aliases_keep_fingerprints():
    same = """-- reformatted
    WITH "PAID" AS (
        SELECT o.ID, o."customer_id", o.amount   /* kept */
        FROM mesh.main.orders AS o
        WHERE (o.status = 'paid')
    )
    SELECT p.id, p.customer_id, (p.amount * 1.2) AS gross FROM paid p"""
    assert prints(same) == prints(BASE)


def test_refactor_into_cte_keeps_bare_column_fingerprints():
    flat, _ = prints("""select id, amount from "mesh"."main"."orders" """)
    cte, _ = prints("""with x as (select id, amount from "mesh"."main"."orders") select id, amount from x""")
    assert flat == cte


def test_moving_filters_and_expressions_into_ctes_keeps_fingerprints_and_shape():
    flat = prints("""select id, amount * 2 as doubled from "mesh"."main"."orders" where amount * 2 > 10""")
    filter_in_cte = prints("""with big as (select * from "mesh"."main"."orders" where amount * 2 > 10)
                              select id, amount * 2 as doubled from big""")
    expr_in_cte = prints("""with d as (select id, amount * 2 as doubled from "mesh"."main"."orders")
                            select id, doubled from d where doubled > 10""")
    assert flat == filter_in_cte == expr_in_cte


def test_alias_rename_keeps_fingerprint_under_new_name():
    before, shape_before = prints(BASE)
    after, shape_after = prints(BASE.replace("as gross", "as gross_amount"))
    assert after["gross_amount"] == before["gross"] and shape_after == shape_before


def test_expression_change_changes_only_that_fingerprint():
    before, shape_before = prints(BASE)
    after, shape_after = prints(BASE.replace("* 1.2", "* 1.25"))
    assert after["gross"] != before["gross"]
    assert after["id"] == before["id"] and after["customer_id"] == before["customer_id"]
    assert shape_after == shape_before


def test_where_change_changes_shape_not_columns():
    before, shape_before = prints(BASE)
    after, shape_after = prints(BASE.replace("'paid'", "'settled'"))
    assert after == before and shape_after != shape_before


def test_join_type_change_changes_shape():
    sql = """select o.id, c.name from "mesh"."main"."orders" o join "mesh"."main"."customers" c on c.id = o.customer_id"""
    assert prints(sql)[1] != prints(sql.replace(" join ", " left join "))[1]


def test_change_inside_cte_changes_final_fingerprint():
    base = """with c as (select id, amount + 1 as amt from "mesh"."main"."orders") select id, amt * 2 as doubled from c"""
    before, _ = prints(base)
    after, _ = prints(base.replace("amount + 1", "amount + 2"))
    assert after["doubled"] != before["doubled"] and after["id"] == before["id"]


def test_swapping_upstream_changes_fingerprint_and_shape():
    before = prints("""select id from "mesh"."main"."orders" """)
    after = prints("""select id from "mesh"."main"."customers" """)
    assert before[0]["id"] != after[0]["id"] and before[1] != after[1]


def test_same_model_in_two_dialects_has_same_column_fingerprints():
    duck, _ = prints("""select id, customer_id as buyer from "mesh"."main"."orders" """)
    snow, _ = prints("""select ID, CUSTOMER_ID as BUYER from ANALYTICS.CORE.ORDERS""", "snowflake")
    assert duck == snow


# -- table resolution ------------------------------------------------------------------------

def _table(sql_table: str, dialect: str = "duckdb"):
    import sqlglot
    from sqlglot import exp
    return sqlglot.parse_one(f"select * from {sql_table}", read=dialect).find(exp.Table)


def test_split_relation_handles_every_quoting():
    from analysis.lineage.relations import split_relation
    assert split_relation('"mesh"."main"."Orders"') == ["mesh", "main", "Orders"]
    assert split_relation("`proj`.`core`.`orders`") == ["proj", "core", "orders"]
    assert split_relation("`proj.core.orders`") == ["proj", "core", "orders"]
    assert split_relation("[db].[dbo].[t]") == ["db", "dbo", "t"]
    assert split_relation('main."we""ird"') == ["main", 'we"ird']


def test_resolver_matches_case_insensitively_and_with_fewer_parts():
    nodes = [Node("model.a.x", "a", "x", "model", relation_name='"DB"."Main"."X"'),
             Node("model.a.y", "a", "y", "model", relation_name='"main"."y"'),
             Node("model.b.x", "b", "x", "model", relation_name='"db"."other"."x"')]
    tables = TableResolver.from_nodes(nodes)
    assert tables.resolve(_table("db.main.x"))[0] == "model.a.x"
    assert tables.resolve(_table("MAIN.X"))[0] == "model.a.x"
    assert tables.resolve(_table("somedb.main.y"))[0] == "model.a.y"  # relation has no database
    assert tables.resolve(_table("x"))[0] is None  # two nodes are named x
    assert "model.a.x, model.b.x" in tables.why_unresolved(tables.key_of(_table("x")))
    assert tables.resolve(_table("db.main.nope"))[0] is None
    assert tables.why_unresolved(tables.key_of(_table("db.main.nope"))) == "matches no node of the mesh"


def test_resolver_prefers_real_nodes_over_loom_skeletons():
    nodes = [Node("model.a.x", "a", "x", "model", relation_name='"db"."main"."x"'),
             Node("model.a.x_skel", "a", "x", "model", relation_name='"db"."main"."x"', injected=True)]
    assert TableResolver.from_nodes(nodes).resolve(_table("db.main.x"))[0] == "model.a.x"


def test_resolver_matches_external_locations():
    nodes = [Node("source.s.raw.ev", "s", "raw.ev", "source", external_location="read_csv('/d/ev.csv', header = true)",
                  relation_name="read_csv('/d/ev.csv', header = true)"),
             Node("source.s.raw.pq", "s", "raw.pq", "source", external_location="/d/pq.parquet",
                  relation_name="'/d/pq.parquet'")]
    tables = TableResolver.from_nodes(nodes)
    assert tables.resolve(_table("read_csv('/d/ev.csv', header=true)"))[0] == "source.s.raw.ev"
    assert tables.resolve(_table("read_csv_auto('/d/./ev.csv')"))[0] == "source.s.raw.ev"  # by path
    assert tables.resolve(_table("'/d/pq.parquet'"))[0] == "source.s.raw.pq"
    lin = model_lineage("model.s.m", "select a, b from '/d/pq.parquet' join read_csv('/d/ev.csv', header = true) "
                        "using (k)", "duckdb", tables, {})
    assert not lin.unresolved_tables


def test_a_callers_alarm_keeps_its_deadline():
    import signal
    import time
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(time.monotonic()))
    try:
        start = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        assert run("select id from \"mesh\".\"main\".\"orders\"", timeout_s=30).status == "ok"
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0 or fired  # still armed (or already run)
        while not fired and time.monotonic() - start < 25:
            time.sleep(0.01)
        # it fired, long before the lineage's own 30 s limit would have (a busy machine may delay it by seconds)
        assert fired and fired[0] - start < 25
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_callers_alarm_firing_during_lineage_runs_its_handler_not_a_timeout():
    import signal
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        lin = run(_pathological_sql(), timeout_s=600)  # seconds of work: no limit a busy machine can reach
        assert fired == [1] and lin.status == "ok"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_duckdb_columns_expression_is_unknown_not_silent():
    lin = run("""select id, max(columns(* exclude (id))) from "mesh"."main"."orders" group by id""")
    assert lin.status == "partial" and list(lin.columns) == ["id"] and lin.unknown_columns == {"*"}
    assert "COLUMNS" in lin.reason


def test_snowflake_stage_is_outside_the_mesh():
    lin = run("select $1 as a from @raw_stage/orders.csv", "snowflake")
    assert lin.status == "partial" and lin.unresolved_tables == ("@raw_stage/orders.csv",)


# -- issue 10: names read through a star over a table of unknown columns; windows -------------

def test_names_read_through_a_star_over_unknown_columns_are_traced():
    """dbt Labs' staging pattern: `with source as (select * from <source without columns>)`, then
    named columns of it: each is proven to be the source's column of that name."""
    lin = run("""with source as (select * from "mesh"."main"."blob"),
                 renamed as (select id as customer_id, name as customer_name, upper(x) as x_up from source)
                 select * from renamed where customer_id is not null""")
    assert lin.status == "ok" and not lin.unknown_columns
    assert {c: {(u.ref, u.kind) for u in v} for c, v in lin.columns.items()} == {
        "customer_id": {(ColumnRef("model.shop.blob", "id"), "renamed")},
        "customer_name": {(ColumnRef("model.shop.blob", "name"), "renamed")},
        "x_up": {(ColumnRef("model.shop.blob", "x"), "derived")},
    }
    assert lin.row_shaping == {ColumnRef("model.shop.blob", "id")}


def test_a_star_that_drops_or_renames_a_name_does_not_carry_it():
    lin = run("""with s as (select * exclude (secret) from "mesh"."main"."blob") select id, secret from s""")
    assert lin.columns["id"][0].ref == ColumnRef("model.shop.blob", "id")
    assert "secret" in lin.unknown_columns and lin.status == "partial"


def test_a_star_over_two_unknown_tables_carries_nothing():
    lin = run("""with s as (select * from "mesh"."main"."blob" b1 cross join "mesh"."main"."blob" b2)
                 select id from s""")
    assert lin.unknown_columns == {"id"}


def test_a_star_over_a_known_and_an_unknown_table_carries_the_unknown_ones_names():
    lin = run("""with s as (select o.*, b.* from "mesh"."main"."orders" o
                            left join "mesh"."main"."blob" b on b.order_id = o.id)
                 select status, weight from s""")
    assert lin.status == "ok"
    assert lin.columns["status"][0].ref == ColumnRef(IDS["orders"], "status")
    assert lin.columns["weight"][0].ref == ColumnRef("model.shop.blob", "weight")


def test_window_keys_are_values_of_the_window_column_not_row_shaping():
    lin = run("""select id, customer_id, row_number() over (partition by customer_id order by ordered_at) as rn,
                        sum(amount) over (partition by status) as status_total
                 from "mesh"."main"."orders" """)
    assert lin.row_shaping == frozenset()
    assert {u.ref.column for u in lin.columns["rn"]} == {"customer_id", "ordered_at"}
    assert {u.ref.column for u in lin.columns["status_total"]} == {"amount", "status"}
    assert [u.kind for u in lin.columns["id"]] == ["passthrough"]


def test_a_filter_on_a_window_in_an_outer_query_shapes_rows():
    lin = run("""with ranked as (select id, row_number() over (partition by customer_id order by ordered_at) as rn
                                 from "mesh"."main"."orders")
                 select id from ranked where rn = 1""")
    assert lin.row_shaping == {ColumnRef(IDS["orders"], "customer_id"), ColumnRef(IDS["orders"], "ordered_at")}


@pytest.mark.parametrize("sql", [
    'with s as (select distinct * from "mesh"."main"."blob") select id from s',
    'with s as (select * from "mesh"."main"."blob" group by all) select id from s',
    'with s as (select * from "mesh"."main"."blob"), t as (select distinct * from s) select id from t',
    'with s as (select distinct *, 1 as k from "mesh"."main"."blob") select k from s',
])
def test_rows_decided_by_a_star_over_unknown_columns_are_not_proven(sql):
    """DISTINCT / GROUP BY ALL over a star of unknown columns: every column of the table, known
    or not, decides which rows come out; a change of any of them may change the model's rows."""
    lin = run(sql)
    assert lin.status != "ok" and lin.unknown_columns
    assert "rows come out" in lin.reason


@pytest.mark.parametrize("sql", [
    'with s as (select * from "mesh"."main"."blob" pivot (sum(x) for k in (1, 2))) select "1" from s',
    'with s as (select * from "mesh"."main"."blob" unpivot (v for k in (a, b))) select v from s',
])
def test_a_pivoted_star_over_unknown_columns_carries_no_name(sql):
    """PIVOT / UNPIVOT make new columns out of others: a name read from them is not the
    table's column of that name (DuckDB: "1" is sum(x) where k = 1; v is a's or b's value)."""
    lin = run(sql)
    assert lin.status != "ok"
    assert not any(u.ref.column in ("1", "v") for ups in lin.columns.values() for u in ups)
