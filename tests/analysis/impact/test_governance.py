"""Governance findings (access, contract, versions, deprecation) on hand-built nodes: no dbt."""
from datetime import date

import pytest

from analysis.lineage.columns import ColumnRef, ModelLineage, Upstream
from analysis.impact.diff import diff_project
from analysis.impact.governance import (
    GOVERNANCE_MARK, contract_findings, contract_vs_sql, deprecation_findings, type_family, version_findings,
)
from analysis.lineage.trace import model_lineage
from analysis.dbt.nodes import DeclaredColumn, Node
from analysis.impact.policy import decide
from analysis.lineage.relations import TableResolver
from analysis.report import GitRef, Report

M = "model.shop.orders"
SRC = "model.shop.stg_orders"
COLS = {"id": DeclaredColumn("id", "integer"), "amount": DeclaredColumn("amount", "decimal(18,2)")}


def model(uid=M, sql="select id, amount from stg", **kw):
    name = kw.pop("name", "orders")
    return Node(uid, "shop", name, "model", compiled_sql=sql, **kw)


def lineage(uid=M, cols=("id", "amount"), types=None, prints=None):
    return ModelLineage(uid, columns={c: (Upstream(ColumnRef(SRC, c), "passthrough"),) for c in cols},
                        fingerprints=prints or {c: f"fp-{c}" for c in cols}, shape_fingerprint="s",
                        types=types or {c: None for c in cols})


def diff(base: dict, head: dict, lb: dict | None = None, lh: dict | None = None):
    lb = lb if lb is not None else {k: lineage(k) for k in base}
    lh = lh if lh is not None else {k: lineage(k) for k in head}
    schemas = {k: dict.fromkeys(lin.columns) for k, lin in {**lb, **lh}.items()}
    return diff_project(base, head, lb, lh, schemas, schemas)


def governance(reasons):
    return [r for r in reasons if r.startswith(GOVERNANCE_MARK)]


def verdict(d):
    return decide(Report("shop", GitRef("main", "a"), GitRef("pr", "b"), changes=d.changes))


# -- contracts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("access, blocks", [("public", True), ("protected", False)])
def test_contract_no_longer_enforced(access, blocks):
    base = model(access=access, contract_enforced=True, columns=COLS)
    head = model(access=access, contract_enforced=False, columns=COLS)
    findings, broken = contract_findings(base, head)
    assert broken == {}
    assert findings == [("governance: " if blocks else "")
                        + "contract no longer enforced: consumers lose the guarantee of its columns and types"]
    d = diff({M: base}, {M: head})
    assert d.changes[0].category == ("breaking" if blocks else "metadata")
    assert verdict(d).conclusion == ("failure" if blocks else "success")


def test_contract_changed_without_sql_change():
    base = model(access="public", contract_enforced=True, columns=COLS)
    head = model(access="public", contract_enforced=True,
                 columns={**COLS, "amount": DeclaredColumn("amount", "varchar")})
    d = diff({M: base}, {M: head}, lh={M: lineage(types={"id": "INT", "amount": "DECIMAL(18, 2)"})})
    (change,) = d.changes
    assert change.category == "breaking"
    assert [(c.name, c.change) for c in change.columns] == [("amount", "retyped")]
    assert d.seeds == {M: {"amount": "retyped"}}
    # the contract now disagrees with what the (unchanged) SQL produces: dbt build would fail
    assert governance(change.reasons) == [
        "governance: contract type of `amount` changed from `decimal(18,2)` to `varchar`",
        "governance: contract declares `amount` as `varchar` (string) but the SQL produces `DECIMAL(18, 2)` "
        "(number): `dbt build` will fail the contract check",
    ]


def test_sql_type_change_without_contract_update_is_reported():
    base = model(contract_enforced=True, columns=COLS, access="protected")
    head = model(sql="select id, cast(amount as varchar) as amount from stg", contract_enforced=True, columns=COLS,
                 access="protected")
    lh = lineage(types={"id": "INT", "amount": "VARCHAR"}, prints={"id": "fp-id", "amount": "fp-cast"})
    d = diff({M: base}, {M: head}, lh={M: lh})
    (change,) = d.changes
    assert change.category == "breaking"
    assert any("contract declares `amount` as `decimal(18,2)` (number) but the SQL produces `VARCHAR` (string)" in r
               for r in governance(change.reasons))
    assert verdict(d).conclusion == "failure"


@pytest.mark.parametrize("declared, inferred", [
    ("int", "BIGINT"), ("integer", "INT"), ("bigint", "HUGEINT"), ("varchar", "TEXT"), ("text", "VARCHAR(20)"),
    ("string", "TEXT"), ("numeric(18,2)", "DECIMAL(38, 4)"), ("number(38,0)", "DOUBLE"), ("float64", "INT"),
    ("timestamp", "TIMESTAMPTZ"), ("date", "TIMESTAMP"), ("bool", "BOOLEAN"),
    # unknown on either side: nothing is claimed
    ("json", "TEXT"), ("variant", "INT"), ("integer", None), (None, "TEXT"), ("my_domain_type", "TEXT"),
])
def test_compatible_or_unknown_types_are_not_reported(declared, inferred):
    node = model(contract_enforced=True, columns={"x": DeclaredColumn("x", declared)})
    assert contract_vs_sql(node, ["x"], {"x": inferred}) == []


@pytest.mark.parametrize("declared, inferred, families", [
    ("int", "VARCHAR", "number, string"), ("varchar(20)", "DATE", "string, date/time"),
    ("boolean", "INT", "boolean, number"), ("timestamp", "TEXT", "date/time, string"),
])
def test_family_mismatches_are_reported(declared, inferred, families):
    node = model(contract_enforced=True, columns={"x": DeclaredColumn("x", declared)})
    (finding,) = contract_vs_sql(node, ["x", "*"], {"x": inferred})  # even with an incomplete column list
    first, second = families.split(", ")
    assert f"as `{declared}` ({first}) but the SQL produces `{inferred}` ({second})" in finding
    assert type_family(declared) == first and type_family(inferred) == second


def test_inferred_types_come_from_real_sqlglot():
    stg = Node(SRC, "shop", "stg_orders", "model", relation_name='"db"."main"."stg_orders"')
    tables = TableResolver.from_nodes([stg])
    schemas = {SRC: {"id": "INT", "amount": "DECIMAL(18, 2)"}}
    sql = 'select id, cast(amount as varchar) as amount from "db"."main"."stg_orders"'
    lin = model_lineage(M, sql, "duckdb", tables, schemas)
    node = model(contract_enforced=True, columns=COLS)
    assert [f.split(":")[0] for f in contract_vs_sql(node, list(lin.columns), lin.types)] == ["governance"]
    same = model_lineage(M, sql.replace("as varchar", "as numeric(20, 4)"), "duckdb", tables, schemas)
    assert contract_vs_sql(node, list(same.columns), same.types) == []


# -- versions -------------------------------------------------------------------------------

V1, V2 = "model.shop.orders.v1", "model.shop.orders.v2"


def versioned(uid, version, latest, **kw):
    return model(uid, version=version, latest_version=latest, access="public", **kw)


def test_version_removed_is_a_governance_finding():
    base = {V1: versioned(V1, "1", "2"), V2: versioned(V2, "2", "2")}
    head = {V2: versioned(V2, "2", "2")}
    d = diff(base, head)
    (change,) = d.changes
    assert change.node == V1 and change.status == "removed" and change.category == "breaking"
    assert governance(change.reasons) == ["governance: version 1 of `orders` removed: consumers pinned to v1 break"]
    assert d.seeds == {V1: {"id": "removed", "amount": "removed"}}
    assert verdict(d).conclusion == "failure"


def test_latest_version_moved_is_partial_not_blocking():
    base = {V1: versioned(V1, "1", "1"), V2: versioned(V2, "2", "1")}
    head = {V1: versioned(V1, "1", "2"), V2: versioned(V2, "2", "2")}
    d = diff(base, head)
    assert {c.node: c.category for c in d.changes} == {V1: "partial", V2: "partial"}
    assert d.changes[0].reasons[0] == ("`latest_version` of `orders` moved from 1 to 2: "
                                       "consumers with unpinned refs now read another version")
    assert verdict(d).conclusion == "success"


# -- deprecation -------------------------------------------------------------------------------

def test_deprecation_date_set_on_an_unversioned_model_is_reported():
    base, head = model(access="public"), model(access="public", deprecation_date="2999-01-31T00:00:00")
    d = diff({M: base}, {M: head})
    (change,) = d.changes
    assert change.reasons == ["deprecation date of `orders` set to 2999-01-31: consumers are warned to migrate before then"]
    assert change.category == "metadata" and verdict(d).conclusion == "success"


def test_deprecation_date_passed_is_reported_once():
    today = date(2026, 6, 1)
    base, head = model(), model(deprecation_date="2026-01-01")
    assert deprecation_findings(base, head, today=today) == [
        "deprecation date of `orders` set to 2026-01-01: consumers are warned to migrate before then",
        "deprecation date 2026-01-01 of `orders` has passed: consumers that still ref it get a warning on every run",
    ]
    # already passed at base: nothing new
    assert deprecation_findings(head, head, today=today) == []
    # unchanged and not passed yet: nothing
    assert deprecation_findings(head, head, today=date(2025, 12, 1)) == []


def test_deprecation_of_a_version_names_it():
    base, head = versioned(V1, "1", "2"), versioned(V1, "1", "2", deprecation_date="2020-01-01")
    assert version_findings(base, head, today=date(2026, 1, 1)) == [
        "deprecation date of `orders` v1 set to 2020-01-01: consumers are warned to migrate before then",
        "deprecation date 2020-01-01 of `orders` v1 has passed: consumers that still ref it get a warning on every run",
    ]


def test_new_model_with_a_deprecation_date_says_so():
    d = diff({}, {M: model(deprecation_date="2999-01-01")})
    assert d.changes[0].reasons[1].startswith("deprecation date of `orders` set to 2999-01-01")
