"""LEFT JOINs that keep their left side's rows as they are, and the keys a SELECT is unique on.

In ``A LEFT JOIN B ON A.k = B.k`` where B is unique on ``k``, every row of A comes out exactly
once: the join only decides which row of B (or none) each row of A gets. So the ON columns (of
either side) and the columns that decide B's own rows (B a CTE with a WHERE, say) change B's
columns in the output, never A's columns nor how many rows come out. :func:`kept_join` says
when a join is such a join; :mod:`analysis.lineage.scopes` then makes those columns upstreams
of every column read from B (:attr:`~analysis.lineage.resolve.Resolver.joined`), instead of
row shaping of the whole SELECT. A WHERE, GROUP BY or DISTINCT over B's columns still shapes
rows, through B's columns.

B is unique on a set of columns (a *key*) when it is proven:

- a mesh table: the keys its project declares (``unique`` / ``unique_combination_of_columns``
  tests, ``primary_key`` / ``unique`` constraints: :mod:`analysis.dbt.uniqueness`);
- an inner SELECT (:func:`select_keys`): its GROUP BY keys when all are output columns,
  its output columns under DISTINCT, any key under an aggregate without GROUP BY (one row),
  else the keys of its one source (a FROM with only such kept LEFT JOINs) that it outputs
  as they are (a WHERE, QUALIFY or LIMIT keeps a key unique).

The ON must equate every column of one key of B to an expression that reads no column of B
(other conjuncts only narrow the match: still at most one row). Anything else is not proven
and keeps the conservative answer: the ON columns shape every row.
"""
from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from analysis.lineage.resolved import SHAPE, Acc, Col

#: a SELECT's keys: sets of output names it is unique on (the empty set: at most one row)
Keys = tuple[frozenset[str], ...]


def source_keys(r, source) -> Keys:
    """The keys a source of a scope is proven unique on, in its own column names."""
    if isinstance(source, Scope):
        return r.info(source).keys
    node = r.node_of(source)
    if node is None:
        return ()
    alias = source.args.get("alias")
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return ()  # FROM t AS x(a, b): renamed columns; not worth the mapping
    return tuple(frozenset(k) for k in r.unique.get(node, ()))


def kept_join(r, scope: Scope, join: exp.Join):
    """The joined source of ``join`` when it is a LEFT JOIN on a proven key of it (module
    docstring), else ``None``."""
    if (join.side or "").upper() != "LEFT" or (join.kind or "").upper() not in ("", "OUTER") \
            or join.args.get("method") or join.args.get("using"):
        return None
    on = join.args.get("on")
    alias = join.alias_or_name
    entry = scope.selected_sources.get(alias)
    if on is None or entry is None:
        return None
    source = entry[1]
    keys = source_keys(r, source)
    if not keys:
        return None
    equated: set[str] = set()
    for conjunct in on.flatten() if isinstance(on, exp.And) else [on]:
        while isinstance(conjunct, exp.Paren):
            conjunct = conjunct.this
        if not isinstance(conjunct, exp.EQ):
            continue
        for mine, other in ((conjunct.this, conjunct.expression), (conjunct.expression, conjunct.this)):
            if isinstance(mine, exp.Column) and mine.table == alias and _other_side(other, alias):
                equated.add(mine.name.lower())
    return source if any(key <= equated for key in keys) else None


def _other_side(expr: exp.Expression, alias: str) -> bool:
    """Whether ``expr`` surely reads no column of ``alias`` (every column qualified by another)."""
    return all(c.table and c.table != alias for c in expr.find_all(exp.Column))


def select_keys(r, scope: Scope, cols: dict[str, Col], kept: int, star: str | None = None) -> Keys:
    """The keys a SELECT is proven unique on (module docstring). ``kept``: how many of its joins
    are kept LEFT JOINs; ``star``: why its column list is incomplete (a DISTINCT then compares
    columns not listed: no key)."""
    sel: exp.Select = scope.expression
    if scope.pivots or any(isinstance(p.unalias(), (exp.Unnest, exp.Explode)) for p in sel.selects):
        return ()
    by_canon: dict[str, str] = {}
    for name, col in cols.items():
        if not col.unknown:
            by_canon.setdefault(col.canon, name)
    group = sel.args.get("group")
    distinct = sel.args.get("distinct")
    if group is not None:
        if group.args.get("all") or group.args.get("rollup") or group.args.get("cube") \
                or group.args.get("grouping_sets"):
            return ()
        return _named(r, scope, group.expressions, by_canon)
    if distinct is not None:
        if distinct.args.get("on") is not None:
            return _named(r, scope, distinct.args["on"].expressions, by_canon)
        return (frozenset(cols),) if not star and all(not c.unknown for c in cols.values()) else ()
    if any(_aggregates(p.unalias()) for p in sel.selects):
        return (frozenset(),)
    joins = sel.args.get("joins") or []
    from_ = sel.args.get("from_") or sel.args.get("from")
    if len(joins) != kept or from_ is None:
        return ()
    entry = scope.selected_sources.get(from_.this.alias_or_name)
    if entry is None:
        return ()
    source = entry[1]
    out = []
    for key in source_keys(r, source):
        names = [by_canon.get(r.source_column(source, k, scope).canon) for k in key]
        if all(names):
            out.append(frozenset(names))
    return tuple(out)


def _named(r, scope: Scope, exprs, by_canon: dict[str, str]) -> Keys:
    names = [by_canon.get(r.ser(e, scope, Acc(), SHAPE)) for e in exprs]
    return (frozenset(names),) if names and all(names) else ()


def _aggregates(expr: exp.Expression) -> bool:
    return any(isinstance(n, exp.AggFunc) for n in expr.walk(prune=lambda n: isinstance(n, (exp.Window, exp.Query))))
