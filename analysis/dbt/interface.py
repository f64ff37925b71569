"""What a consumer's compile can see of an upstream project: the *interface* of its manifest.

During a compile, the only reader of an upstream project's manifest is dbt-loom. It takes
``metadata.project_name`` and, of every node in ``nodes`` but tests and macros, the fields of
its ``ManifestNode`` (:data:`FIELDS`): name, package, unique id and resource type; database,
schema and relation name (the identifier dbt renders a ``ref`` to); version and
``latest_version`` (what an unpinned ``ref`` picks); deprecation date; access and group
(whether the ref is allowed); the non-source nodes it depends on; ``enabled``; and from its
``config`` only ``event_time``. It injects exactly that into the consumer's manifest, where
Jinja sees it (``ref``, ``graph.nodes``). Nothing else of the upstream manifest reaches the
consumer: compiled SQL, descriptions, columns, tests, sources and the upstream's own files do
not.

So two upstream manifests with the same :func:`interface_digest` make byte-identical inputs
for a consumer's compile, and :mod:`analysis.dbt.compile` keys a consumer by the interfaces
of its upstream compiles, not by their content: a downstream project compiled against the
base is *reused* for the head whenever the PR changes no relation name, version,
``latest_version``, access, group, dependency or node existence of the changed project (the
common PR: an expression in a model). Anything dbt-loom injects that differs gives another
key, and the consumer is compiled again.

dbt-loom's normalisation is mirrored: a missing ``access`` is ``config.access`` or
``protected``; versions are strings; the resource type is the unique id's prefix.
``generated_at`` is left out: dbt-loom stamps it with the time of the load, not from the file.
"""
from __future__ import annotations

import hashlib
import json

INTERFACE_VERSION = "1"

#: ``dbt_loom.manifests.ManifestNode``'s fields as the manifest names them (a test checks the
#: list against the installed dbt-loom), without ``generated_at`` (not read from the manifest)
FIELDS = ("name", "package_name", "unique_id", "resource_type", "schema", "database", "relation_name", "version",
          "latest_version", "deprecation_date", "access", "group", "depends_on", "enabled", "config")


def interface_digest(manifest: dict) -> str:
    """Hash of what dbt-loom injects into a consumer from ``manifest`` (see the module docstring)."""
    meta = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
    rows = interface_rows(manifest)
    blob = json.dumps([INTERFACE_VERSION, meta.get("project_name"), rows], sort_keys=True, separators=(",", ":"),
                      default=str)
    return "interface:" + hashlib.sha256(blob.encode()).hexdigest()


def interface_rows(manifest: dict) -> list[list]:
    """One row per node dbt-loom injects: ``[unique_id, {field: value}]``, sorted by unique id."""
    nodes = manifest.get("nodes") if isinstance(manifest.get("nodes"), dict) else {}
    rows = []
    for unique_id, node in nodes.items():
        prefix = str(unique_id).split(".")[0]
        if prefix in ("test", "macro") or not node:
            continue
        rows.append([str(unique_id), _row(str(unique_id), prefix, node)])
    rows.sort(key=lambda r: r[0])
    return rows


def _row(unique_id: str, prefix: str, node: dict) -> dict:
    config = node.get("config") if isinstance(node.get("config"), dict) else {}
    access = node.get("access")
    if access is None:
        access = config.get("access", "protected")
    depends = node.get("depends_on") if isinstance(node.get("depends_on"), dict) else {}
    row = {key: node.get(key) for key in FIELDS if key not in ("depends_on", "config")}
    row.update(
        unique_id=unique_id,
        resource_type=prefix,  # dbt-loom rewrites it from the unique id
        access=access,
        version=str(node["version"]) if node.get("version") else None,
        latest_version=str(node["latest_version"]) if node.get("latest_version") else None,
        enabled=node.get("enabled", True),
        depends_on=sorted(str(n) for n in depends.get("nodes") or () if str(n).split(".")[0] != "source"),
        event_time=config.get("event_time"),
    )
    return row
