"""How-to-unblock suggestions: the new version, the alias, consumer first, provable."""
from datetime import date

import yaml

from analysis.dbt.manifest import handle, parse_manifest
from analysis.dbt.nodes import DeclaredColumn, Node
from analysis.impact.unblock import suggest
from analysis.report import BrokenProject, Change, ColumnChange, GitRef, Impact, Report

CUST = "model.shop.customers"
SEG = "model.finance.customer_segments"


def _node(version=None, cols=("customer_id", "lifetime_value")) -> Node:
    return Node(CUST, "shop", "customers", "model", access="public", contract_enforced=True, version=version,
                columns={c: DeclaredColumn(c, "decimal(18,2)" if c == "lifetime_value" else "integer") for c in cols},
                file_path="models/marts/customers.sql", patch_path="shop://models/marts/_marts.yml".split("://")[1])


def _report(category="breaking", columns=None) -> Report:
    change = Change(CUST, "model", category, columns or [ColumnChange("lifetime_value", "renamed", "lifetime_value_usd")],
                    file="shop/models/marts/customers.sql", access="public")
    impact = Impact("finance", SEG, "model", "breaking", ["lifetime_value"],
                    [f"{CUST}.lifetime_value", f"{SEG}.lifetime_value"], file="models/customer_segments.sql")
    return Report("shop", GitRef("main", "a" * 40), GitRef("feat", "b" * 40), "failure", [change], [impact])


def test_breaking_rename_gets_new_version_alias_and_consumer_first():
    head = Node(**{**_node().__dict__, "columns": {"lifetime_value_usd": DeclaredColumn("lifetime_value_usd", "decimal(18,2)")}})
    out = suggest(_report(), {CUST: _node()}, {CUST: head}, today=date(2026, 1, 1))
    kinds = [s.kind for s in out]
    assert kinds == ["new-version", "alias", "consumer-first"]
    version = out[0]
    doc = yaml.safe_load(version.snippets[0].code)  # the YAML is valid and says what dbt needs
    model = doc["models"][0]
    assert model["name"] == "customers" and model["latest_version"] == 1
    v1, v2 = model["versions"]
    assert v1 == {"v": 1, "defined_in": "customers_v1", "deprecation_date": "2026-04-01",
                  "columns": [{"include": "all", "exclude": ["lifetime_value_usd"]},
                              {"name": "lifetime_value", "data_type": "decimal(18,2)"}]}
    assert v2 == {"v": 2, "defined_in": "customers"}
    assert version.snippets[0].path == "shop/models/marts/_marts.yml"
    assert "git show aaaaaaaaaaaa:shop/models/marts/customers.sql > shop/models/marts/customers_v1.sql" in \
        [s.code for s in version.snippets]
    assert out[2].files == ["finance:models/customer_segments.sql"]
    assert "`lifetime_value_usd` instead of `lifetime_value`" in out[2].text


def test_versioned_model_gets_the_next_version_and_latest_unmoved():
    base = _node(version="2")
    base.latest_version = "2"
    v1 = Node(**{**base.__dict__, "unique_id": CUST + ".v1", "version": "1"})
    out = suggest(_report(), {CUST: base}, {CUST: base, CUST + ".v1": v1}, today=date(2026, 1, 1))
    doc = yaml.safe_load(out[0].snippets[0].code)["models"][0]
    assert doc["latest_version"] == 2 and [v["v"] for v in doc["versions"]] == [2, 3]
    assert doc["versions"][0]["deprecation_date"] == "2026-04-01"


def test_unknown_change_says_what_makes_it_provable():
    report = _report("unknown")
    report.changes[0].reasons = ["SQL changed but its lineage could not be proven: could not parse the SQL"]
    report.impacts = []
    (only,) = suggest(report, {CUST: _node()}, {CUST: _node()}, dialects={"shop": "duckdb"})
    assert only.kind == "provable" and "dialect:" in only.text and "duckdb" in only.text


def test_broken_consumer_project_gets_a_fix_suggestion():
    report = _report()
    report.broken = [BrokenProject("finance", "Compilation Error\n  Model 'x' depends on a node named 'customers'\n", [SEG])]
    out = suggest(report, {CUST: _node()}, {CUST: _node()})
    fix = next(s for s in out if s.kind == "fix-consumer")
    assert "depends on a node named 'customers'" in fix.text and fix.files == ["finance:models/customer_segments.sql"]


def test_report_round_trips_suggestions_and_broken_projects():
    report = _report()
    report.broken = [BrokenProject("finance", "boom", [SEG])]
    report.suggestions = suggest(report, {CUST: _node()}, {CUST: _node()})
    assert Report.from_dict(report.to_dict()) == report


def test_handles_are_validated():
    assert handle("@octo-org/finance") == "@octo-org/finance"
    assert handle("octocat") == "@octocat"
    for bad in ("@-bad", "a b", "@x/y z", "finance@example.com", "@a--b", "", None, 3, "@" + "a" * 40):
        assert handle(bad) is None, bad


def test_manifest_handles_from_group_github_key_and_at_prefixed_meta_owner():
    manifest = {
        "metadata": {"project_name": "finance"},
        "groups": {"group.finance.finance": {"name": "finance", "owner": {"name": "Finance", "github": "@octo/finance"}}},
        "nodes": {SEG: {"unique_id": SEG, "resource_type": "model", "package_name": "finance", "name": "customer_segments",
                        "group": "finance", "config": {"meta": {"owner": ["@alice", "bob@example.com", "@bad name"]}}}},
        "exposures": {"exposure.finance.dash": {"unique_id": "exposure.finance.dash", "resource_type": "exposure",
                                                 "package_name": "finance", "name": "dash",
                                                 "owner": {"name": "BI", "github": ["carol", "not a handle"]}}},
    }
    project = parse_manifest(manifest)
    assert project.nodes[SEG].handles == ("@octo/finance", "@alice")
    assert project.nodes["exposure.finance.dash"].handles == ("@carol",)


def _alias_sql(compiled: str | None, dialect="duckdb") -> str:
    base = Node(**{**_node().__dict__, "compiled_sql": compiled})
    head = Node(**{**_node().__dict__, "columns": {"lifetime_value_usd": DeclaredColumn("lifetime_value_usd")}})
    out = suggest(_report(), {CUST: base}, {CUST: head}, today=date(2026, 1, 1), dialects={"shop": dialect})
    return next(s for s in out if s.kind == "alias").snippets[0].code


def test_alias_shows_the_old_columns_real_expression():
    sql = _alias_sql('select c.customer_id, cast(coalesce(l.ltv_cents, 0) / 100 as decimal(18, 2)) as lifetime_value\n'
                     'from "db"."main"."stg_customers" as c left join ltv as l on l.customer_id = c.customer_id')
    assert sql == ("    -- old name of lifetime_value_usd, kept until 2026-04-01\n"
                   "    cast(coalesce(l.ltv_cents, 0) / 100 as decimal(18, 2)) as lifetime_value,")


def test_alias_follows_select_star_of_a_cte_and_the_first_branch_of_a_union():
    sql = _alias_sql("with base as (select id as customer_id, amount * 2 as lifetime_value from t),\n"
                     "final as (select * from base)\nselect * from final")
    assert sql.endswith("\n    amount * 2 as lifetime_value,")
    sql = _alias_sql("select id as customer_id, (a + b)\n      * 2 lifetime_value from t union all "
                     "select id, 0 from u")
    assert sql.endswith("\n    (a + b) * 2 as lifetime_value,")  # as written, on one line
    # a plain column keeps its qualifier
    assert _alias_sql("select o.customer_id, o.lifetime_value from o").endswith("\n    o.lifetime_value as lifetime_value,")


def test_alias_falls_back_to_a_placeholder_that_says_so():
    for compiled in (None, "select * from \"db\".\"main\".\"customers_raw\"",  # a star over a table
                     "select customer_id, lifetime_value +* from x"):  # does not parse
        assert _alias_sql(compiled).endswith("\n    <the expression of lifetime_value on the base branch> "
                                             "as lifetime_value,"), compiled


def test_alias_text_says_where_the_expression_comes_from():
    base = Node(**{**_node().__dict__, "compiled_sql": "select 1 as customer_id, 2 as lifetime_value"})
    (alias,) = [s for s in suggest(_report(), {CUST: base}, {CUST: _node()}) if s.kind == "alias"]
    assert "base branch's compiled SQL." in alias.text and "2 as lifetime_value" in alias.snippets[0].code
    (alias,) = [s for s in suggest(_report(), {CUST: _node()}, {CUST: _node()}) if s.kind == "alias"]
    assert "could not be read" in alias.text
