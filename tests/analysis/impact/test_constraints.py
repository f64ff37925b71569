"""Enforced contract constraints removed or loosened (issue 9, item 5), by dbt-core's rules: no dbt.

The scenario on real compiles is in tests/analysis/test_never_silently_safe.py."""
import json

import pytest

from analysis.dbt.nodes import DeclaredColumn, Node
from analysis.impact.constraints import constraint_findings, enforced_types
from analysis.impact.diff import diff_project
from analysis.impact.policy import GOVERNANCE_MARK, decide
from analysis.lineage.columns import ColumnRef, ModelLineage, Upstream
from analysis.report import GitRef, Report

M = "model.shop.orders"


def c(kind, **kw):
    return json.dumps({"type": kind, **kw}, sort_keys=True)


NOT_NULL, PK = c("not_null"), c("primary_key")
CHECK = c("check", expression="amount >= 0")


def node(columns, constraints=(), access="public", materialized="table", enforced=True):
    cols = {n: DeclaredColumn(n, "integer", constraints=tuple(k)) for n, k in columns.items()}
    return Node(M, "shop", "orders", "model", access=access, contract_enforced=enforced, columns=cols,
                constraints=tuple(constraints), materialized=materialized, compiled_sql="select 1 as id, 2 as amount")


BASE = node({"id": [NOT_NULL, PK], "amount": [CHECK]})


def diff(base, head, dialect=None):
    lin = ModelLineage(M, columns={n: (Upstream(ColumnRef("model.shop.stg", n), "passthrough"),) for n in ("id", "amount")},
                       fingerprints={"id": "a", "amount": "b"}, shape_fingerprint="s", types={})
    schemas = {M: {"id": "integer", "amount": "integer"}}
    return diff_project({M: base}, {M: head}, {M: lin}, {M: lin}, schemas, schemas, dialect=dialect)


def test_removed_not_null_on_a_public_model_is_a_breaking_governance_finding():
    head = node({"id": [PK], "amount": [CHECK]})
    assert constraint_findings(BASE, head) == [
        f"{GOVERNANCE_MARK} enforced `not_null` constraint on column `id` removed or loosened: consumers lose its "
        "guarantee (dbt: breaking contract change)"]
    d = diff(BASE, head)
    assert d.changes[0].category == "breaking"
    report = decide(Report("shop", GitRef("main", "a"), GitRef("pr", "b"), changes=d.changes))
    assert report.conclusion == "failure"
    assert any("enforced `not_null` constraint on column `id`" in p for p in report.policy)


def test_a_loosened_check_is_the_old_check_removed():
    head = node({"id": [NOT_NULL, PK], "amount": [c("check", expression="amount >= -100")]})
    assert constraint_findings(BASE, head) == [
        f"{GOVERNANCE_MARK} enforced `check amount >= 0` constraint on column `amount` removed or loosened: "
        "consumers lose its guarantee (dbt: breaking contract change)"]


def test_model_level_constraint_removed_and_added_ones():
    base = node({"id": [], "amount": []}, [c("primary_key", columns=["id"]), c("unique", columns=["amount"])])
    head = node({"id": [NOT_NULL], "amount": []}, [c("unique", columns=["amount"])])
    assert constraint_findings(base, head) == [
        f"{GOVERNANCE_MARK} enforced `primary_key (id)` constraint (model level) removed or loosened: consumers "
        "lose its guarantee (dbt: breaking contract change)"]


def test_constraints_the_warehouse_does_not_enforce_do_not_block():
    """Snowflake enforces only not_null: a dropped primary key is reported, not blocking (dbt's rule)."""
    head = node({"id": [NOT_NULL], "amount": [CHECK]})
    assert enforced_types("snowflake") == frozenset({"not_null"})
    findings = constraint_findings(BASE, head, "snowflake")
    assert findings == ["`primary_key` constraint on column `id` removed or loosened; snowflake does not enforce "
                        "`primary_key`, so dbt does not count it as a breaking change"]
    d = diff(BASE, head, "snowflake")
    assert d.changes[0].category == "metadata"
    assert decide(Report("shop", GitRef("m", "a"), GitRef("p", "b"), changes=d.changes)).conclusion == "success"
    assert constraint_findings(BASE, head)[0].startswith(GOVERNANCE_MARK)  # DuckDB/PostgreSQL enforce it


@pytest.mark.parametrize("base, head, expected", [
    (node({"id": [NOT_NULL]}, materialized="view"), node({"id": []}, materialized="view"), []),  # views enforce none
    (node({"id": [NOT_NULL]}, enforced=False), node({"id": []}, enforced=False), []),  # no contract
    (node({"id": [NOT_NULL]}, access="protected"), node({"id": []}, access="protected"),
     ["enforced `not_null` constraint on column `id` removed or loosened: consumers lose its guarantee "
      "(dbt: breaking contract change)"]),
    (node({"id": []}), node({"id": [NOT_NULL]}), []),  # tightened
])
def test_when_dbt_does_not_count_it(base, head, expected):
    assert constraint_findings(base, head) == expected


def test_materialization_to_view_with_constraints_breaks():
    head = node({"id": [NOT_NULL, PK], "amount": [CHECK]}, materialized="view")
    assert constraint_findings(BASE, head) == [
        f"{GOVERNANCE_MARK} materialization changed from `table` to `view`, which enforces no constraint: the "
        "contract's constraints are no longer guaranteed (dbt: breaking contract change)"]
