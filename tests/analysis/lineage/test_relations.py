"""Which node a table of compiled SQL reads (analysis.lineage.relations), when a seed and a
source name the same relation (dbt Labs' jaffle-shop: seeds load the tables sources point at)."""
import sqlglot
from sqlglot import exp

from analysis.dbt.nodes import Node
from analysis.lineage.relations import TableResolver

SEED = "seed.platform.raw_orders"
SOURCE = "source.platform.ecom.raw_orders"
REL = '"jaffle"."jaffle_shop_raw"."raw_orders"'


def _table(sql: str) -> exp.Table:
    return sqlglot.parse_one(sql, read="duckdb").find(exp.Table)


def _tables() -> TableResolver:
    return TableResolver.from_nodes([
        Node(SEED, "platform", "raw_orders", "seed", relation_name=REL),
        Node(SOURCE, "platform", "ecom.raw_orders", "source", relation_name=REL),
        Node("model.platform.stg", "platform", "stg", "model", relation_name='"jaffle"."main"."stg"'),
    ])


def test_a_relation_of_a_seed_and_a_source_is_ambiguous_without_the_reader():
    tables = _tables()
    table = _table(f"select * from {REL}")
    assert tables.resolve(table)[0] is None
    assert SEED in tables.why_unresolved(tables.key_of(table)) and SOURCE in tables.why_unresolved(tables.key_of(table))


def test_the_reader_depends_on_names_the_node_it_reads():
    tables = _tables()
    table = _table(f"select * from {REL}")
    assert tables.for_reader([SOURCE, "model.platform.other"]).resolve(table)[0] == SOURCE
    assert tables.for_reader([SEED]).resolve(table)[0] == SEED
    # the shorter forms and the keys a cache stored resolve the same way
    assert tables.for_reader([SOURCE]).lookup(("rel", "", "jaffle_shop_raw", "raw_orders")) == SOURCE
    assert tables.for_reader([SOURCE]).lookup(tables.key_of(table)) == SOURCE


def test_a_reader_that_depends_on_both_or_neither_still_gets_nothing():
    tables = _tables()
    table = _table(f"select * from {REL}")
    assert tables.for_reader([SEED, SOURCE]).resolve(table)[0] is None
    assert tables.for_reader([]).resolve(table)[0] is None
    # unambiguous tables are unaffected
    assert tables.for_reader([]).resolve(_table('select * from "jaffle"."main"."stg"'))[0] == "model.platform.stg"
