"""Running dbt and reading what it wrote.

Input: a dbt project folder (and the manifests of the projects it reads). Output: a
:class:`CompileResult` per compile (the manifest's path, or dbt's error), and the manifest
read into a :class:`Project` of :class:`Node` s (through a compact snapshot, so each manifest
is parsed once). Also the column types of a ``catalog.json`` (``--catalog``).

- ``project``: what meshdiff reads of a project itself (:func:`read_project`:
  ``dbt_project.yml``, its dbt-loom config, its packages); ``upstreams``: the project each
  dbt-loom entry or ``dependencies.yml`` project names (:func:`bind_by_folder`);
- ``compile``: one project compiled against the manifests meshdiff produced, cached by content
  (:func:`compile_project`); ``profile`` (the embedded DuckDB profile, :func:`check_target`),
  ``loom`` (the dbt-loom config it writes), ``deps`` (packages), ``invoke`` (one dbt run),
  ``sandbox`` and ``fence`` (the bubblewrap sandbox around it: :class:`SandboxConfig`, and
  :func:`probe`, whether it works on this host; ``launch``: one command run fenced in, with
  ``limits``), ``paths`` (reading untrusted trees safely);
- ``envvars``: the ``env:``/``vars:`` a compile gets (:func:`env_problem`, :func:`vars_problem`);
- ``manifest``: ``manifest.json`` (v12) -> :class:`Project` (``datatests``: data and unit
  tests with the columns they read; ``scd``: a snapshot's meta columns);
- ``snapshot``: the compact copy of a parsed manifest (:class:`ProjectLoader`);
- ``nodes``: the plain data of a project's nodes;
- ``catalog``: ``catalog.json`` -> column types by node (:func:`read_catalogs`);
- ``interface``: what dbt-loom shows a consumer of a manifest (:func:`interface_digest`: the
  compile key of a consumer holds it, so an unchanged interface reuses the consumer's compile);
- ``schedule``: the compiles of an analysis as a graph on both cores (:func:`compile_worlds`,
  :func:`run_graph`);
- ``partialparse``: the head compile starts from the base compile's dbt parse state;
  ``prepare`` and ``prestart``: a downstream compile made ready, and its dbt started, while the
  compiles it reads still run (:func:`ahead_of`, :class:`Prestarts`).
"""
from analysis.exports import public_names

__all__, __getattr__, __dir__ = public_names(__name__, {
    "catalog": ["read_catalogs"],
    "compile": ["CompileResult", "compile_project"],
    "envvars": ["env_problem", "plain_vars", "vars_problem"],
    "interface": ["interface_digest"],
    "manifest": ["handle", "load_manifest", "parse_manifest"],
    "partialparse": ["partial_parsing"],
    "paths": ["read_inside", "same_content"],
    "prepare": ["ahead_of"],
    "prestart": ["Prestarts"],
    "nodes": ["DataTest", "DeclaredColumn", "IMPACT_RESOURCE_TYPES", "Node", "Project", "SQL_RESOURCE_TYPES",
              "WAREHOUSE_MACROS", "dialect_for_adapter"],
    "profile": ["TARGET_RE", "check_target"],
    "project": ["DbtProjectFile", "read_project"],
    "sandbox": ["SandboxConfig", "SandboxError", "probe"],
    "schedule": ["Job", "Worlds", "compile_worlds", "run_graph", "serialized"],
    "snapshot": ["ProjectLoader", "snapshot_path"],
    "upstreams": ["bind_by_folder"],
})
