"""An incremental model's second render: its SQL when ``is_incremental()`` is true.

dbt renders an incremental model two ways: the full-refresh SQL (the first run, ``--full-refresh``)
and, on every later run, the SQL with ``{% if is_incremental() %}`` blocks included. A plain
``dbt compile`` against an empty database gives only the first. meshdiff compiles the project's
incremental models a second time against a DuckDB file in which each of them already exists as a
table, so dbt's own ``is_incremental()`` (the relation exists, is a table, the model is
incremental, no full refresh is configured) is true, and keeps that SQL in the manifest it caches
next to each model (:data:`~analysis.dbt.manifest.INCREMENTAL_CODE`), or why it could not be made
(:data:`~analysis.dbt.manifest.INCREMENTAL_ERROR`: the render is then unknown, never assumed equal).

The DuckDB file is made by meshdiff itself, fresh, before the sandboxed run (nothing the PR wrote
is opened by the trusted process); only ``--select path:<file>`` of the incremental models is compiled.
"""
from __future__ import annotations

import os

from analysis.dbt.manifest import INCREMENTAL_CODE, INCREMENTAL_ERROR

#: the database name of meshdiff's DuckDB file (``mesh.duckdb``): what ``{{ this }}`` renders in
DATABASE = "mesh"


def incremental_models(manifest: dict, project: str) -> list[dict]:
    """The project's own enabled incremental models (raw manifest nodes), in a stable order."""
    out = []
    for node in (manifest.get("nodes") or {}).values():
        if not isinstance(node, dict) or node.get("resource_type") != "model" or node.get("package_name") != project:
            continue
        config = node.get("config") or {}
        if config.get("materialized") == "incremental" and config.get("enabled", True) is not False:
            out.append(node)
    return sorted(out, key=lambda n: str(n.get("unique_id")))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def prepare_database(path: str, nodes: list[dict]) -> dict[str, str]:
    """Create the DuckDB file ``path`` with one (placeholder) table per node's relation; the
    nodes whose relation cannot be made there, with why."""
    import duckdb

    errors: dict[str, str] = {}
    con = duckdb.connect(path)
    try:
        for node in nodes:
            uid = str(node.get("unique_id"))
            database, schema = str(node.get("database") or DATABASE), node.get("schema")
            alias = node.get("alias") or node.get("name")
            if database.lower() != DATABASE or not schema or not alias:
                errors[uid] = (f"its relation is in database `{database}`, not in the DuckDB database meshdiff "
                               f"compiles against, so dbt's is_incremental() cannot be made true")
                continue
            con.execute(f"create schema if not exists {_quote(str(schema))}")
            con.execute(f"create table if not exists {_quote(str(schema))}.{_quote(str(alias))} "
                        f"(meshdiff_placeholder integer)")
    finally:
        con.close()
    return errors


def selectors(nodes: list[dict]) -> list[str]:
    """dbt ``--select`` arguments naming exactly these models (by file)."""
    return ["--select", *sorted({f"path:{n['original_file_path']}" for n in nodes if n.get("original_file_path")})]


def add_renders(manifest: dict, nodes: list[dict], second: dict | None, errors: dict[str, str],
                failure: str | None) -> None:
    """Write each node's second render (from the manifest of the second compile ``second``), or
    why there is none, into ``manifest``'s nodes."""
    rendered = (second or {}).get("nodes") or {}
    for node in nodes:
        uid = node["unique_id"]
        target = manifest["nodes"][uid]
        other = rendered.get(uid) or {}
        if uid in errors:
            target[INCREMENTAL_ERROR] = errors[uid]
        elif failure is not None:
            target[INCREMENTAL_ERROR] = failure
        elif isinstance(other.get("compiled_code"), str):
            target[INCREMENTAL_CODE] = other["compiled_code"]
        else:
            target[INCREMENTAL_ERROR] = "the second compile (is_incremental() true) left no SQL for it"


def database_path(out: str) -> str:
    """Where the second compile's DuckDB file lives (its own folder of ``out``)."""
    return os.path.join(out, "incremental", f"{DATABASE}.duckdb")
