"""Column lineage: of one model from its compiled SQL, and of a whole mesh, cached by content.

Input: the nodes of a mesh (:class:`analysis.dbt.Node`: compiled SQL, declared columns,
relation names), an upstream-first order, each project's sqlglot dialect, and optionally a
catalog's column types. Output: a :class:`MeshLineage`: every node's output schema and every
model's :class:`ModelLineage` (which upstream columns each output column is computed from,
what decides its rows, canonical fingerprints to tell a rename from a change), decoded on
demand, and who reads each node.

One model (:func:`model_lineage`, :func:`analyse`), in one pass:

- ``relations``: which node a table in compiled SQL reads (:class:`TableResolver`);
- ``trace``: parse once, bind tables, qualify once, walk the scopes, annotate types;
- ``scopes``: what each scope of the query outputs, innermost first;
- ``resolve``: what a column reference resolves to (``sources``: the sources of a scope and
  their columns; ``canonical``: the canonical text of expressions; ``resolved``: the plain
  data they exchange);
- ``columns``: the plain data (:class:`ColumnRef`, :class:`Upstream`, :class:`ModelLineage`);
- ``selectlist``: the names the outermost select list outputs, without lineage (:func:`output_names`);
- ``spelling``: a column's name as the warehouse spells it, for reports (:func:`respell_report`);
- ``dialects``: the sqlglot dialects a project can be parsed with (:func:`check_dialect`).

A mesh (:func:`mesh_lineage`), upstream first, doing only what changed:

- ``meshlineage``: the walk over the nodes, and the lazily decoded result;
- ``meshkeys``: each node's own key and each project's pack address;
- ``noderecords``: one node's record, found in the cache or traced;
- ``schema``: the output columns of seeds, sources and models without a warehouse;
- ``cache``: the content-addressed cache (:class:`LineageCache`): keys, records, files;
- ``packs``: one file of records per project.
"""
from analysis.exports import public_names

__all__, __getattr__, __dir__ = public_names(__name__, {
    "cache": ["LineageCache"],
    "columns": ["ColumnRef", "ModelLineage", "Upstream"],
    "dialects": ["check_dialect", "known_dialects"],
    "meshlineage": ["LineageStats", "MeshLineage", "mesh_lineage"],
    "relations": ["TableResolver", "split_relation"],
    "selectlist": ["output_names"],
    "spelling": ["Spelling", "Spellings", "respell_report"],
    "trace": ["Analysis", "analyse", "model_lineage"],
})
