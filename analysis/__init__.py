"""The pure core of meshdiff: dbt projects in, an impact report out. No GitHub, Flask or Celery.

One analysis (:func:`analysis.pipeline.analyze`) goes through one subpackage per stage::

    pipeline.py   the entry point: reads top to bottom like the table of contents
    dbt/          compile each project (sandboxed) and read what dbt wrote: manifests, catalogs
    lineage/      column lineage of one model (sqlglot) and of a whole mesh, cached by content
    impact/       what changed in the PR's project, whom it reaches, and the verdict (policy)
    store/        the cache folder: atomic files, a size budget, the collector kept off

and shares three modules: :mod:`analysis.errors` (the one exception, and interrupts),
:mod:`analysis.report` (the report's dataclasses and JSON), :mod:`analysis.mesh` (which
projects, in which order, and the graph of all their nodes).

Dependencies point one way: ``pipeline -> impact -> lineage -> dbt, store``. Code outside a
subpackage uses the names its ``__init__`` exports (:mod:`analysis.exports`), never its
modules; ``tests/test_layout.py`` checks both.
"""
