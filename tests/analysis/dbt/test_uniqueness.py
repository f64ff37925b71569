"""Keys a node is declared unique on (analysis.dbt.uniqueness), from manifest entries as dbt
1.11 writes them, and through the manifest snapshot."""
import json

from analysis.dbt.manifest import parse_manifest
from analysis.dbt.snapshot import ProjectLoader
from analysis.dbt.uniqueness import plain_column, key_from_test

ORDERS = "model.platform.orders"
SOURCE = "source.platform.raw.orders"


def _test(name, namespace, kwargs, attached=ORDERS, config=None, column_name=None):
    raw = {"unique_id": f"test.platform.{name}.abc", "resource_type": "test", "package_name": "platform",
           "name": name, "attached_node": attached, "depends_on": {"nodes": [attached]},
           "test_metadata": {"name": name.split("__")[0], "namespace": namespace,
                             "kwargs": {"model": "{{ get_where_subquery(ref('orders')) }}", **kwargs}},
           "config": config or {}, "original_file_path": "models/_models.yml"}
    if column_name is not None:
        raw["column_name"] = column_name
    return raw


def test_unique_test_on_a_plain_column_proves_a_key():
    assert key_from_test(_test("unique__id", None, {"column_name": "Order_ID"})) == (ORDERS, ("order_id",))
    assert key_from_test(_test("unique__id", None, {"column_name": '"OrderId"'})) == (ORDERS, ("orderid",))


def test_unique_test_on_an_expression_or_with_where_proves_nothing():
    assert key_from_test(_test("unique__email", None, {"column_name": "lower(email)"})) is None
    assert key_from_test(_test("unique__id", None, {"column_name": "id"}, config={"where": "status = 'x'"})) is None
    assert key_from_test(_test("not_null__id", None, {"column_name": "id"})) is None


def test_unique_combination_of_columns_and_nested_arguments():
    raw = _test("unique_combination_of_columns__o", "dbt_utils",
                {"arguments": {"combination_of_columns": ["order_id", "Line_No"]}})
    assert key_from_test(raw) == (ORDERS, ("line_no", "order_id"))
    broken = _test("unique_combination_of_columns__o", "dbt_utils", {"combination_of_columns": ["a", "b || c"]})
    assert key_from_test(broken) is None


def test_plain_column():
    assert plain_column(" id ") == "id"
    assert plain_column("`Id`") == "id"
    assert plain_column("a.b") is None
    assert plain_column(3) is None


def _manifest():
    return {"metadata": {"project_name": "platform", "adapter_type": "duckdb"}, "nodes": {
        ORDERS: {"unique_id": ORDERS, "resource_type": "model", "package_name": "platform", "name": "orders",
                 "original_file_path": "models/orders.sql", "raw_code": "select 1",
                 "constraints": [{"type": "primary_key", "columns": ["order_id", "line_no"]},
                                 {"type": "check", "expression": "amount >= 0", "columns": ["amount"]}],
                 "columns": {"Code": {"name": "Code", "constraints": [{"type": "unique"}]},
                             "amount": {"name": "amount", "constraints": [{"type": "not_null"}]}}},
        "test.platform.unique_orders_id.1": {**_test("unique__id", None, {"column_name": "id"}),
                                             "unique_id": "test.platform.unique_orders_id.1"},
        "test.platform.unique_src.1": {**_test("unique__id", None, {"column_name": "id"}, attached=SOURCE),
                                       "unique_id": "test.platform.unique_src.1"},
    }, "sources": {SOURCE: {"unique_id": SOURCE, "resource_type": "source", "package_name": "platform",
                            "source_name": "raw", "name": "orders", "relation_name": '"db"."raw"."orders"'}},
        "unit_tests": {}}


def test_manifest_keys_from_tests_and_constraints_survive_the_snapshot(tmp_path):
    project = parse_manifest(_manifest())
    assert project.nodes[ORDERS].unique_keys == (("code",), ("id",), ("line_no", "order_id"))
    assert project.nodes[SOURCE].unique_keys == (("id",),)
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(_manifest()), encoding="utf-8")
    loader = ProjectLoader()
    loader.load(str(path))  # writes the snapshot
    again = ProjectLoader().load(str(path))  # reads it
    assert again.nodes[ORDERS].unique_keys == (("code",), ("id",), ("line_no", "order_id"))
    assert again.nodes[SOURCE].unique_keys == (("id",),)
