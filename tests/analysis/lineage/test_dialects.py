"""Which sqlglot dialect a project's SQL is parsed with: from the manifest's adapter_type, or the
per-project override (--dialect / .meshdiff.yml), all the way to the lineage. No dbt."""
import pytest

from analysis.lineage.columns import ColumnRef
from analysis.lineage.dialects import check_dialect
from analysis.errors import AnalysisError
from analysis.mesh import build_mesh
from analysis.dbt.nodes import DeclaredColumn, Node, Project, dialect_for_adapter
from analysis.lineage.trace import model_lineage
from analysis.lineage.relations import TableResolver


@pytest.mark.parametrize("adapter, dialect", [
    ("duckdb", "duckdb"), ("snowflake", "snowflake"), ("Snowflake", "snowflake"), ("bigquery", "bigquery"),
    ("postgres", "postgres"), ("redshift", "redshift"), ("databricks", "databricks"), ("spark", "spark"),
    ("trino", "trino"), ("athena", "athena"), ("clickhouse", "clickhouse"), ("sqlserver", "tsql"),
    ("fabric", "tsql"), ("synapse", "tsql"), ("oracle", "oracle"), ("mysql", "mysql"), ("materialize", "postgres"),
    ("some_new_adapter", "postgres"), ("", "postgres"), (None, "postgres"),
])
def test_adapter_type_to_dialect(adapter, dialect):
    assert dialect_for_adapter(adapter) == dialect
    check_dialect(dialect)  # every mapped name is a real sqlglot dialect


def test_the_override_wins_over_the_adapter():
    assert Project("shop", "duckdb", {}).sql_dialect == "duckdb"
    assert Project("shop", "duckdb", {}, dialect="snowflake").sql_dialect == "snowflake"


def test_check_dialect():
    assert check_dialect(" BigQuery ") == "bigquery"
    with pytest.raises(AnalysisError) as info:
        check_dialect("snowflake2")
    assert "did you mean snowflake?" in info.value.hint and "tsql" in info.value.hint


def test_the_adapter_type_comes_from_the_manifest():
    from analysis.dbt.manifest import parse_manifest
    project = parse_manifest({"metadata": {"project_name": "shop", "adapter_type": "bigquery"}, "nodes": {}})
    assert project.adapter_type == "bigquery" and project.sql_dialect == "bigquery"


def test_the_cli_override_lands_in_the_project_spec(tmp_path):
    from bot.cli.inputs import dialects as _dialects, specs as _specs
    (tmp_path / "dbt_project.yml").write_text("name: shop\n")
    dialects = _dialects(["shop=Snowflake", "finance=bigquery"])
    assert dialects == {"shop": "snowflake", "finance": "bigquery"}
    (spec,) = _specs([str(tmp_path)], dialects, {})
    assert (spec.name, spec.dialect) == ("shop", "snowflake")


# Snowflake's semi-structured path (`v:customer.id`) parses only as Snowflake
EVENTS = "source.shop.raw.events"
MODEL = "model.shop.customer_events"
SQL = "select id, v:customer.id::int as customer_id from analytics.core.events where v:kind = 'signup'"


def snowflake_mesh(adapter: str, override: str | None):
    nodes = {
        EVENTS: Node(EVENTS, "shop", "raw.events", "source", relation_name="analytics.core.events",
                     columns={"id": DeclaredColumn("id", "int"), "v": DeclaredColumn("v", "variant")}),
        MODEL: Node(MODEL, "shop", "customer_events", "model", compiled_sql=SQL, raw_sql=SQL,
                    file_path="models/customer_events.sql", depends_on=(EVENTS,)),
    }
    return build_mesh([Project("shop", adapter, nodes, dialect=override)])


def trace(mesh):
    """The model's lineage as the mesh's lineage pass computes it: in ``mesh.dialect_of`` its node."""
    tables = TableResolver.from_nodes(mesh.nodes.values())
    return model_lineage(MODEL, SQL, mesh.dialect_of(mesh.nodes[MODEL]), tables, {EVENTS: {"id": "INT", "v": None}})


def test_a_snowflake_construct_is_traced_only_with_the_snowflake_dialect():
    for adapter, override in (("snowflake", None), ("duckdb", "snowflake")):
        lin = trace(snowflake_mesh(adapter, override))
        assert lin.status == "ok", lin.reason
        assert {c: {u.ref for u in ups} for c, ups in lin.columns.items()} == {
            "id": {ColumnRef(EVENTS, "id")}, "customer_id": {ColumnRef(EVENTS, "v")}}
        assert lin.row_shaping == {ColumnRef(EVENTS, "v")}
    # the same SQL read as DuckDB (the embedded profile's adapter, no override): not parsed, unknown
    lin = trace(snowflake_mesh("duckdb", None))
    assert lin.status == "unknown" and f"sqlglot could not parse {MODEL} (duckdb)" in lin.reason
