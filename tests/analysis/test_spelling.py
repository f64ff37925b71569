"""Columns named as the warehouse spells them (issue 10, item 6): each dialect's rules, on real
sqlglot parses of compiled SQL; the lineage keeps matching lower-cased names."""
from analysis.dbt.nodes import DeclaredColumn, Node
from analysis.lineage.columns import ColumnRef, ModelLineage, Upstream
from analysis.lineage.spelling import Spelling, Spellings, respell_report
from analysis.report import Change, ColumnChange, GitRef, Impact, Report


def spelling(dialect, nodes, models=None):
    nodes = {n.unique_id: n for n in nodes}
    return Spelling(nodes, lambda node: dialect, models or {})


def model(name, sql):
    return Node(unique_id=f"model.p.{name}", project="p", name=name, resource_type="model", compiled_sql=sql)


def test_snowflake_upper_cases_unquoted_names_and_keeps_quoted_ones():
    s = spelling("snowflake", [model("m", 'select amount, o.customer_id as cust, 1 as "ArrUsd", t."Q" from t o')])
    assert [s.of("model.p.m", c) for c in ("amount", "cust", "arrusd", "q")] == ["AMOUNT", "CUST", "ArrUsd", "Q"]
    # a name the SQL does not spell (behind a star) follows the rule for an unquoted name
    assert s.of("model.p.m", "other") == "OTHER"


def test_postgres_lower_cases_unquoted_names():
    s = spelling("postgres", [model("m", 'select Amount, x as FooBar, 1 as "ArrUsd" from t')])
    assert [s.of("model.p.m", c) for c in ("amount", "foobar", "arrusd")] == ["amount", "foobar", "ArrUsd"]


def test_duckdb_keeps_aliases_as_written_and_names_a_reference_as_the_column_it_reads():
    up = model("up", 'select 1 as "ArrUsd", 2 as Plain')
    reader = model("reader", "select arrusd, plain as Renamed, * from up")
    lineage = ModelLineage(node=reader.unique_id, columns={
        "arrusd": (Upstream(ColumnRef(up.unique_id, "arrusd"), "passthrough"),),
        "renamed": (Upstream(ColumnRef(up.unique_id, "plain"), "renamed"),),
        "plain": (Upstream(ColumnRef(up.unique_id, "plain"), "passthrough"),)})
    s = spelling("duckdb", [up, reader], {reader.unique_id: lineage})
    assert s.of(up.unique_id, "arrusd") == "ArrUsd" and s.of(up.unique_id, "plain") == "Plain"
    # DuckDB: `select arrusd from up` names the column "ArrUsd"; a star passes "Plain" through
    assert [s.of(reader.unique_id, c) for c in ("arrusd", "renamed", "plain")] == ["ArrUsd", "Renamed", "Plain"]


def test_a_source_keeps_its_yaml_spelling_only_where_the_dialect_does_not_fold_case():
    source = Node(unique_id="source.p.raw.t", project="p", name="t", resource_type="source",
                  columns={"arrusd": DeclaredColumn("ArrUsd")})
    assert spelling("duckdb", [source]).of(source.unique_id, "arrusd") == "ArrUsd"
    assert spelling("snowflake", [source]).of(source.unique_id, "arrusd") == "ARRUSD"


def test_sql_that_does_not_parse_follows_the_rule():
    assert spelling("snowflake", [model("m", "select from from")]).of("model.p.m", "a") == "A"
    assert spelling("duckdb", [model("m", "select from from")]).of("model.p.m", "a") == "a"


def test_report_names_are_respelled_and_a_removed_column_is_spelled_as_at_the_base():
    base = spelling("duckdb", [model("m", 'select 1 as "ArrUsd", 2 as "Gone"'), model("r", 'select "ArrUsd" from m')])
    head = spelling("duckdb", [model("m", 'select 3 as "ArrUsd"'), model("r", 'select "ArrUsd" from m')])
    report = Report("p", GitRef("main", "a"), GitRef("head", "b"),
                    changes=[Change("model.p.m", "model", "breaking",
                                    [ColumnChange("arrusd", "modified"), ColumnChange("gone", "removed")])],
                    impacts=[Impact("p", "model.p.r", "model", "changed", ["arrusd"],
                                    via=["model.p.m.arrusd", "model.p.r.arrusd", "exposure.p.x"])])
    respell_report(report, Spellings(head, base))
    assert [c.name for c in report.changes[0].columns] == ["ArrUsd", "Gone"]
    assert report.impacts[0].columns == ["ArrUsd"]
    assert report.impacts[0].via == ["model.p.m.ArrUsd", "model.p.r.ArrUsd", "exposure.p.x"]


def test_snowflake_sql_without_quotes_upper_cases_every_name():
    s = spelling("snowflake", [model("m", "select amount, x as cust from t")])
    assert [s.of("model.p.m", c) for c in ("amount", "cust")] == ["AMOUNT", "CUST"]


def test_the_tracer_keeps_the_spellings_and_they_are_never_read_from_the_sql_again(monkeypatch):
    """A traced model carries its projection spellings (read from the tracer's own parse, before
    qualification lower-cases names), through the cache; naming its columns parses nothing."""
    import analysis.lineage.spelling as spelling_module
    from analysis.lineage.packs import lineage_from_json, lineage_to_json
    from analysis.lineage.relations import TableResolver
    from analysis.lineage.trace import analyse

    up = model("up", 'select 1 as "ArrUsd", 2 as Plain')
    up.relation_name = '"mesh"."main"."up"'
    reader = model("reader", 'select arrusd, plain as Renamed, 3 as "Q" from "mesh"."main"."up"')
    tables = TableResolver.from_nodes([up, reader])
    traced = {}
    for node in (up, reader):
        lineage = analyse(node.unique_id, node.compiled_sql, "duckdb", tables,
                          {up.unique_id: {"arrusd": None, "plain": None}}).lineage
        assert lineage.status == "ok", lineage.reason
        traced[node.unique_id] = lineage_from_json(lineage_to_json(lineage))  # as the cache gives it back
    assert traced[reader.unique_id].spellings == {"arrusd": "", "renamed": "Renamed", "q": "Q"}
    assert traced[up.unique_id].spellings == {"arrusd": "ArrUsd", "plain": "Plain"}
    assert analyse("model.p.lower", "select 1 as a", "duckdb", tables, {}).lineage.spellings == {}  # nothing to read

    def no_parse(*args, **kwargs):
        raise AssertionError("the SQL was parsed again to spell a column")

    monkeypatch.setattr(spelling_module.sqlglot, "parse_one", no_parse)
    s = spelling("duckdb", [up, reader], traced)
    assert [s.of(reader.unique_id, c) for c in ("arrusd", "renamed", "q")] == ["ArrUsd", "Renamed", "Q"]
    assert s.of(up.unique_id, "plain") == "Plain"
