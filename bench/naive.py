"""The naive column lineage we benchmark against: ``sqlglot.lineage.lineage`` once per column.

Same inputs as :func:`analysis.lineage.trace.model_lineage` (tables are bound to nodes the same
way, so both see the same schema), but every output column re-parses and re-qualifies the
SQL and walks its own lineage graph. Only upstream sets are returned (no kinds, no row
shaping, no fingerprints). Not used by the product.
"""
from __future__ import annotations

from collections.abc import Mapping

import sqlglot
from sqlglot import exp
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from analysis.lineage import ColumnRef
from analysis.lineage.trace import _bind  # noqa: PLC2701 - same binding, for a fair comparison
from analysis.lineage import TableResolver


def naive_lineage(sql: str, dialect: str, tables: TableResolver,
                  schemas: Mapping[str, Mapping[str, str | None]], *, batch: bool = False) -> dict[str, set[ColumnRef]]:
    """Output column -> upstream columns, via ``sqlglot.lineage.lineage``.

    ``batch=False`` (the naive way): one ``lineage(column, sql)`` call per column, each
    parsing and qualifying the SQL again. ``batch=True``: sqlglot's all-columns mode
    (``lineage(None, ...)``, one qualify, shared cache), for reference.
    """
    tree = sqlglot.parse_one(sql, read=dialect)
    bindings, mapping, _ = _bind(tree, tables, schemas, [], dialect)
    bound_sql = tree.sql(dialect=dialect)
    schema = MappingSchema(mapping, dialect=dialect)
    names = [s.alias_or_name for s in qualify(tree.copy(), dialect=dialect, schema=schema,
                                              validate_qualify_columns=False, identify=False).selects]
    if batch:
        graphs = lineage(None, bound_sql, schema=schema, dialect=dialect)
    else:
        graphs = {name: lineage(name, bound_sql, schema=schema, dialect=dialect) for name in names}
    out: dict[str, set[ColumnRef]] = {}
    for name, root in graphs.items():
        refs: set[ColumnRef] = set()
        for node in root.walk():
            if node.downstream or not isinstance(node.source, exp.Table):
                continue
            node_id = bindings.get(node.source.name.lower())
            if node_id:
                refs.add(ColumnRef(node_id, node.name.split(".")[-1].lower()))
        out[name.lower()] = refs
    return out
