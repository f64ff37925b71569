"""The interface of a manifest (what dbt-loom injects into a consumer's compile) against dbt-loom itself:
two manifests have the same digest exactly when dbt-loom makes the same nodes of them."""
import copy
import dataclasses

import pytest

from analysis.dbt.interface import FIELDS, interface_digest


def manifest() -> dict:
    def model(name, **kw):
        node = {"name": name, "package_name": "shop", "unique_id": f"model.shop.{name}", "resource_type": "model",
                "schema": "main", "database": "mesh", "relation_name": f'"mesh"."main"."{name}"',
                "version": None, "latest_version": None, "deprecation_date": None, "access": "public", "group": None,
                "depends_on": {"nodes": ["source.shop.raw.orders"], "macros": ["macro.dbt.x"]},
                "config": {"enabled": True, "access": "public", "materialized": "table"},
                "compiled_code": "select 1 as id", "raw_code": "select 1 as id", "description": "",
                "columns": {"id": {"name": "id", "data_type": "int"}}, "checksum": {"name": "sha256", "checksum": "a"}}
        node.update(kw)
        return node

    nodes = {n["unique_id"]: n for n in [
        model("orders", unique_id="model.shop.orders_v0"),
        model("customers", access=None, config={"access": "protected"}),
        model("orders", unique_id="model.shop.orders.v2", version=2, latest_version=2),
        {"unique_id": "test.shop.not_null_orders_id", "name": "not_null_orders_id", "resource_type": "test"},
        {"unique_id": "seed.shop.raw_customers", "name": "raw_customers", "package_name": "shop",
         "resource_type": "seed", "schema": "main", "database": "mesh", "relation_name": '"mesh"."main"."raw"',
         "config": {}, "depends_on": {"nodes": []}},
    ]}
    return {"metadata": {"project_name": "shop", "generated_at": "2026-01-01T00:00:00Z"}, "nodes": nodes,
            "sources": {"source.shop.raw.orders": {"name": "orders"}}, "macros": {}, "docs": {}, "exposures": {}}


def loom_view(data: dict) -> dict:
    """What dbt-loom 0.9.6 itself makes of ``data``: its node args, without the load-time stamp."""
    from dbt_loom import convert_model_nodes_to_model_node_args, identify_node_subgraph

    args = convert_model_nodes_to_model_node_args(identify_node_subgraph(copy.deepcopy(data)))
    out = {}
    for uid, arg in args.items():
        fields = {f.name: getattr(arg, f.name) for f in dataclasses.fields(arg) if f.name != "generated_at"}
        fields.update(group=arg.group, event_time=arg.event_time, resource_type=str(arg.resource_type))
        out[uid] = repr(sorted(fields.items()))
    return out


def change(path: str, value):
    def apply(data):
        *keys, last = path.split("/")
        target = data
        for key in keys:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return apply


DELETE = object()
O = "nodes/model.shop.orders_v0"
#: (id, change, dbt-loom injects something else)
CASES = [
    ("compiled-sql", change(f"{O}/compiled_code", "select 2 as id"), False),
    ("raw-sql", change(f"{O}/raw_code", "select 2 as id"), False),
    ("description", change(f"{O}/description", "new words"), False),
    ("columns", change(f"{O}/columns", {"id": {"name": "id"}, "x": {"name": "x"}}), False),
    ("checksum", change(f"{O}/checksum", {"name": "sha256", "checksum": "b"}), False),
    ("materialization", change(f"{O}/config/materialized", "view"), False),
    ("macro-dependency", change(f"{O}/depends_on/macros", ["macro.dbt.y"]), False),
    ("source-dependency", change(f"{O}/depends_on/nodes", ["source.shop.raw.customers"]), False),
    ("a-test-added", change("nodes/test.shop.unique_orders_id", {"resource_type": "test", "name": "u"}), False),
    ("a-source-added", change("sources/source.shop.raw.items", {"name": "items"}), False),
    ("generated-at", change("metadata/generated_at", "2027-01-01T00:00:00Z"), False),
    ("relation-name", change(f"{O}/relation_name", '"mesh"."main"."orders_renamed"'), True),
    ("schema", change(f"{O}/schema", "marts"), True),
    ("database", change(f"{O}/database", "other"), True),
    ("new-version", change("nodes/model.shop.orders.v3", {**manifest()["nodes"]["model.shop.orders.v2"],
                                                          "unique_id": "model.shop.orders.v3", "version": 3}), True),
    ("latest-version", change("nodes/model.shop.orders.v2/latest_version", 1), True),
    ("access", change(f"{O}/access", "protected"), True),
    ("access-from-config", change("nodes/model.shop.customers/config/access", "public"), True),
    ("group", change(f"{O}/group", "finance"), True),
    ("deprecation-date", change(f"{O}/deprecation_date", "2027-01-01T00:00:00"), True),
    ("model-removed", change(O, DELETE), True),
    ("model-added", change("nodes/model.shop.extra", {**manifest()["nodes"][O.split("/")[1]],
                                                      "unique_id": "model.shop.extra", "name": "extra"}), True),
    ("ref-dependency", change(f"{O}/depends_on/nodes", ["model.shop.customers"]), True),
    ("event-time", change(f"{O}/config/event_time", "ordered_at"), True),
    ("project-name", change("metadata/project_name", "shop2"), True),
]


@pytest.mark.parametrize("case_id,edit,differs", CASES, ids=[c[0] for c in CASES])
def test_digest_changes_exactly_when_dbt_loom_injects_something_else(case_id, edit, differs):
    before, after = manifest(), manifest()
    edit(after)
    if case_id != "project-name":  # the project name is dbt-loom's key for the manifest, not a node field
        assert (loom_view(before) != loom_view(after)) is differs
    assert (interface_digest(before) != interface_digest(after)) is differs


def test_fields_are_those_of_dbt_loom():
    from dbt_loom.manifests import ManifestNode

    names = {(f.alias or name) for name, f in ManifestNode.model_fields.items()}
    # generated_at is stamped at load time; depends_on_nodes is derived from depends_on
    assert names - {"generated_at", "depends_on_nodes"} == set(FIELDS)
