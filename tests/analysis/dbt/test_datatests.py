"""What each dbt data test and unit test reads (analysis.dbt.datatests), from manifest entries
as dbt 1.11 writes them."""
from analysis.dbt.datatests import data_test, fixture_columns, identifiers, input_node, unit_test
from analysis.dbt.manifest import parse_manifest
from analysis.dbt.nodes import Node

ORDERS = "model.platform.orders"


def _generic(name, kwargs, attached=ORDERS, depends=(ORDERS,), namespace=None, config=None):
    return {"unique_id": f"test.platform.{name}.abc", "resource_type": "test", "package_name": "platform",
            "name": name, "attached_node": attached, "depends_on": {"nodes": list(depends)},
            "test_metadata": {"name": name.split("_")[0], "namespace": namespace,
                              "kwargs": {"model": "{{ get_where_subquery(ref('orders')) }}", **kwargs}},
            "config": config or {}, "original_file_path": "models/_models.yml"}


def test_generic_test_reads_its_column():
    test = data_test(_generic("not_null_orders_amount", {"column_name": "amount"}), {})
    assert test.reads == ((ORDERS, "amount"),)
    assert test.kind == "not" and test.attached == ORDERS


def test_relationships_reads_the_field_of_the_referenced_model():
    raw = _generic("relationships_orders_customer_id", {"column_name": "customer_id", "to": "ref('customers')",
                                                        "field": "id"},
                   depends=("model.platform.customers", ORDERS))
    assert data_test(raw, {}).reads == ((ORDERS, "customer_id"), ("model.platform.customers", "id"))


def test_expression_and_where_config_read_their_identifiers_but_values_do_not():
    raw = _generic("expression_is_true_orders", {"expression": "amount >= discount + 'x'"}, namespace="dbt_utils",
                   config={"where": "status != 'returned'"})
    assert data_test(raw, {}).reads == ((ORDERS, "amount"), (ORDERS, "discount"), (ORDERS, "status"))
    accepted = _generic("accepted_values_orders_status", {"column_name": "status", "values": ["placed", "amount"]})
    assert data_test(accepted, {}).reads == ((ORDERS, "status"),)


def test_dbt_1_10_nested_arguments_are_read():
    raw = _generic("unique_combination", {"arguments": {"combination_of_columns": ["order_id", "Line_No"]}})
    assert data_test(raw, {}).reads == ((ORDERS, "order_id"), (ORDERS, "line_no"))


def test_singular_test_reads_identifiers_of_its_sql_on_each_node_it_refs():
    raw = {"unique_id": "test.platform.assert_x", "resource_type": "test", "package_name": "platform",
           "name": "assert_x", "depends_on": {"nodes": [ORDERS]},
           "raw_code": "-- amounts are never negative\nselect order_id from {{ ref('orders') }}\n"
                       "where amount < 0 and status = 'placed_total'"}
    test = data_test(raw, {})
    assert test.kind == "singular"
    assert test.reads == ((ORDERS, "order_id"), (ORDERS, "amount"), (ORDERS, "status"))


def test_identifiers_skip_jinja_comments_literals_and_keywords():
    assert identifiers('select "Mixed", `b` from {{ ref("x") }} /* c */ where d = \'e\' {% if y %}') == \
        ["mixed", "b", "d"]


def _node(unique_id, name, project="platform", resource_type="model", version=None, latest=None):
    return Node(unique_id=unique_id, project=project, name=name, resource_type=resource_type,
                version=version, latest_version=latest)


NODES = {n.unique_id: n for n in [
    _node(ORDERS, "orders"), _node("model.platform.stg_orders", "stg_orders"),
    _node("model.platform.customers.v1", "customers", version="1", latest="2"),
    _node("model.platform.customers.v2", "customers", version="2", latest="2"),
    _node("source.platform.raw.orders", "raw.orders", resource_type="source"),
]}


def test_unit_test_inputs_resolve_to_nodes():
    assert input_node("ref('stg_orders')", ORDERS, NODES) == "model.platform.stg_orders"
    assert input_node("ref('platform', 'stg_orders')", ORDERS, NODES) == "model.platform.stg_orders"
    assert input_node("ref('customers')", ORDERS, NODES) == "model.platform.customers.v2"
    assert input_node("ref('customers', v=1)", ORDERS, NODES) == "model.platform.customers.v1"
    assert input_node("source('raw', 'orders')", ORDERS, NODES) == "source.platform.raw.orders"
    assert input_node("this", ORDERS, NODES) == ORDERS
    assert input_node("ref('nowhere')", ORDERS, NODES) is None


def test_unit_test_reads_given_and_expect_columns_and_all_of_unread_fixtures():
    raw = {"unique_id": "unit_test.platform.orders.t", "package_name": "platform", "name": "t",
           "resource_type": "unit_test", "depends_on": {"nodes": [ORDERS]},
           "given": [{"input": "ref('stg_orders')", "rows": [{"order_id": 1, "Amount": 2}], "format": "dict"},
                     {"input": "source('raw', 'orders')", "rows": "select 1 as id", "format": "sql"}],
           "expect": {"rows": "order_id,amount\n1,2\n", "format": "csv"}}
    test = unit_test(raw, NODES)
    assert test.reads == (("model.platform.stg_orders", "order_id"), ("model.platform.stg_orders", "amount"),
                          (ORDERS, "order_id"), (ORDERS, "amount"))
    assert test.reads_all == ("source.platform.raw.orders",)
    assert fixture_columns({"fixture": "orders_fixture"}) is None


def test_manifest_reads_tests_of_its_own_project_and_constraints():
    data = {"metadata": {"project_name": "platform", "adapter_type": "duckdb"}, "nodes": {
        ORDERS: {"unique_id": ORDERS, "resource_type": "model", "package_name": "platform", "name": "orders",
                 "original_file_path": "models/orders.sql", "raw_code": "select 1",
                 "constraints": [{"type": "check", "expression": "amount >= 0", "columns": ["amount"],
                                  "warn_unenforced": True}],
                 "columns": {"id": {"name": "id", "data_type": "int",
                                    "constraints": [{"type": "not_null", "name": None}]}}},
        "test.platform.not_null_orders_id.1": _generic("not_null_orders_id", {"column_name": "id"}),
        "test.other.not_null_x.1": {**_generic("not_null_x", {"column_name": "x"}), "package_name": "other",
                                    "unique_id": "test.other.not_null_x.1"},
    }, "unit_tests": {}}
    data["nodes"]["test.platform.not_null_orders_id.1"]["unique_id"] = "test.platform.not_null_orders_id.1"
    project = parse_manifest(data)
    assert list(project.tests) == ["test.platform.not_null_orders_id.1"]
    orders = project.nodes[ORDERS]
    assert orders.constraints == ('{"columns": ["amount"], "expression": "amount >= 0", "type": "check"}',)
    assert orders.columns["id"].constraints == ('{"type": "not_null"}',)
