"""Both renders of an incremental model in the diff: which one changed, and which columns.

:func:`~analysis.impact.diff.diff_project` compares the full-refresh render (the SQL of the first
run). An incremental model runs another SQL on every later run: the one with ``{% if
is_incremental() %}`` blocks included (:mod:`analysis.dbt.renders`). :func:`add_incremental`
compares that render at base and head, with the same inputs on both sides (changes upstream are
propagated by the walk):

- the same SQL up to formatting and comments: unchanged;
- a ``select`` whose row shape (``from``, joins, ``where``, grouping, CTEs...) changed: every
  column may change; only some output expressions changed: those columns;
- anything else that differs (a ``union``, another column list), or a render missing on either
  side while the model's code changed: every column, or ``unknown`` when nothing can be compared.

Each finding names the render: "the incremental render (is_incremental() true) changed" beside
the full-refresh render's own reasons.
"""
from __future__ import annotations

import sqlglot
from sqlglot import exp

from analysis.dbt import Node
from analysis.impact.diff import ProjectDiff, _change, _WS, sql_changed
from analysis.report import ColumnChange

_REFORMATTED = "SQL reformatted: same columns, same expressions, same rows"
_FULL_ONLY_FORMAT = "the full-refresh render is only reformatted: same columns, same expressions, same rows"
RENDER = "the incremental render (the SQL dbt runs when is_incremental() is true, on every run after the first)"


def add_incremental(diff: ProjectDiff, base_nodes: dict[str, Node], head_nodes: dict[str, Node],
                    head_schemas: dict[str, dict], dialect: str) -> None:
    """Add the incremental renders' differences of the project's incremental models to ``diff``."""
    for uid in sorted(head_nodes):
        head, base = head_nodes[uid], base_nodes.get(uid)
        if base is None or head.materialized != "incremental" or base.materialized != "incremental":
            continue
        columns = [c for c in head_schemas.get(uid, {}) if c != "*"]
        found = _compare(base, head, dialect)
        change = next((c for c in diff.changes if c.node == uid), None)
        if found is None:
            if change is not None and sql_changed(base, head):
                change.reasons.append(f"only the full-refresh render changed; {RENDER} is the same")
            continue
        kind, changed, why = found
        changed = columns if changed is None else [c for c in changed if c in columns] or columns
        if kind == "unknown":
            reason = f"{RENDER} could not be compared: {why}"
            diff.unknown[uid] = reason
            seeds = {c: "unknown" for c in changed} or {"*": "unknown"}
        else:
            reason = f"{RENDER} changed: {why}" + (
                ": " + ", ".join(f"`{c}`" for c in changed) + " may change" if changed else "")
            seeds = {c: "modified" for c in changed} or {"*": "modified"}
        if change is None:
            prefix = "only the incremental render changed, the full-refresh render is the same; "
            change = _change(head, "partial", "modified", [prefix + reason])
            diff.changes.append(change)
            diff.changes.sort(key=lambda c: c.node)
        else:
            change.reasons = [_FULL_ONLY_FORMAT if r == _REFORMATTED else r for r in change.reasons] + [reason]
        if kind == "unknown":
            change.category = "unknown"
        elif change.category in ("metadata", "additive"):
            change.category = "partial"
        listed = {c.name for c in change.columns}
        change.columns += [ColumnChange(c, "modified") for c in changed if c not in listed]
        change.columns.sort(key=lambda c: c.name)
        into = diff.seeds.setdefault(uid, {})
        for name, what in seeds.items():
            if into.get(name) not in ("removed", "renamed", "retyped", "unknown"):
                into[name] = what


def _compare(base: Node, head: Node, dialect: str) -> tuple[str, list[str] | None, str] | None:
    """``None`` when the incremental renders are the same; else (``modified`` | ``unknown``, the
    changed columns (``None``: all), why)."""
    a, b = base.incremental_sql, head.incremental_sql
    if a is None or b is None:
        # the file's checksum too: the compact copy of a manifest keeps no raw SQL of a compiled model
        if base.checksum == head.checksum and base.raw_sql == head.raw_sql and not sql_changed(base, head):
            return None  # the model's code and its full-refresh render are the same
        missing = head.incremental_error or base.incremental_error or "it was not rendered"
        return "unknown", None, missing
    if a == b or _WS.sub(" ", a).strip() == _WS.sub(" ", b).strip():
        return None
    try:
        ta, tb = sqlglot.parse_one(a, read=dialect), sqlglot.parse_one(b, read=dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError) as exc:
        return "unknown", None, f"its SQL cannot be parsed ({str(exc).splitlines()[0][:200]})"
    if _text(ta, dialect) == _text(tb, dialect):
        return None  # reformatted, comments only
    if not (isinstance(ta, exp.Select) and isinstance(tb, exp.Select)):
        return "modified", None, "its SQL changed"
    ea, eb = _outputs(ta, dialect), _outputs(tb, dialect)
    if _shape(ta, dialect) != _shape(tb, dialect):
        return "modified", None, "which rows it adds or updates changed (filters, joins, grouping or sources)"
    if list(ea) != list(eb) or "*" in ea:
        return "modified", None, "its column list changed"
    return "modified", sorted(c for c in ea if ea[c] != eb[c]), "column expressions changed"


def _text(tree: exp.Expression, dialect: str) -> str:
    return tree.sql(dialect=dialect, comments=False)


def _outputs(select: exp.Select, dialect: str) -> dict[str, str]:
    out = {}
    for e in select.expressions:
        name = "*" if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)) \
            else e.alias_or_name.lower()
        out[name] = _text(e.unalias() if isinstance(e, exp.Alias) else e, dialect)
    return out


def _shape(select: exp.Select, dialect: str) -> str:
    copy = select.copy()
    copy.set("expressions", [exp.Star()])
    return _text(copy, dialect)
