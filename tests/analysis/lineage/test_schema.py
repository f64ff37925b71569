"""Schemas and lineage of a whole (tiny, synthetic) mesh, in DAG order, without a warehouse."""
from __future__ import annotations

import pytest

from analysis.lineage.columns import ColumnRef
from analysis.dbt.nodes import DeclaredColumn, Node
from analysis.lineage.meshlineage import mesh_lineage
from analysis.lineage.schema import seed_schema

SEED = "seed.shop.raw_orders"
SRC = "source.shop.raw.customers"
STG_O = "model.shop.stg_orders"
STG_C = "model.shop.stg_customers"
ORDERS = "model.shop.orders"
FIN = "model.finance.fin_orders"
SUMMARY = "model.finance.fin_summary"


def rel(name: str, schema: str = "main") -> str:
    return f'"db"."{schema}"."{name}"'


def model(uid: str, sql: str, **kw) -> Node:
    project, name = uid.split(".")[1], uid.split(".")[-1]
    return Node(uid, project, name, "model", relation_name=rel(name), compiled_sql=sql,
                file_path=f"models/{name}.sql", **kw)


def cols(**types) -> dict[str, DeclaredColumn]:
    return {k: DeclaredColumn(k, v) for k, v in types.items()}


@pytest.fixture
def mesh(tmp_path):
    csv = tmp_path / "raw_orders.csv"
    csv.write_text("id,Customer_ID,amount,ordered_on\n1,10,9.99,2024-01-01\n2,11,5.00,2024-01-02\n")
    nodes = [
        Node(SEED, "shop", "raw_orders", "seed", relation_name=rel("raw_orders"), seed_path=str(csv),
             seed_column_types={"amount": "decimal(10,2)"}),
        Node(SRC, "shop", "raw.customers", "source", relation_name=rel("customers", "raw"),
             columns=cols(id="integer", name="varchar", email=None)),
        model(STG_O, f"select * from {rel('raw_orders')}"),
        model(STG_C, f"select id as customer_id, name from {rel('customers', 'raw')}"),
        model(ORDERS, f"""with o as (select * from {rel('stg_orders')} where amount > 0)
            select o.id as order_id, o.customer_id, o.amount, c.name as customer_name
            from o left join {rel('stg_customers')} c on c.customer_id = o.customer_id""",
              contract_enforced=True,
              columns=cols(order_id="bigint", customer_id="integer", amount="decimal(12,2)", customer_name="varchar")),
        model(FIN, f"select * from {rel('orders')}"),
        model(SUMMARY, f"select customer_id, sum(amount) as total from {rel('fin_orders')} group by 1"),
        Node("exposure.finance.dash", "finance", "dash", "exposure", depends_on=(SUMMARY,)),
    ]
    return {n.unique_id: n for n in nodes}


ORDER = [SEED, SRC, STG_O, STG_C, ORDERS, FIN, SUMMARY, "exposure.finance.dash"]


def run(nodes, order=ORDER, **kw):
    return mesh_lineage(nodes, order, lambda n: "duckdb", **kw)


def test_schemas_of_every_node_kind(mesh):
    out = run(mesh)
    assert out.schemas[SEED] == {"id": "INT", "customer_id": "INT", "amount": "DECIMAL(10, 2)", "ordered_on": "DATE"}
    assert out.schemas[SRC] == {"id": "INT", "name": "TEXT", "email": None}
    assert out.schemas[STG_O] == out.schemas[SEED]  # select * carries names and types
    assert out.schemas[STG_C] == {"customer_id": "INT", "name": "TEXT"}
    # contract: SQL gives the column list, the contract the types
    assert out.schemas[ORDERS] == {"order_id": "BIGINT", "customer_id": "INT", "amount": "DECIMAL(12, 2)",
                                   "customer_name": "TEXT"}
    assert out.schemas[FIN] == out.schemas[ORDERS]  # select * across projects
    assert list(out.schemas[SUMMARY]) == ["customer_id", "total"]
    assert out.schemas[SUMMARY]["customer_id"] == "INT"
    assert "exposure.finance.dash" not in out.schemas and set(out.models) == {STG_O, STG_C, ORDERS, FIN, SUMMARY}
    assert out.stats.models == 5 and out.stats.parsed == 5 and out.stats.unknown == 0


def test_lineage_through_star_chains_across_projects(mesh):
    out = run(mesh)
    assert all(m.status == "ok" for m in out.models.values()), {k: m.reason for k, m in out.models.items()}
    kinds = {c: {(u.ref, u.kind) for u in ups} for c, ups in out.models[STG_O].columns.items()}
    assert kinds["customer_id"] == {(ColumnRef(SEED, "customer_id"), "passthrough")}
    orders = out.models[ORDERS]
    assert {(u.ref, u.kind) for u in orders.columns["order_id"]} == {(ColumnRef(STG_O, "id"), "renamed")}
    assert {(u.ref, u.kind) for u in orders.columns["customer_name"]} == {(ColumnRef(STG_C, "name"), "renamed")}
    assert orders.row_shaping == {ColumnRef(STG_O, "amount"), ColumnRef(STG_O, "customer_id"),
                                  ColumnRef(STG_C, "customer_id")}
    fin = out.models[FIN]
    assert list(fin.columns) == ["order_id", "customer_id", "amount", "customer_name"]
    assert {u.ref for u in fin.columns["amount"]} == {ColumnRef(ORDERS, "amount")}
    summary = out.models[SUMMARY]
    assert {(u.ref, u.kind) for u in summary.columns["total"]} == {(ColumnRef(FIN, "amount"), "derived")}
    assert summary.row_shaping == {ColumnRef(FIN, "customer_id")}


def test_catalog_overrides_inferred_schema(mesh):
    catalog = {STG_C: {"CUSTOMER_ID": "BIGINT", "name": "VARCHAR", "vip": "BOOLEAN"}}
    mesh[FIN] = model(FIN, f"select c.* from {rel('stg_customers')} c")
    out = run(mesh, catalog=catalog)
    assert out.schemas[STG_C] == {"customer_id": "BIGINT", "name": "TEXT", "vip": "BOOLEAN"}
    assert list(out.models[FIN].columns) == ["customer_id", "name", "vip"]  # the star sees the catalog
    assert out.schemas[FIN]["vip"] == "BOOLEAN"


def test_unknown_lineage_propagates_honestly(mesh):
    mesh[STG_C] = model(STG_C, "select id as customer_id, from where (")  # does not parse
    mesh[ORDERS] = model(ORDERS, f"select * from {rel('stg_customers')}", contract_enforced=True,
                         columns=mesh[ORDERS].columns)
    out = run(mesh)
    assert out.models[STG_C].status == "unknown" and "could not parse" in out.models[STG_C].reason
    assert out.schemas[STG_C] == {}
    # a star over a model of unknown columns is not silently empty
    assert out.models[ORDERS].status == "unknown" and out.models[ORDERS].unknown_columns == {"*"}
    assert out.schemas[ORDERS] == {"order_id": "BIGINT", "customer_id": "INT", "amount": "DECIMAL(12, 2)",
                                   "customer_name": "TEXT"}  # contract columns are the fallback
    assert out.models[FIN].status == "ok"  # ... and a contract is a complete column list


def test_declared_columns_of_an_unknown_model_are_marked_incomplete(mesh):
    mesh[STG_C] = model(STG_C, "select id as customer_id, from where (", columns=cols(customer_id="int", name=None))
    mesh[ORDERS] = model(ORDERS, f"select * from {rel('stg_customers')}")
    out = run(mesh)
    assert out.schemas[STG_C] == {"customer_id": "INT", "name": None, "*": None}
    orders = out.models[ORDERS]
    assert orders.status == "partial" and list(orders.columns) == ["customer_id", "name"]
    assert orders.unknown_columns == {"*"}
    assert out.schemas[ORDERS] == {"customer_id": "INT", "name": None, "*": None}


def test_nodes_without_sql(mesh):
    mesh["model.shop.py_model"] = Node("model.shop.py_model", "shop", "py_model", "model",
                                       compiled_sql="def model(dbt, session):\n    return None",
                                       file_path="models/py_model.py")
    mesh["model.other.skeleton"] = Node("model.other.skeleton", "other", "skeleton", "model",
                                        relation_name=rel("skeleton"), injected=True)
    mesh["model.shop.disabled"] = Node("model.shop.disabled", "shop", "disabled", "model", relation_name=rel("disabled"))
    out = run(mesh, order=ORDER + ["model.shop.py_model", "model.other.skeleton", "model.shop.disabled"])
    assert out.models["model.shop.py_model"].reason == "python model: lineage not analysed"
    assert "dbt-loom skeleton" in out.models["model.other.skeleton"].reason
    assert "no compiled SQL" in out.models["model.shop.disabled"].reason
    assert all(out.models[n].status == "unknown" for n in ("model.shop.py_model", "model.other.skeleton"))
    assert out.stats.parsed == 5


def test_nodes_missing_from_order_are_still_analysed(mesh):
    out = run(mesh, order=[SEED, SRC, STG_O])
    assert set(out.models) == {STG_O, STG_C, ORDERS, FIN, SUMMARY}


def test_seed_without_file_falls_back_to_declared_columns():
    node = Node(SEED, "shop", "raw_orders", "seed", seed_path="/nonexistent/raw_orders.csv",
                columns=cols(id="integer", note=None), seed_column_types={"note": "varchar"})
    assert seed_schema(node, "duckdb") == {"id": "INT", "note": "TEXT"}


def test_seed_types_are_sniffed_and_mapped_to_dbt_seed_types(tmp_path):
    csv = tmp_path / "s.csv"
    csv.write_text("n,x,flag,label,at\n1,1.5,true,a,2024-01-01 10:00:00\n")
    node = Node("seed.p.s", "p", "s", "seed", seed_path=str(csv))
    assert seed_schema(node, "duckdb") == {"n": "INT", "x": "DOUBLE", "flag": "BOOLEAN", "label": "TEXT",
                                           "at": "TIMESTAMP"}


# -- sources read from files of the checkout (dbt-duckdb external_location) ------------------

def _file_source(path, location, **columns) -> Node:
    return Node("source.shop.raw.events", "shop", "raw.events", "source", relation_name=location,
                external_location=location, location_path=str(path), columns=cols(**columns))


def test_a_read_csv_source_has_the_columns_of_its_file(tmp_path):
    from analysis.lineage.schema import source_schema

    path = tmp_path / "events.csv"
    path.write_text("Event_ID,order_id,channel\n1,10,web\n2,11,app\n", encoding="utf-8")
    node = _file_source(path, "read_csv('data/events.csv', header = true)", channel="text")
    # the file's columns; a declared type wins over the sniffed one
    assert source_schema(node, "duckdb") == {"event_id": "BIGINT", "order_id": "BIGINT", "channel": "TEXT"}
    renamed = _file_source(path, "read_csv('data/events.csv', names = ['a', 'b'])")
    assert list(source_schema(renamed, "duckdb")) == ["a", "b", "channel"]
    # an option that changes the columns in a way not modelled here: declared columns only
    odd = _file_source(path, "read_csv('data/events.csv', union_by_name = true)", channel="text")
    assert source_schema(odd, "duckdb") == {"channel": "TEXT"}


def test_a_parquet_source_has_the_columns_of_its_file(tmp_path):
    import duckdb

    from analysis.lineage.schema import source_schema

    path = tmp_path / "events.parquet"
    duckdb.connect().execute(f"copy (select 1::int as Id, 'x' as note) to '{path}' (format parquet)")
    assert source_schema(_file_source(path, "read_parquet('data/events.parquet')"), "duckdb") == {
        "id": "INT", "note": "TEXT"}
    assert list(source_schema(_file_source(path, "'data/events.parquet'"), "duckdb")) == ["id", "note"]


def test_a_source_without_a_readable_file_keeps_its_declared_columns(tmp_path):
    from analysis.lineage.schema import source_schema

    node = _file_source(tmp_path / "missing.csv", "read_csv('missing.csv')", id="int")
    assert source_schema(node, "duckdb") == {"id": "INT"}
    node.location_path = None
    assert source_schema(node, "duckdb") == {"id": "INT"}


def test_catalog_models_traced_without_types_same_lineage_and_no_leak(mesh, tmp_path):
    """A model with a catalog entry and no enforced contract is traced without type annotation:
    the same columns, upstreams, kinds and row shaping as a typed trace; the contracted model
    keeps its inferred types (the contract check reads them); and a later run without the
    catalog, on the same cache, gets typed schemas, as a run on an empty cache does."""
    from analysis.lineage.cache import LineageCache

    catalog = {STG_C: {"customer_id": "INTEGER", "name": "VARCHAR"},
               ORDERS: {"order_id": "BIGINT", "customer_id": "INTEGER", "amount": "DECIMAL(12,2)",
                        "customer_name": "VARCHAR"},
               FIN: {"order_id": "BIGINT", "customer_id": "INTEGER", "amount": "DECIMAL(12,2)",
                     "customer_name": "VARCHAR"},
               SUMMARY: {"customer_id": "INTEGER", "total": "DECIMAL(38,2)"}}
    typed = run(mesh)
    cache = LineageCache(str(tmp_path / "c"), key=b"k")
    untyped = run(mesh, catalog=catalog, cache=cache)
    for node in (STG_O, STG_C, ORDERS, FIN, SUMMARY):
        a, b = typed.models[node], untyped.models[node]
        assert (b.status, b.columns, b.row_shaping, b.fingerprints, b.shape_fingerprint) == \
               (a.status, a.columns, a.row_shaping, a.fingerprints, a.shape_fingerprint), node
    assert untyped.models[ORDERS].types == typed.models[ORDERS].types  # contracted: still annotated
    # the catalog gives them: sum(amount) is not annotated, the schema is the catalog's
    assert typed.models[SUMMARY].types["total"] and untyped.models[SUMMARY].types.get("total") is None
    assert untyped.schemas[SUMMARY]["total"] == "DECIMAL(38, 2)"
    again = run(mesh, cache=LineageCache(str(tmp_path / "c"), key=b"k"))
    assert {n: dict(again.schemas[n]) for n in typed.schemas} == {n: dict(typed.schemas[n]) for n in typed.schemas}
    assert {n: again.models[n].types for n in typed.models} == {n: typed.models[n].types for n in typed.models}


# -- wired into the mesh lineage (issue 10) -----------------------------------------------------

def test_a_read_csv_source_reads_its_files_columns_in_the_mesh_lineage(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("event_id,order_id,channel\n1,10,web\n", encoding="utf-8")
    location = "read_csv('data/events.csv', header = true)"
    source = _file_source(path, location)  # no declared column at all
    stg = model("model.shop.stg_events", f"select * from {location} where channel <> 'test'",
                depends_on=(source.unique_id,))
    out = run({n.unique_id: n for n in (source, stg)}, [source.unique_id, stg.unique_id])
    assert list(out.schemas[source.unique_id]) == ["event_id", "order_id", "channel"]
    lin = out.models[stg.unique_id]
    assert lin.status == "ok" and list(lin.columns) == ["event_id", "order_id", "channel"]
    assert lin.row_shaping == {ColumnRef(source.unique_id, "channel")}


def test_a_relation_a_seed_and_a_source_both_name_is_the_one_the_reader_depends_on(tmp_path):
    """dbt Labs' jaffle-shop: the seed raw_customers loads the table the source ecom.raw_customers reads."""
    csv = tmp_path / "raw_customers.csv"
    csv.write_text("id,name\n1,Ann\n", encoding="utf-8")
    seed = Node("seed.shop.raw_customers", "shop", "raw_customers", "seed", relation_name=rel("raw_customers", "raw"),
                seed_path=str(csv))
    source = Node("source.shop.ecom.raw_customers", "shop", "raw_customers", "source",
                  relation_name=rel("raw_customers", "raw"))
    via_source = model("model.shop.stg_customers", f"select id as customer_id, name from {rel('raw_customers', 'raw')}",
                       depends_on=(source.unique_id,))
    via_seed = model("model.shop.seed_customers", f"select id from {rel('raw_customers', 'raw')}",
                     depends_on=(seed.unique_id,))
    blind = model("model.shop.blind", f"select id from {rel('raw_customers', 'raw')}")
    nodes = {n.unique_id: n for n in (seed, source, via_source, via_seed, blind)}
    out = run(nodes, list(nodes))
    assert out.models[via_source.unique_id].status == "ok"
    assert out.models[via_source.unique_id].columns["customer_id"][0].ref == ColumnRef(source.unique_id, "id")
    assert out.models[via_seed.unique_id].columns["id"][0].ref == ColumnRef(seed.unique_id, "id")
    assert via_source.unique_id in out.readers[source.unique_id]
    assert via_seed.unique_id in out.readers[seed.unique_id]
    # a reader that names neither: the table stays ambiguous, never guessed
    blind_lin = out.models[blind.unique_id]
    assert blind_lin.status == "partial" and "several nodes" in blind_lin.reason


def test_a_model_built_by_a_warehouse_macro_says_so_and_names_it(tmp_path):
    raw = "select * from ({{ dbt_utils.union_relations(relations=[ref('a'), ref('b')]) }})"
    compiled = "select cast('x' as text) as _dbt_source_relation"
    node = model("model.shop.unioned", compiled, raw_sql=raw)
    out = run({node.unique_id: node}, [node.unique_id])
    lin = out.models[node.unique_id]
    assert lin.status == "partial" and "*" in lin.unknown_columns
    assert "dbt_utils.union_relations" in lin.reason and "empty database" in lin.reason
    plain = model("model.shop.plain", compiled, raw_sql="select 'x' as _dbt_source_relation")
    assert run({plain.unique_id: plain}, [plain.unique_id]).models[plain.unique_id].status == "ok"


@pytest.mark.dbt
def test_a_warehouse_macro_is_seen_on_a_real_compile_loaded_as_the_pipeline_loads_it(tmp_path):
    """The marking must survive the real path: dbt compile, then the compact copy of the manifest
    (ProjectLoader), which is what every analysis reads. The project's own ``union_relations``
    renders, against meshdiff's empty database, only the column dbt_utils' lists with no relation."""
    from analysis.dbt import compile as dbt
    from analysis.dbt.snapshot import ProjectLoader

    project = tmp_path / "wh"
    (project / "models").mkdir(parents=True)
    (project / "macros").mkdir()
    (project / "dbt_project.yml").write_text("name: wh\nprofile: wh\nconfig-version: 2\nversion: '1.0'\n")
    (project / "macros" / "union_relations.sql").write_text(
        "{% macro union_relations(relations) %}select cast('x' as text) as _dbt_source_relation{% endmacro %}\n")
    (project / "models" / "a.sql").write_text("select 1 as id\n")
    (project / "models" / "unioned.sql").write_text("{{ union_relations(relations=[ref('a')]) }}\n")
    result = dbt.compile_project(dbt.read_project(str(project)), {}, cache_dir=str(tmp_path / "cache"))
    assert result.ok, result.error
    loaded = ProjectLoader().load(result.manifest_path, project_dir=result.project_dir)
    order = ["model.wh.a", "model.wh.unioned"]
    lin = run(loaded.nodes, order).models["model.wh.unioned"]
    assert lin.status == "partial" and "*" in lin.unknown_columns
    assert "union_relations" in lin.reason


def test_a_left_join_on_a_declared_key_keeps_rows_and_a_new_key_is_seen_through_the_cache(tmp_path):
    from analysis.lineage.cache import LineageCache

    customers = Node("model.shop.customers", "shop", "customers", "model", relation_name=rel("customers"),
                     compiled_sql="select 1 as id, 'a' as name", file_path="models/customers.sql")
    orders = Node("model.shop.orders", "shop", "orders", "model", relation_name=rel("orders"),
                  compiled_sql="select 1 as id, 1 as customer_id", file_path="models/orders.sql")
    sql = (f"select o.id, c.name from {rel('orders')} o left join {rel('customers')} c on c.id = o.customer_id")
    report = model("model.shop.report", sql, depends_on=(orders.unique_id, customers.unique_id))
    order = [customers.unique_id, orders.unique_id, report.unique_id]

    def shaping(unique_keys):
        customers.unique_keys = unique_keys
        nodes = {n.unique_id: n for n in (customers, orders, report)}
        return run(nodes, order, cache=LineageCache(str(tmp_path))).models[report.unique_id].row_shaping

    assert shaping(()) == {ColumnRef(customers.unique_id, "id"), ColumnRef(orders.unique_id, "customer_id")}
    assert shaping((("id",),)) == frozenset()  # the same cache folder: the key is part of what it reads
    assert shaping(()) != frozenset()
