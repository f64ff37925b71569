"""Recce's side of ``bench.recce``: run with *Recce's* Python (a separate virtualenv), never ours.

meshdiff does not depend on Recce: this file imports only the standard library and Recce
(PyPI ``recce``, with dbt-core and dbt-duckdb), and is run as a script by :mod:`bench.versus_recce`::

    RECCE_PY bench/recce_side.py bare MANIFEST CATALOG OUT.json
    RECCE_PY bench/recce_side.py adapter PROJECT_DIR TARGET_DIR OUT.json

``bare``: ``recce.util.cll.cll(compiled_sql, schema, dialect)`` for every model and snapshot of
the manifest, the schema built from the catalog as Recce builds it for pre-compiled SQL
(each parent's alias or identifier -> its catalog columns); no cache, no dbt objects.
``adapter``: what Recce itself does in process: ``DbtAdapter.load`` on the project (reading
``TARGET_DIR``'s manifest and catalog), then ``get_cll_cached(node_id)`` for each model and
snapshot (its memo is per process: each node is computed once).

Both write ``{"seconds", "nodes", "errors", "rss_mb", "columns": {"<node>.<col>":
["<parent node>.<col>", ...]}}`` (the lineage answers, compared with meshdiff's by the bench).
"""
from __future__ import annotations

import json
import resource
import sys
import time


def _sql_nodes(manifest: dict) -> list[str]:
    return [k for k, n in manifest["nodes"].items()
            if n.get("resource_type") in ("model", "snapshot") and n.get("compiled_code")]


def _table_name(manifest: dict, parent: str) -> str | None:
    node = manifest["nodes"].get(parent)
    if node is not None:
        return node.get("alias") or node.get("name")
    source = manifest["sources"].get(parent)
    if source is not None:
        return source.get("identifier") or source.get("name")
    return None


def bare(manifest_path: str, catalog_path: str) -> dict:
    from recce.util.cll import cll

    with open(manifest_path, encoding="utf-8") as handle:
        manifest = json.load(handle)
    with open(catalog_path, encoding="utf-8") as handle:
        catalog = json.load(handle)
    entries = {**catalog.get("nodes", {}), **catalog.get("sources", {})}
    dialect = manifest.get("metadata", {}).get("adapter_type")
    ids = _sql_nodes(manifest)
    columns: dict[str, list[str]] = {}
    errors = 0
    start = time.perf_counter()
    for node_id in ids:
        node = manifest["nodes"][node_id]
        schema, table_ids = {}, {}
        for parent in dict.fromkeys(node.get("depends_on", {}).get("nodes", [])):
            name = _table_name(manifest, parent)
            if name is None:
                continue
            table_ids[name.lower()] = parent
            entry = entries.get(parent)
            schema[name] = {c: v.get("type") for c, v in (entry or {}).get("columns", {}).items()}
        try:
            _, c2c = cll(node["compiled_code"], schema=schema, dialect=dialect)
        except Exception:  # noqa: BLE001 - Recce itself turns any failure into "unknown"
            errors += 1
            continue
        for name, col in c2c.items():
            columns[f"{node_id}.{name.lower()}"] = sorted(
                f"{table_ids.get(d.node.lower(), d.node)}.{d.column.lower()}" for d in col.depends_on)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "nodes": len(ids), "errors": errors, "columns": columns}


def adapter(project_dir: str, target_dir: str) -> dict:
    from recce.adapter.dbt_adapter import DbtAdapter

    load_start = time.perf_counter()
    dbt = DbtAdapter.load(project_dir=project_dir, profiles_dir=project_dir, target_path=target_dir,
                          target_base_path=target_dir)
    load_s = time.perf_counter() - load_start
    manifest = dbt.manifest
    ids = [k for k, n in manifest.nodes.items()
           if n.resource_type in ("model", "snapshot") and getattr(n, "compiled_code", None)]
    columns: dict[str, list[str]] = {}
    errors = 0
    start = time.perf_counter()
    for node_id in ids:
        data = dbt.get_cll_cached(node_id)
        if data is None:
            errors += 1
            continue
        deps = list(manifest.nodes[node_id].depends_on.nodes)
        for column_id, parents in data.parent_map.items():
            if column_id == node_id or not column_id.startswith(node_id + "_"):
                continue
            name = column_id[len(node_id) + 1:]
            columns[f"{node_id}.{name.lower()}"] = sorted(_dotted(p, deps).lower() for p in parents)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "load_s": load_s, "nodes": len(ids), "errors": errors, "columns": columns}


def _dotted(column_id: str, parents: list[str]) -> str:
    """Recce's ``<node id>_<column>`` as ``<node id>.<column>``: the node is the longest of the
    model's parents that prefixes the id (names and columns both hold ``_``)."""
    best = max((p for p in parents if column_id.startswith(p + "_")), key=len, default=None)
    if best is None:
        return column_id
    return f"{best}.{column_id[len(best) + 1:]}"


def main() -> None:
    mode, a, b, out = sys.argv[1:5]
    result = bare(a, b) if mode == "bare" else adapter(a, b)
    result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
