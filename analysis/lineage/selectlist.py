"""The names a query outputs, read from its outermost select list alone.

When a model's lineage is unknown (a table sqlglot cannot resolve, a time-out while qualifying),
its output column names may still be readable: the outermost ``SELECT`` of the parsed SQL, when
every projection has a name and none is a ``*``. Each name comes with the text of its expression
(so a column under a new name with the same expression reads as a rename). ``None`` whenever
that cannot be read for sure: the SQL does not parse, is not one query, or selects a star.
"""
from __future__ import annotations

import sqlglot
from sqlglot import exp

from analysis import errors


def output_names(sql: str | None, dialect: str) -> dict[str, str] | None:
    """Lower-cased output name -> the canonical text of its expression, or ``None``."""
    if not sql:
        return None
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except errors.INTERRUPTS:
        raise
    except Exception:  # noqa: BLE001 - unreadable SQL: no names, the caller stays unknown
        return None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        return None
    query = statements[0]
    while isinstance(query, exp.Subquery):
        query = query.this
    while isinstance(query, exp.SetOperation):
        query = query.this  # a union's names are those of its first branch
    if not isinstance(query, exp.Select):
        return None
    out: dict[str, str] = {}
    for projection in query.expressions:
        if isinstance(projection, exp.Star) or projection.find(exp.Star) is not None and not _counts(projection):
            return None
        if not isinstance(projection, (exp.Alias, exp.Column)):
            return None  # an unnamed expression: its name is the warehouse's choice
        name = projection.alias_or_name
        if not name:
            return None
        body = projection.this if isinstance(projection, exp.Alias) else projection
        out[name.lower()] = body.sql(dialect=dialect, normalize=True)
    return out


def _counts(projection: exp.Expression) -> bool:
    """A ``*`` only inside ``count(*)`` names no column."""
    return all(isinstance(star.parent, exp.Count) for star in projection.find_all(exp.Star))
