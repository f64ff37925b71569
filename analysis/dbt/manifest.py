"""Read a dbt ``manifest.json`` (v12) into :class:`analysis.dbt.nodes.Project`.

Pure except for :func:`load_manifest`, which reads the file. Injected dbt-loom nodes
(skeletons with no file, no columns and a checksum that changes on every run) are kept
with ``injected=True`` so the mesh can take their definition from the producer's manifest.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

from analysis.dbt.paths import location_file, seed_file
from analysis.errors import AnalysisError
from analysis.dbt import scd, uniqueness
from analysis.dbt.nodes import DataTest, DeclaredColumn, Node, Project
from analysis.dbt.datatests import data_test, unit_test

_NODE_TYPES = {"model", "seed", "snapshot", "analysis"}
#: keys meshdiff adds to an incremental model's node in the manifests it caches: the SQL of its
#: second render (``is_incremental()`` true), or why there is none (:mod:`analysis.dbt.renders`)
INCREMENTAL_CODE = "meshdiff_incremental_code"
INCREMENTAL_ERROR = "meshdiff_incremental_error"
#: config keys that change what a model produces (compared by the diff)
_CONFIG_KEYS = (
    "materialized", "incremental_strategy", "unique_key", "on_schema_change", "enabled",
    "database", "schema", "alias", "full_refresh", "sql_header", "pre-hook", "post-hook",
    # snapshots: what decides their versions and meta columns
    "strategy", "updated_at", "check_cols", "hard_deletes", "invalidate_hard_deletes", "snapshot_meta_column_names",
)


def load_manifest(path: str, *, project_dir: str = "") -> Project:
    """Load ``path`` into a :class:`Project`; a clear :class:`AnalysisError` when it is not one."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise AnalysisError(
            f"no manifest at {path}",
            hint="the dbt compile step did not produce target/manifest.json; see the dbt output above",
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnalysisError(
            f"{path} is not valid JSON ({exc})",
            hint="the manifest is damaged; delete the target directory and compile again",
        ) from None
    return parse_manifest(data, source=path, project_dir=project_dir)


def parse_manifest(data: Any, *, source: str = "manifest.json", project_dir: str = "") -> Project:
    """Turn a manifest dict into a :class:`Project` (no I/O)."""
    if not isinstance(data, dict) or not isinstance(data.get("metadata"), dict):
        raise AnalysisError(
            f"{source} is not a dbt manifest (no `metadata` object)",
            hint="pass the target/manifest.json written by `dbt compile` or `dbt parse`",
        )
    meta = data["metadata"]
    name = meta.get("project_name")
    if not name:
        raise AnalysisError(
            f"{source} has no metadata.project_name",
            hint="manifests from dbt-core >= 1.6 carry it; upgrade dbt or recompile",
        )
    raw_groups = [g for g in (data.get("groups") or {}).values() if isinstance(g, dict)]
    groups = {g.get("name"): _owner_strings(g.get("owner") or {}) for g in raw_groups}
    group_handles = {g.get("name"): owner_handles(g.get("owner")) for g in raw_groups}
    nodes: dict[str, Node] = {}
    for raw in (data.get("nodes") or {}).values():
        if isinstance(raw, dict) and raw.get("resource_type") in _NODE_TYPES:
            node = _node(raw, groups, project_dir)
            node.handles = _handles(raw, group_handles)
            nodes[node.unique_id] = node
    for raw in (data.get("sources") or {}).values():
        if isinstance(raw, dict):
            node = _source(raw, project_dir)
            nodes[node.unique_id] = node
    for key in ("exposures", "semantic_models", "metrics", "saved_queries"):
        for raw in (data.get(key) or {}).values():
            if isinstance(raw, dict):
                node = _consumer_node(raw, groups)
                node.handles = _handles(raw, group_handles)
                nodes[node.unique_id] = node
    tests: dict[str, DataTest] = {}
    for raw in (data.get("nodes") or {}).values():
        if isinstance(raw, dict) and raw.get("resource_type") == "test" and raw.get("package_name") == name:
            test = data_test(raw, nodes)
            test.owners, test.handles = _owners(raw, groups), _handles(raw, group_handles)
            tests[test.unique_id] = test
    uniqueness.attach(nodes, (raw for raw in (data.get("nodes") or {}).values()
                              if isinstance(raw, dict) and raw.get("resource_type") == "test"))
    for raw in (data.get("unit_tests") or {}).values():
        if isinstance(raw, dict) and raw.get("package_name") == name:
            test = unit_test(raw, nodes)
            tests[test.unique_id] = test
    return Project(
        name=name,
        adapter_type=meta.get("adapter_type") or "duckdb",
        nodes=nodes,
        groups=groups,
        project_dir=project_dir,
        manifest_path=source,
        tests=tests,
    )


def _owner_strings(owner: dict) -> tuple[str, ...]:
    name, email = owner.get("name"), owner.get("email")
    if isinstance(email, list):
        email = ", ".join(str(e) for e in email)
    if name and email:
        return (f"{name} <{email}>",)
    return tuple(str(x) for x in (name or email,) if x)


#: a GitHub user (``@octocat``) or team (``@octo-org/finance``) as GitHub spells them
_HANDLE_RE = re.compile(r"^@[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}(?:/[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?$")


def handle(value: Any) -> str | None:
    """``@user`` or ``@org/team`` when ``value`` is a valid GitHub handle (with or without its
    ``@``), else ``None``. Only handles that pass this check are ever mentioned."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    text = text if text.startswith("@") else f"@{text}"
    return text if _HANDLE_RE.match(text) else None


def owner_handles(owner: Any) -> tuple[str, ...]:
    """Handles of a group's (or exposure's) ``owner``: its ``github`` key, a string or a list."""
    if not isinstance(owner, dict):
        return ()
    raw = owner.get("github")
    values = raw if isinstance(raw, list) else [raw]
    return tuple(dict.fromkeys(h for h in map(handle, values) if h))


def _handles(raw: dict, group_handles: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """GitHub handles of a node's owners: its group owner's ``github`` key, an ``@``-prefixed
    ``meta.owner`` (string or list), an exposure owner's ``github`` key."""
    out: list[str] = []
    group = raw.get("group") or (raw.get("config") or {}).get("group")
    out.extend(group_handles.get(group, ()))
    for meta in (raw.get("meta") or {}, (raw.get("config") or {}).get("meta") or {}):
        owner = meta.get("owner")
        for value in owner if isinstance(owner, list) else [owner]:
            if isinstance(value, str) and value.strip().startswith("@") and (h := handle(value)):
                out.append(h)
    if raw.get("resource_type") == "exposure":
        out.extend(owner_handles(raw.get("owner")))
    return tuple(dict.fromkeys(out))


def _owners(raw: dict, groups: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    out: list[str] = []
    group = raw.get("group") or (raw.get("config") or {}).get("group")
    if group and group in groups:
        out.extend(groups[group])
    for meta in (raw.get("meta") or {}, (raw.get("config") or {}).get("meta") or {}):
        owner = meta.get("owner")
        if isinstance(owner, str):
            out.append(owner)
        elif isinstance(owner, list):
            out.extend(str(o) for o in owner)
    if raw.get("resource_type") == "exposure":
        out.extend(_owner_strings(raw.get("owner") or {}))
    return tuple(dict.fromkeys(o for o in out if o))


def _version(value: Any) -> str | None:
    """Versions are ints in producer manifests and strings in consumer (dbt-loom) ones."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _columns(raw: dict) -> dict[str, DeclaredColumn]:
    out: dict[str, DeclaredColumn] = {}
    for key, col in (raw.get("columns") or {}).items():
        if not isinstance(col, dict):
            continue
        name = col.get("name") or key
        out[name.lower()] = DeclaredColumn(
            name=name, data_type=col.get("data_type") or None, description=col.get("description") or "",
            constraints=constraints(col.get("constraints")),
        )
    return out


def constraint_text(raw: dict) -> str:
    """A dbt constraint as canonical JSON: what dbt compares to tell a removed constraint
    (its type, name, expression, referenced table and columns, and the columns it names)."""
    keys = ("type", "name", "expression", "to", "to_columns", "columns")
    value = {k: raw.get(k) for k in keys if raw.get(k) not in (None, [], "")}
    return json.dumps(value, sort_keys=True, default=str)


def constraints(raw: Any) -> tuple[str, ...]:
    """The constraints of a column or a model, in the order declared."""
    if not isinstance(raw, list):
        return ()
    return tuple(constraint_text(c) for c in raw if isinstance(c, dict) and c.get("type"))


def _docs_fingerprint(raw: dict) -> str:
    """Hash of what only documents a node: descriptions, meta, tags, docs config."""
    parts = {
        "description": raw.get("description") or "",
        "columns": {
            k: [c.get("description") or "", c.get("meta") or {}, c.get("tags") or []]
            for k, c in sorted((raw.get("columns") or {}).items())
            if isinstance(c, dict)
        },
        "meta": raw.get("meta") or {},
        "tags": sorted(raw.get("tags") or []),
        "docs": (raw.get("config") or {}).get("docs") or {},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _node(raw: dict, groups: dict[str, tuple[str, ...]], project_dir: str) -> Node:
    config = raw.get("config") or {}
    contract = raw.get("contract") or config.get("contract") or {}
    original = raw.get("original_file_path") or ""
    injected = raw.get("resource_type") != "seed" and not original and not raw.get("raw_code")
    seed_path = None
    if raw.get("resource_type") == "seed" and original and project_dir:
        # never a path the manifest chose outside the project, never through a link leaving it
        seed_path = seed_file(project_dir, original)
    compiled = raw.get("compiled_code")
    if raw.get("resource_type") == "snapshot" and compiled:
        compiled = scd.with_meta_columns(compiled, config)
    return Node(
        unique_id=raw["unique_id"],
        project=raw.get("package_name") or "",
        name=raw.get("name") or raw["unique_id"].split(".")[-1],
        resource_type=raw.get("resource_type") or "model",
        relation_name=raw.get("relation_name"),
        access=raw.get("access") or config.get("access"),
        group=raw.get("group") or config.get("group"),
        owners=_owners(raw, groups),
        version=_version(raw.get("version")),
        latest_version=_version(raw.get("latest_version")),
        deprecation_date=raw.get("deprecation_date") or None,
        contract_enforced=bool(contract.get("enforced")),
        columns=_columns(raw),
        compiled_sql=compiled,
        raw_sql=raw.get("raw_code"),
        materialized=config.get("materialized"),
        description=raw.get("description") or "",
        file_path=original or None,
        patch_path=(raw.get("patch_path") or "").split("://", 1)[-1] or None,
        depends_on=tuple((raw.get("depends_on") or {}).get("nodes") or ()),
        seed_path=seed_path,
        seed_column_types={k.lower(): v for k, v in (config.get("column_types") or {}).items()},
        config={k: config.get(k) for k in _CONFIG_KEYS if config.get(k) not in (None, [], {}, "")},
        injected=injected and raw.get("resource_type") in ("model", "seed", "snapshot"),
        docs_fingerprint=_docs_fingerprint(raw),
        checksum=str((raw.get("checksum") or {}).get("checksum") or ""),
        constraints=constraints(raw.get("constraints")),
        incremental_sql=raw.get(INCREMENTAL_CODE),
        incremental_error=raw.get(INCREMENTAL_ERROR),
    )


def _source(raw: dict, project_dir: str = "") -> Node:
    meta = raw.get("meta") or {}
    config_meta = (raw.get("config") or {}).get("meta") or {}
    location = raw.get("external_location") or meta.get("external_location") or config_meta.get(
        "external_location"
    )
    if isinstance(location, str) and "{" in location:
        # dbt-duckdb formats external_location with the source's attributes at compile time
        fields = {k: raw.get(k) for k in ("identifier", "name", "schema", "database", "source_name")}
        location = re.sub(r"\{(\w+)\}", lambda m: str(fields.get(m.group(1)) or m.group(0)), location)
    return Node(
        unique_id=raw["unique_id"],
        project=raw.get("package_name") or "",
        name=f"{raw.get('source_name')}.{raw.get('name')}",
        resource_type="source",
        relation_name=raw.get("relation_name"),
        owners=tuple(str(o) for o in (meta.get("owner"),) if o),
        columns=_columns(raw),
        description=raw.get("description") or "",
        file_path=raw.get("original_file_path") or None,
        external_location=location,
        location_path=location_file(project_dir, location) if isinstance(location, str) else None,
        docs_fingerprint=_docs_fingerprint(raw),
    )


def _consumer_node(raw: dict, groups: dict[str, tuple[str, ...]]) -> Node:
    """Exposures, semantic models, metrics, saved queries: read models, expose no SQL."""
    return Node(
        unique_id=raw["unique_id"],
        project=raw.get("package_name") or "",
        name=raw.get("name") or raw["unique_id"].split(".")[-1],
        resource_type=raw.get("resource_type") or raw["unique_id"].split(".")[0],
        group=raw.get("group"),
        owners=_owners(raw, groups),
        description=raw.get("description") or "",
        file_path=raw.get("original_file_path") or None,
        depends_on=tuple((raw.get("depends_on") or {}).get("nodes") or ()),
        docs_fingerprint=_docs_fingerprint(raw),
    )
