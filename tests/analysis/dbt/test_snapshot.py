"""Manifest snapshots: the same nodes as parsing the manifest, parsed once, shared between loads."""
from __future__ import annotations

import json
import os

from analysis.dbt.manifest import load_manifest
from analysis.dbt.snapshot import ProjectLoader, snapshot_path


def manifest(sql: str = "select id, amount from raw_orders") -> dict:
    return {
        "metadata": {"project_name": "shop", "adapter_type": "duckdb"},
        "groups": {"group.shop.sales": {"name": "sales", "owner": {"name": "Sales", "email": "s@x"}}},
        "nodes": {
            "seed.shop.raw_orders": {
                "unique_id": "seed.shop.raw_orders", "resource_type": "seed", "package_name": "shop",
                "name": "raw_orders", "original_file_path": "seeds/raw_orders.csv", "relation_name": '"db"."main"."raw_orders"',
                "config": {"column_types": {"Amount": "decimal(10,2)"}}, "checksum": {"checksum": "abc"},
            },
            "model.shop.orders": {
                "unique_id": "model.shop.orders", "resource_type": "model", "package_name": "shop", "name": "orders",
                "original_file_path": "models/orders.sql", "relation_name": '"db"."main"."orders"', "access": "public",
                "group": "sales", "contract": {"enforced": True}, "raw_code": "select id, amount from {{ ref('raw_orders') }}",
                "compiled_code": sql, "columns": {"id": {"name": "ID", "data_type": "int", "description": "the id"}},
                "depends_on": {"nodes": ["seed.shop.raw_orders"]}, "config": {"materialized": "table"},
                "version": 2, "latest_version": 2,
            },
            "model.shop.py_model": {
                "unique_id": "model.shop.py_model", "resource_type": "model", "package_name": "shop", "name": "py_model",
                "original_file_path": "models/py_model.py", "raw_code": "def model(dbt, session):\n    return None",
                "compiled_code": "def model(dbt, session):\n    return None",
            },
            "model.core.dim": {  # a dbt-loom skeleton of another project's model
                "unique_id": "model.core.dim", "resource_type": "model", "package_name": "core", "name": "dim",
                "relation_name": '"db"."main"."dim"', "checksum": {"checksum": "changes-every-run"},
            },
        },
        "sources": {"source.shop.raw.events": {
            "unique_id": "source.shop.raw.events", "package_name": "shop", "source_name": "raw", "name": "events",
            "relation_name": '"db"."raw"."events"', "columns": {"at": {"name": "at", "data_type": "timestamp"}},
        }},
        "exposures": {"exposure.shop.board": {
            "unique_id": "exposure.shop.board", "resource_type": "exposure", "package_name": "shop", "name": "board",
            "depends_on": {"nodes": ["model.shop.orders"]}, "owner": {"name": "Board", "email": "b@x"},
        }},
    }


def write(path, data) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(data, handle)
    return str(path)


def comparable(project):
    """Nodes as parse_manifest gives them, minus what a snapshot drops on purpose."""
    out = {}
    for node_id, node in project.nodes.items():
        node = type(node)(**vars(node))
        if node.compiled_sql and "def model(" not in (node.raw_sql or ""):
            node.raw_sql = None
        if node.injected:
            node.checksum = ""
        out[node_id] = node
    return out


def test_a_snapshot_gives_the_nodes_of_the_manifest_and_is_read_instead_of_it(tmp_path):
    path = write(tmp_path / "target" / "manifest.json", manifest())
    parsed = load_manifest(path, project_dir=str(tmp_path))
    first = ProjectLoader()
    assert comparable(first.load(path, project_dir=str(tmp_path))) == comparable(parsed)
    assert first.parsed == [path] and os.path.isfile(snapshot_path(path))
    again = ProjectLoader()
    project = again.load(path, project_dir=str(tmp_path))
    assert again.parsed == []  # the snapshot, not the manifest
    assert project.nodes == comparable(parsed) and project.groups == parsed.groups
    assert project.name == "shop" and project.adapter_type == "duckdb"


def test_a_changed_manifest_is_parsed_again(tmp_path):
    path = write(tmp_path / "manifest.json", manifest())
    ProjectLoader().load(path)
    write(tmp_path / "manifest.json", manifest("select id, amount * 2 as amount from raw_orders"))
    os.utime(path, ns=(1, 1))  # a different stamp even on a coarse clock
    loader = ProjectLoader()
    assert "amount * 2" in loader.load(path).nodes["model.shop.orders"].compiled_sql
    assert loader.parsed == [path]


def test_a_damaged_snapshot_is_ignored_and_rewritten(tmp_path):
    path = write(tmp_path / "manifest.json", manifest())
    expected = comparable(load_manifest(path))
    ProjectLoader().load(path)
    with open(snapshot_path(path), "r+b") as handle:
        handle.seek(40)
        handle.write(b"\x00garbage{")
    loader = ProjectLoader()
    assert loader.load(path).nodes == expected and loader.parsed == [path]
    assert ProjectLoader().load(path).nodes == expected


def test_seed_paths_follow_the_project_folder_of_each_load(tmp_path):
    path = write(tmp_path / "cache" / "manifest.json", manifest())
    ProjectLoader().load(path, project_dir=str(tmp_path / "base"))
    moved = ProjectLoader().load(path, project_dir=str(tmp_path / "head"))
    assert moved.nodes["seed.shop.raw_orders"].seed_path == str(tmp_path / "head" / "seeds" / "raw_orders.csv")


def test_skeletons_of_projects_in_the_mesh_are_left_out(tmp_path):
    path = write(tmp_path / "manifest.json", manifest())
    assert "model.core.dim" in ProjectLoader().load(path).nodes
    assert "model.core.dim" not in ProjectLoader().load(path, skip_injected={"core", "shop"}).nodes


def test_loads_share_unchanged_nodes_and_only_those(tmp_path):
    base = write(tmp_path / "base" / "manifest.json", manifest())
    head = write(tmp_path / "head" / "manifest.json", manifest("select id, amount, 1 as flag from raw_orders"))
    loader = ProjectLoader()
    a = loader.load(base, project_dir=str(tmp_path))
    b = loader.load(head, project_dir=str(tmp_path))
    assert a.nodes["exposure.shop.board"] is b.nodes["exposure.shop.board"]
    assert a.nodes["seed.shop.raw_orders"] is b.nodes["seed.shop.raw_orders"]
    assert a.nodes["model.shop.orders"] is not b.nodes["model.shop.orders"]
    assert "flag" in b.nodes["model.shop.orders"].compiled_sql
    # a seed loaded for another project folder is its own node (its CSV path differs)
    c = loader.load(base, project_dir=str(tmp_path / "elsewhere"))
    assert c.nodes["seed.shop.raw_orders"] is not a.nodes["seed.shop.raw_orders"]
    assert c.nodes["model.shop.py_model"] is a.nodes["model.shop.py_model"]
