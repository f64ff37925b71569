"""What each kind of scope outputs and what decides its rows, visited once, innermost first.

:func:`walk` visits the scopes of a qualified query (``Scope.traverse`` order: CTEs,
derived tables and subqueries before the scopes that read them) and keeps one
:class:`~analysis.lineage.resolve.ScopeInfo` per scope:

- SELECT: one column per projection (stars expanded from what is known, with
  EXCEPT/EXCLUDE, REPLACE and RENAME), row shaping from its clauses and from every scope it
  selects from, and a *shape*: the digest of its sources, joins and row-deciding clauses;
- set operations: column ``i`` from column ``i`` of each branch (``BY NAME``: by name);
  EXCEPT takes its values from the left branch only; UNION DISTINCT, INTERSECT and EXCEPT
  compare whole rows, so every branch column shapes rows;
- UNNEST, LATERAL, VALUES and table functions: columns derived from their arguments, which
  also decide how many rows come out.
"""
from __future__ import annotations

import time

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from analysis.lineage.columns import ColumnRef
from analysis.lineage.joins import kept_join, select_keys
from analysis.lineage.resolve import SHAPE, VALUE, Acc, Col, LineageTimeout, Resolver, ScopeInfo, cap, digest

_UDTF_PROJECTIONS = (exp.Explode, exp.Unnest, exp.Posexplode, exp.ExplodeOuter, exp.Inline)
_IGNORED_SELECT_ARGS = frozenset({
    "with_", "expressions", "hint", "into", "from_", "joins", "locks", "settings", "format",
    "options", "for_", "operation_modifiers", "exclude",
})


def _stop(node: exp.Expression) -> bool:
    return isinstance(node, (exp.Window, exp.Query))


def _has_agg(expr: exp.Expression) -> bool:
    return any(isinstance(n, exp.AggFunc) for n in expr.walk(prune=_stop))


def walk(r: Resolver, scopes: list[Scope]) -> ScopeInfo:
    """Visit ``scopes`` (innermost first, root last); return the root's info."""
    for scope in scopes:
        r.scope_of[id(scope.expression)] = scope
    for scope in scopes:
        if time.monotonic() > r.deadline:
            raise LineageTimeout()
        expr = scope.expression
        if isinstance(expr, exp.Select):
            info = _select(r, scope)
        elif isinstance(expr, exp.SetOperation):
            info = _set_operation(r, scope)
        else:
            info = _udtf(r, scope)
        r.infos[id(scope)] = info
    return r.infos[id(scopes[-1])]


def _projections(r: Resolver, scope: Scope, rs: set[ColumnRef],
                 carriers: list | None = None) -> tuple[dict[str, Col], list[str]]:
    """Output columns of a SELECT (duplicate names: :func:`_unique_columns`) and the reasons
    its column list is incomplete; what a projection adds to row shaping goes to ``rs``."""
    pairs: list[tuple[str, Col]] = []
    stars: list[str] = []
    using = scope.expression.meta.get("md_using") or set()
    for proj in scope.expression.selects:
        if isinstance(proj, exp.Star) or (isinstance(proj, exp.Column) and isinstance(proj.this, exp.Star)):
            pairs.extend(_expand_star(r, proj, scope, stars, carriers))
            continue
        if any(isinstance(n, exp.Columns) for n in proj.walk(prune=_stop)):
            stars.append(f"`{proj.sql(dialect=r.dialect)[:80]}`: COLUMNS(...) expands to columns not known here")
            continue
        name = proj.alias_or_name.lower()
        pairs.append((name, r.value(proj.unalias(), scope, rs, using, name)))
    return _unique_columns(pairs, r.dialect), stars


def dedupe_names(names: list[str]) -> list[str]:
    """Output names as DuckDB gives them when a query's result becomes a relation (a table or
    view, a CTE, a subquery): a repeated name (case-insensitively) gets ``_1``, ``_2``... — the
    first suffix not yet taken, counting per name (DuckDB's ``QueryResult::DeduplicateColumns``):
    ``id, id, id_1`` -> ``id, id_1, id_1_1``; ``a_1, a, a`` -> ``a_1, a, a_2``."""
    taken: dict[str, int] = {}
    out: list[str] = []
    for name in names:
        low = name.lower()
        if low not in taken:
            taken[low] = 1
            out.append(name)
            continue
        new = f"{name}_{taken[low]}"
        while new.lower() in taken:
            taken[low] += 1
            new = f"{name}_{taken[low]}"
        taken[new.lower()] = 1
        out.append(new)
    return out


def _unique_columns(pairs: list[tuple[str, Col]], dialect: str) -> dict[str, Col]:
    """Columns by name. DuckDB renames repeated names (:func:`dedupe_names`); other warehouses
    reject them in a table or view, or keep them and make a reference ambiguous, so there a
    repeated name is one column whose lineage is unknown (the model becomes ``partial``)."""
    names = [name for name, _ in pairs]
    if len(set(names)) == len(names):
        return dict(pairs)
    if dialect == "duckdb":
        return dict(zip(dedupe_names(names), (col for _, col in pairs), strict=True))
    cols: dict[str, Col] = {}
    for name, col in pairs:
        first = cols.get(name)
        if first is None:
            cols[name] = col
            continue
        why = (f"`{name}` is selected more than once: {dialect} rejects repeated column names in a table or "
               f"view (and makes a reference to them ambiguous); lineage of `{name}` unknown — give each "
               "column its own alias")
        cols[name] = Col({**first.refs, **{k: False for k in col.refs if k not in first.refs}},
                         cap(f"(dup {first.canon} {col.canon})"), why)
    return cols


def rename_duplicates(tree: exp.Expression, dialect: str) -> None:
    """Before ``qualify``: in DuckDB, alias repeated output names of every SELECT that has no
    star the way DuckDB renames them, so a reference from an outer query (``t.id_1``) resolves.
    (A SELECT with a star is renamed after its expansion, in :func:`_projections`.)"""
    if dialect != "duckdb":
        return
    for select in tree.find_all(exp.Select):
        projections = select.expressions
        names = [p.alias_or_name for p in projections]
        if any(p.is_star or not n for p, n in zip(projections, names, strict=True)) or \
                len({n.lower() for n in names}) == len(names):
            continue  # a star or an unnamed expression: renamed once expanded and named
        for i, (proj, old, new) in enumerate(zip(projections, names, dedupe_names(names), strict=True)):
            if new != old:
                projections[i] = exp.alias_(proj.unalias(), new)
        select.set("expressions", projections)


def _expand_star(r: Resolver, proj, scope: Scope, stars: list[str], carriers: list | None = None):
    """Yield (name, column) for a star ``qualify`` left unexpanded (a source with unknown
    columns): the known columns, honouring EXCEPT/EXCLUDE, REPLACE and RENAME; what cannot
    be expanded is appended to ``stars``, and (source, names the star does not carry as they
    are) to ``carriers``."""
    star = proj if isinstance(proj, exp.Star) else proj.this
    aliases = list(scope.selected_sources) if isinstance(proj, exp.Star) else [proj.table]
    excepts = {c.name.lower() for c in star.args.get("except_") or []}
    replace = {a.alias.lower(): a.this for a in star.args.get("replace") or []}
    rename = {a.this.name.lower(): a.alias.lower() for a in star.args.get("rename") or []}
    if star.args.get("ilike") is not None:
        stars.append("a `* ILIKE` projection is not expanded")
        return
    for alias in aliases:
        source = r.find_source(alias, scope)
        if source is None:
            stars.append(f"`{alias}.*`: no source named `{alias}`")
            continue
        names, incomplete = r.source_columns(source)
        if incomplete:
            stars.append(f"`select *` over {alias}: {incomplete}")
            if carriers is not None:
                carriers.append((source, excepts | set(replace) | set(rename) | set(rename.values())))
        for name in names:
            if name in excepts:
                continue
            if name in replace:
                col = r.value(replace[name], scope, set(), set(), name)
            else:
                col = r.source_column(source, name, scope)
            yield rename.get(name, name), col


def _select(r: Resolver, scope: Scope) -> ScopeInfo:
    """Columns, row shaping and shape of a SELECT (see the module docstring)."""
    sel: exp.Select = scope.expression
    rs: set[ColumnRef] = set()
    carriers: list = []
    acc = Acc()
    kept = _kept_joins(r, scope, acc)  # before the columns: they read the kept joins' sources
    cols, stars = _projections(r, scope, rs, carriers)
    r.aliases[id(scope)] = cols
    acc.rs.update(rs)
    sources: list[str] = []
    shape: list[str] = []  # everything but the sources that decides which rows come out
    for _, (node, source) in scope.selected_sources.items():
        sources.append(r.source_canon(source, scope))
        if node.args.get("sample") is not None:
            shape.append("sample:" + r.ser(node.args["sample"], scope, acc, SHAPE))
        if isinstance(source, Scope):
            info = r.info(source)
            if id(source) not in r.joined:  # a kept join's rows decide its columns only
                acc.rs.update(info.rs)
            acc.unknown.extend(info.rs_unknown)
    for pivot in scope.pivots:
        # PIVOT groups by the columns it does not pivot and spreads the FOR column;
        # UNPIVOT makes a row per input column (and drops NULLs)
        shape.append("pivot:" + ",".join(f"{k}={r.ser(v, scope, Acc(), SHAPE)}" for k, v in pivot.args.items()
                                         if k != "alias" and isinstance(v, exp.Expression))
                     + ",".join(f"{k}=[{','.join(r.ser(x, scope, Acc(), SHAPE) for x in v)}]"
                                for k, v in pivot.args.items() if isinstance(v, list))
                     + f",unpivot={bool(pivot.args.get('unpivot'))}")
        source = r.find_source(pivot.parent.alias_or_name, scope) if pivot.parent else None
        if source is None:
            continue
        inputs = r.pivot_inputs(pivot)
        unpivot = bool(pivot.args.get("unpivot"))
        if not unpivot:
            for field in pivot.args.get("fields") or []:
                inputs.discard(field.this.name.lower())
        for name in r.source_columns(source)[0]:
            if (name in inputs) == unpivot:
                acc.take(r.source_column(source, name, scope), SHAPE)
    for join in sel.args.get("joins") or []:
        shape.append("join:" + ":".join(str(join.args.get(k) or "") for k in ("side", "kind", "method")))
        if id(join) in kept:
            shape.append(kept[id(join)])
        elif join.args.get("on") is not None:
            shape.append("on:" + r.ser(join.args["on"], scope, acc, SHAPE))
        for ident in join.args.get("using") or []:
            name = ident.name.lower()
            for _, (_, source) in scope.selected_sources.items():
                names, incomplete = r.source_columns(source)
                if name in names or incomplete:
                    acc.take(r.source_column(source, name, scope), SHAPE)
            shape.append("using:" + name)
    limited = any(sel.args.get(k) is not None for k in ("limit", "offset", "fetch"))
    distinct = sel.args.get("distinct")
    for key in sel.arg_types:
        value = sel.args.get(key)
        if key in _IGNORED_SELECT_ARGS or value is None or value is False or value == []:
            continue
        if key == "order" and not (limited or (distinct is not None and distinct.args.get("on"))):
            continue
        items = value if isinstance(value, list) else [value]
        shape.append(key + ":" + ",".join(r.ser(v, scope, acc, SHAPE) if isinstance(v, exp.Expression)
                                          else repr(v) for v in items))
    group = sel.args.get("group")
    grouped_all = group is not None and group.args.get("all")
    if distinct is not None and not distinct.args.get("on"):
        for col in cols.values():
            acc.take(col, SHAPE)
    for proj in sel.selects:
        inner = proj.unalias()
        if grouped_all and not _has_agg(inner):
            r.ser(inner, scope, acc, SHAPE)
        if any(isinstance(n, _UDTF_PROJECTIONS) for n in inner.walk(prune=_stop)):
            shape.append("udtf:" + r.ser(inner, scope, acc, SHAPE))
    if distinct is not None and not distinct.args.get("on"):
        shape.append("distinct-values:" + "|".join(c.canon for c in cols.values()))
    if group is None and any(_has_agg(p.unalias()) for p in sel.selects):
        shape.append("aggregate")
    if kept:  # a kept join none of whose columns is read: the SQL still reads its ON columns
        used = set(acc.rs).union(*(c.refs for c in cols.values()))
        for join in sel.args.get("joins") or []:
            entry = scope.selected_sources.get(join.alias_or_name) if id(join) in kept else None
            extra = r.joined.get(id(entry[1]), set()) if entry else set()
            if not extra <= used:
                acc.rs.update(extra)
    star = "; ".join(stars) or None
    if star and ((distinct is not None and not distinct.args.get("on")) or grouped_all):
        # every column of the star, known or not, decides which rows come out
        acc.unknown.append(f"DISTINCT or GROUP BY ALL over {star}")
    # PIVOT / UNPIVOT make new columns out of others: a name is not the table's column of that name
    carry = (_carry(r, scope, carriers[0]) if len(carriers) == 1 and len(stars) == 1 and not scope.pivots
             else None)
    keys = select_keys(r, scope, cols, len(kept), star)
    if len(sources) == 1 and not shape:  # passes its one source's rows through: transparent
        return ScopeInfo(cols, acc.rs, sources[0], star=star, rs_unknown=acc.unknown, carry=carry, keys=keys)
    shape_text = digest("\n".join(["select", *sources, *shape]))
    return ScopeInfo(cols, acc.rs, shape_text, star=star, rs_unknown=acc.unknown, carry=carry, keys=keys)


def _kept_joins(r: Resolver, scope: Scope, acc: Acc) -> dict[int, str]:
    """LEFT JOINs of a SELECT on a proven key of the joined source (:mod:`analysis.lineage.joins`),
    in order: their ON columns and the joined scope's row shaping become upstreams of every column
    read from that source (``r.joined``), not row shaping. Returns id(join) -> its shape text."""
    kept: dict[int, str] = {}
    for join in scope.expression.args.get("joins") or []:
        source = kept_join(r, scope, join)
        if source is None:
            continue
        on = Acc()
        kept[id(join)] = "on:" + r.ser(join.args["on"], scope, on, SHAPE)
        acc.unknown.extend(on.unknown)
        extra = set(on.rs)
        if isinstance(source, Scope):
            extra |= r.info(source).rs
        r.joined[id(source)] = extra
    return kept


def _carry(r: Resolver, scope: Scope, carrier):
    """What a name missing from a SELECT's known columns is, when its one incomplete star can
    carry it: ``select * from t`` over a table of unknown columns outputs ``t.a`` as ``a`` (a
    query that reads ``a`` from it runs only if ``t`` has it). ``None`` for a name the star
    drops, replaces or renames."""
    source, blocked = carrier

    def column(name: str) -> Col | None:
        return None if name in blocked else r.source_column(source, name, scope)
    return column


def _set_operation(r: Resolver, scope: Scope) -> ScopeInfo:
    """UNION / INTERSECT / EXCEPT of two branches (longer chains nest)."""
    expr = scope.expression
    left, right = (r.infos[id(s)] for s in scope.set_operation_scopes[:2])
    kind = expr.key
    distinct = bool(expr.args.get("distinct"))
    by_name = bool(expr.args.get("by_name"))
    both_values = kind != "except"
    cols: dict[str, Col] = {}
    if by_name:
        pairs = [(n, left.cols.get(n), right.cols.get(n)) for n in dict.fromkeys([*left.cols, *right.cols])]
    else:
        rcols = list(right.cols.values())
        pairs = [(n, c, rcols[i] if i < len(rcols) else None) for i, (n, c) in enumerate(left.cols.items())]
    star = left.star or right.star
    if not by_name and len(left.cols) != len(right.cols) and not star:
        star = f"the branches of a {kind.upper()} have {len(left.cols)} and {len(right.cols)} columns"
    for name, lc, rc in pairs:
        branches = [c for c in (lc, rc if both_values else None) if c is not None]
        refs: dict[ColumnRef, bool] = {}
        for c in branches:
            for ref, bare in c.refs.items():
                refs[ref] = refs.get(ref, True) and bare
        unknown = "; ".join(c.unknown for c in branches if c.unknown) or (star if star else None)
        canon = lc.canon if (kind == "except" and lc is not None) else cap(
            f"({kind} " + " ".join(c.canon if c else "-" for c in (lc, rc)) + ")")
        cols[name] = Col(refs, canon, unknown, (lc or rc).type if (lc or rc) else None)
    r.aliases[id(scope)] = cols
    acc = Acc()
    acc.rs.update(left.rs | right.rs)
    acc.unknown.extend(left.rs_unknown + right.rs_unknown)
    shape = [kind, f"distinct={distinct}", f"by_name={by_name}", left.shape, right.shape]
    if distinct or kind != "union":
        for info in (left, right):
            for c in info.cols.values():
                acc.take(c, SHAPE)
        shape.append("values:" + "|".join(c.canon for i in (left, right) for c in i.cols.values()))
    limited = any(expr.args.get(k) is not None for k in ("limit", "offset"))
    for key in ("order", "limit", "offset"):
        value = expr.args.get(key)
        if value is not None and (key != "order" or limited):
            shape.append(key + ":" + r.ser(value, scope, acc, SHAPE))
    return ScopeInfo(cols, acc.rs, digest("\n".join(shape)), star=star, rs_unknown=acc.unknown)


def _udtf(r: Resolver, scope: Scope) -> ScopeInfo:
    """LATERAL subquery (its inner SELECT), VALUES (literal columns), UNNEST and table
    functions (columns derived from the arguments, which also decide the rows)."""
    expr = scope.expression
    alias = expr.args.get("alias")
    names = [c.name.lower() for c in alias.columns] if isinstance(alias, exp.TableAlias) and alias.columns else []
    if isinstance(expr, exp.Lateral) and isinstance(expr.this, exp.Subquery):
        inner = r.scope_of.get(id(expr.this.this))
        info = r.infos[id(inner)] if inner is not None and id(inner) in r.infos else None
        if info is not None:
            cols = dict(zip(names, info.cols.values(), strict=False)) if names else dict(info.cols)
            return ScopeInfo(cols, set(info.rs), digest("lateral|" + info.shape), star=info.star,
                             rs_unknown=info.rs_unknown)
    if isinstance(expr, exp.Values):
        rows = [row.expressions if isinstance(row, exp.Tuple) else [row] for row in expr.expressions]
        width = max((len(row) for row in rows), default=0)
        names = names or [f"col{i}" for i in range(width)]
        cols = {}
        for i, name in enumerate(names):
            acc = Acc()
            text = ",".join(r.ser(row[i], scope, acc, VALUE) for row in rows if i < len(row))
            cols[name] = Col(dict.fromkeys(acc.refs, False), digest(f"values|{i}|{text}"),
                             "; ".join(acc.unknown) or None)
        return ScopeInfo(cols, set(), digest("values|" + "|".join(c.canon for c in cols.values())))
    # UNNEST / LATERAL <function> / table functions: every column comes from the arguments,
    # and the arguments decide how many rows come out
    acc = Acc()
    args = expr.expressions if isinstance(expr, exp.Unnest) else [expr.this]
    texts = [r.ser(a, scope, acc, VALUE) for a in args if isinstance(a, exp.Expression)]
    offset = expr.args.get("offset") if isinstance(expr, exp.Unnest) else None
    if isinstance(offset, exp.Expression):
        names.append(offset.name.lower() if offset.name else "offset")
    unknown = "; ".join(acc.unknown) or None

    def make(name: str) -> Col:
        return Col(dict.fromkeys(acc.refs, False), digest(f"{expr.key}|{'|'.join(texts)}|{name}"), unknown)

    cols = {name: make(name) for name in names}
    any_col = None if names else make("*")
    return ScopeInfo(cols, set(acc.refs), digest(f"{expr.key}|{'|'.join(texts)}"), any_col=any_col)
