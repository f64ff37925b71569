"""Base vs head diff of one project, from hand-built nodes and lineage."""
from analysis.lineage.columns import ColumnRef, ModelLineage, Upstream
from analysis.impact.diff import diff_project
from analysis.dbt.nodes import DeclaredColumn, Node

M = "model.shop.orders"
SRC = "model.shop.stg_orders"


def node(sql="select 1", **kw):
    return Node(M, "shop", "orders", "model", compiled_sql=sql, **kw)


def lin(cols, shape="s1", prints=None):
    return ModelLineage(
        M,
        columns={c: (Upstream(ColumnRef(SRC, c), "passthrough"),) for c in cols},
        fingerprints=prints or {c: f"fp-{c}" for c in cols},
        shape_fingerprint=shape,
    )


def run(base_node, head_node, lb, lh, sb=None, sh=None):
    sb = sb or {c: None for c in lb.columns}
    sh = sh or {c: None for c in lh.columns}
    return diff_project({M: base_node}, {M: head_node}, {M: lb}, {M: lh}, {M: sb}, {M: sh})


def test_rename_is_recognised_as_a_rename():
    d = run(node("a"), node("b"), lin(["id", "amount"]),
            lin(["id", "amount_usd"], prints={"id": "fp-id", "amount_usd": "fp-amount"}))
    (change,) = d.changes
    assert change.category == "breaking"
    assert [(c.name, c.change, c.renamed_to) for c in change.columns] == [("amount", "renamed", "amount_usd")]
    assert d.seeds == {M: {"amount": "renamed"}}


def test_added_column_is_additive_and_seeds_nothing():
    d = run(node("a"), node("b"), lin(["id"]), lin(["id", "note"]))
    (change,) = d.changes
    assert change.category == "additive"
    assert d.seeds == {}


def test_expression_change_is_partial():
    d = run(node("a"), node("b"), lin(["id", "amount"]),
            lin(["id", "amount"], prints={"id": "fp-id", "amount": "other"}))
    (change,) = d.changes
    assert change.category == "partial"
    assert d.seeds == {M: {"amount": "modified"}}


def test_row_shape_change_modifies_every_column():
    d = run(node("a"), node("b"), lin(["id", "amount"]), lin(["id", "amount"], shape="s2"))
    assert d.seeds == {M: {"id": "modified", "amount": "modified"}}
    assert "every column" in d.changes[0].reasons[0]


def test_reformatted_sql_is_metadata_with_no_seeds():
    d = run(node("select 1"), node("SELECT  1 -- same"), lin(["id"]), lin(["id"]))
    (change,) = d.changes
    assert change.category == "metadata" and d.seeds == {}


def test_retyped_column_from_inferred_types():
    d = run(node("a"), node("b"), lin(["id"]), lin(["id"]), {"id": "INT"}, {"id": "VARCHAR"})
    assert d.changes[0].columns[0].change == "retyped"
    assert d.changes[0].category == "breaking"


def test_unknown_lineage_is_never_safe():
    d = run(node("a"), node("b"), lin(["id"]), ModelLineage.unknown(M, "could not parse"))
    (change,) = d.changes
    assert change.category == "unknown"
    # readers get severity `unknown` (not `changed`): nothing is proven about the new SQL
    assert d.seeds == {M: {"id": "unknown"}} and M in d.unknown
    assert any("could not parse" in r for r in change.reasons)


def test_unknown_lineage_without_known_columns_seeds_the_whole_node():
    d = run(node("a"), node("b"), ModelLineage.unknown(M, "python"), ModelLineage.unknown(M, "python"), {}, {})
    assert d.changes[0].category == "unknown" and d.seeds == {M: {"*": "unknown"}}
    assert d.changes[0].columns == []


def test_untraced_columns_of_a_partial_lineage_are_unknown():
    head = lin(["id", "amount"], prints={"id": "fp-id", "amount": "fp-amount"})
    head.status, head.unknown_columns, head.reason = "partial", frozenset({"amount"}), "`amount`: ambiguous"
    d = run(node("a"), node("b"), lin(["id", "amount"]), head)
    (change,) = d.changes
    assert change.category == "unknown"
    assert d.seeds == {M: {"amount": "unknown"}}
    assert [(c.name, c.change) for c in change.columns] == [("amount", "modified")]
    assert any("`amount` could not be traced: `amount`: ambiguous" in r for r in change.reasons)


def test_untraced_columns_do_not_hide_a_breaking_change():
    head = lin(["id"], prints={"id": "fp-id"})
    head.status, head.unknown_columns = "partial", frozenset({"*"})
    d = run(node("a"), node("b"), lin(["id", "amount"]), head)
    assert d.changes[0].category == "breaking"
    assert d.seeds == {M: {"amount": "removed", "*": "unknown"}}


def test_description_only_change_is_metadata():
    d = run(node("a", docs_fingerprint="x"), node("a", docs_fingerprint="y"), lin(["id"]), lin(["id"]))
    (change,) = d.changes
    assert change.category == "metadata" and d.seeds == {}


def test_public_contract_break_is_a_governance_finding():
    cols = {"id": DeclaredColumn("id", "int"), "amount": DeclaredColumn("amount", "int")}
    base = node("a", access="public", contract_enforced=True, columns=cols)
    head = node("a", access="public", contract_enforced=True, columns={**cols, "amount": DeclaredColumn("amount", "varchar")})
    d = run(base, head, lin(["id", "amount"]), lin(["id", "amount"]))
    (change,) = d.changes
    assert change.category == "breaking"
    assert any(r.startswith("governance:") and "amount" in r for r in change.reasons)
    assert d.seeds == {M: {"amount": "retyped"}}


def test_access_narrowed_from_public_is_governance():
    d = run(node("a", access="public"), node("a", access="private"), lin(["id"]), lin(["id"]))
    assert d.changes[0].category == "breaking"
    assert d.changes[0].reasons[0].startswith("governance:")


SEED = "seed.shop.raw_payments"


def seed_node(column_types=None, checksum="c1", path=None):
    return Node(SEED, "shop", "raw_payments", "seed", seed_path=path, checksum=checksum,
                seed_column_types=column_types or {})


def test_seed_column_types_change_is_a_retype(tmp_path):
    from analysis.lineage.schema import seed_schema

    csv = tmp_path / "raw_payments.csv"
    csv.write_text("id,order_id,amount\n1,10,100\n2,11,250\n")
    base = seed_node(path=str(csv))
    head = seed_node({"amount": "varchar", "order_id": "integer"}, path=str(csv))  # same CSV, new column_types
    sb, sh = seed_schema(base, "duckdb"), seed_schema(head, "duckdb")
    d = diff_project({SEED: base}, {SEED: head}, {}, {}, {SEED: sb}, {SEED: sh})
    (change,) = d.changes
    assert change.category == "breaking"
    assert [(c.name, c.change, c.detail) for c in change.columns] == [("amount", "retyped", "INT -> TEXT")]
    assert d.seeds == {SEED: {"amount": "retyped"}}
    assert change.reasons == ["seed `column_types` changed: `amount` retyped"]


def test_seed_data_change_modifies_and_retypes():
    sb, sh = {"id": "INT", "amount": "INT"}, {"id": "INT", "amount": "TEXT", "note": "TEXT"}
    d = diff_project({SEED: seed_node()}, {SEED: seed_node(checksum="c2")}, {}, {}, {SEED: sb}, {SEED: sh})
    assert d.seeds == {SEED: {"id": "modified", "amount": "retyped"}}
    assert {c.name: c.change for c in d.changes[0].columns} == {"id": "modified", "amount": "retyped", "note": "added"}


def test_seed_column_types_change_with_same_loaded_types_is_metadata():
    sb = sh = {"id": "INT"}
    d = diff_project({SEED: seed_node()}, {SEED: seed_node({"id": "integer"})}, {}, {}, {SEED: sb}, {SEED: sh})
    assert d.changes[0].category == "metadata" and d.seeds == {}
