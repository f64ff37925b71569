"""Plain data for the nodes of a dbt mesh.

Everything the analysis knows about a project comes from its ``manifest.json`` and is
turned into these frozen-ish dataclasses by :mod:`analysis.dbt.manifest`. Nothing here does
I/O. Column names are stored lower-cased (dbt and most warehouses treat unquoted
identifiers case-insensitively); the original spelling is kept in ``DeclaredColumn.name``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

#: resource types whose SQL we read to compute column lineage
SQL_RESOURCE_TYPES = frozenset({"model", "snapshot"})
#: resource types that are reported as impacted (tests and macros are not)
IMPACT_RESOURCE_TYPES = frozenset(
    {"model", "snapshot", "seed", "source", "exposure", "semantic_model", "metric", "saved_query"}
)
#: macro -> what it asks the warehouse for (:mod:`analysis.lineage.warehouse`: a model calling one is
#: marked; :mod:`analysis.dbt.snapshot` keeps the raw code of a model that may call one)
WAREHOUSE_MACROS = {
    "union_relations": "the columns of the relations it unions",
    "get_column_values": "the values of a column",
    "get_filtered_columns_in_relation": "the columns of a relation",
    "get_columns_in_relation": "the columns of a relation",
    "get_relations_by_pattern": "which relations exist",
    "get_relations_by_prefix": "which relations exist",
    "get_query_results_as_dict": "the results of a query",
    "get_single_value": "the result of a query",
    "unpivot": "the columns of a relation",
    "nullcheck_table": "the columns of a relation",
    "run_query": "the results of a query",
    "star": "the columns of a relation (to drop, prefix or suffix some)",
}


@dataclass(frozen=True)
class DeclaredColumn:
    """A column declared in YAML (``columns:``), possibly with a contract type."""

    name: str
    data_type: str | None = None
    description: str = ""
    #: its dbt constraints (``not_null``, ``unique``, ``primary_key``, ``check``, ``foreign_key``),
    #: each as canonical JSON (see :func:`analysis.dbt.manifest.constraint_text`)
    constraints: tuple[str, ...] = ()


@dataclass
class Node:
    """One node of one project (model, seed, snapshot, source, exposure, ...).

    ``project`` is the project that *owns* the node (its ``package_name``), even when the
    node was read from a consumer manifest into which dbt-loom injected it.
    """

    unique_id: str
    project: str
    name: str
    resource_type: str
    relation_name: str | None = None
    access: str | None = None
    group: str | None = None
    owners: tuple[str, ...] = ()
    #: GitHub handles (``@user``, ``@org/team``) of its owners, validated (see ``manifest.handle``)
    handles: tuple[str, ...] = ()
    version: str | None = None
    latest_version: str | None = None
    deprecation_date: str | None = None
    contract_enforced: bool = False
    columns: dict[str, DeclaredColumn] = field(default_factory=dict)
    compiled_sql: str | None = None
    raw_sql: str | None = None
    materialized: str | None = None
    description: str = ""
    file_path: str | None = None
    patch_path: str | None = None
    depends_on: tuple[str, ...] = ()
    #: absolute path of the seed CSV (seeds only)
    seed_path: str | None = None
    #: declared seed ``column_types`` (lower-cased names)
    seed_column_types: dict[str, str] = field(default_factory=dict)
    #: dbt-duckdb ``external_location`` of a source, as rendered (sources only)
    external_location: str | None = None
    #: absolute path of the one file inside the project that ``external_location`` reads
    #: (:func:`analysis.dbt.paths.location_file`; sources only)
    location_path: str | None = None
    #: config keys that change what a model produces (materialized, contract, ...), normalised
    config: dict = field(default_factory=dict)
    #: True when the node is a dbt-loom skeleton injected into a consumer manifest
    injected: bool = False
    #: unparsed content that identifies docs-only edits (descriptions, meta, tags)
    docs_fingerprint: str = ""
    #: dbt's file checksum (used for seeds, whose content has no SQL)
    checksum: str = ""
    #: model-level constraints, each as canonical JSON (with the columns they name)
    constraints: tuple[str, ...] = ()
    #: an incremental model's SQL as dbt renders it when ``is_incremental()`` is true (the second
    #: render, :mod:`analysis.dbt.renders`); ``None`` when there is no such render
    incremental_sql: str | None = None
    #: why the incremental render could not be made (it is then unknown)
    incremental_error: str | None = None
    #: column sets the node is declared unique on (``unique`` / ``unique_combination_of_columns``
    #: tests, ``primary_key`` / ``unique`` constraints; :mod:`analysis.dbt.uniqueness`), sorted
    unique_keys: tuple[tuple[str, ...], ...] = ()

    @property
    def label(self) -> str:
        """Short human name: ``project.name`` plus ``.vN`` for versioned models."""
        base = f"{self.project}.{self.name}"
        return f"{base}.v{self.version}" if self.version is not None else base

    @property
    def is_sql(self) -> bool:
        return self.resource_type in SQL_RESOURCE_TYPES


@dataclass
class DataTest:
    """A dbt data test (generic or singular) or unit test, and the columns it reads.

    ``reads`` holds ``(node id, column)`` pairs: the tested column of a generic test (and the
    columns its arguments name, e.g. ``relationships``' ``field``), the identifiers of a
    singular test's SQL against each node it refs, a unit test's ``given`` and ``expect``
    columns. ``reads_all`` lists nodes whose columns it may read without saying which (a
    fixture file, an SQL fixture): any change to them may make it fail.
    """

    unique_id: str
    project: str
    name: str
    #: ``test`` (a data test) or ``unit_test``
    resource_type: str
    #: the node a generic test is attached to, the model a unit test tests
    attached: str | None = None
    depends_on: tuple[str, ...] = ()
    reads: tuple[tuple[str, str], ...] = ()
    reads_all: tuple[str, ...] = ()
    #: ``not_null``, ``unique``, ``relationships``, ... (generic tests); ``singular``; ``unit``
    kind: str = ""
    file_path: str | None = None
    owners: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()


@dataclass
class Project:
    """One compiled dbt project: its nodes (own and injected) and where they came from."""

    name: str
    adapter_type: str
    nodes: dict[str, Node]
    #: group name -> owner strings ("Name <email>")
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: directory of the dbt project that was compiled
    project_dir: str = ""
    manifest_path: str = ""
    #: user-level dialect override (``None``: derive from ``adapter_type``)
    dialect: str | None = None
    #: content hash of the project's own nodes (set by :mod:`analysis.dbt.snapshot`); equal
    #: digests, equal nodes, whatever compile produced them
    digest: str | None = None
    #: the project's data tests and unit tests, by unique id
    tests: dict[str, DataTest] = field(default_factory=dict)

    def own_nodes(self) -> dict[str, Node]:
        """Nodes this project defines (not injected from upstream manifests)."""
        return {k: n for k, n in self.nodes.items() if n.project == self.name and not n.injected}

    @property
    def sql_dialect(self) -> str:
        return self.dialect or dialect_for_adapter(self.adapter_type)


_ADAPTER_DIALECTS = {
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "postgres": "postgres",
    "redshift": "redshift",
    "databricks": "databricks",
    "spark": "spark",
    "trino": "trino",
    "athena": "athena",
    "clickhouse": "clickhouse",
    "sqlserver": "tsql",
    "fabric": "tsql",
    "synapse": "tsql",
    "oracle": "oracle",
    "mysql": "mysql",
    "materialize": "postgres",
}


def dialect_for_adapter(adapter_type: str | None) -> str:
    """The sqlglot dialect for a dbt adapter type (``postgres`` when unknown)."""
    return _ADAPTER_DIALECTS.get((adapter_type or "").lower(), "postgres")
