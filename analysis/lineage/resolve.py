"""What a column of a qualified query is made of, and the canonical text of expressions.

Input: a query already run through sqlglot's ``qualify`` whose mesh tables were renamed to
synthetic names (``bindings``: synthetic name -> node id, see :mod:`analysis.lineage.trace`).
:class:`Resolver` resolves a column reference in a scope to a :class:`Col`: the upstream
``ColumnRef`` s it is computed from, whether it *is* one of them (a bare reference), and its
canonical text. It reads the :class:`ScopeInfo` of inner scopes (CTEs, derived tables,
subqueries), which :mod:`analysis.lineage.scopes` computes innermost first, so an inner scope
is resolved once however often it is read.

Canonical text (:meth:`Resolver.ser`): a deterministic serialisation of the AST (args in
class order, no comments, no quoting flags, no redundant parentheses, no aliases) in which
each column is replaced by the canonical text of what it resolves to: ``<node.column>`` for
a mesh table, the inner column's own canonical text for a CTE or subquery column (inlined).
So formatting, quoting, table aliases and output names do not change it, and moving an
expression into or out of a CTE does not either. Texts longer than :data:`CAP` are replaced
by their digest at every node, which keeps inlining linear and comparisons exact.

The resolver is three pieces: resolving a column reference (here), the sources of a scope
and their columns (:class:`~analysis.lineage.sources.SourceLookup`), and canonical text
(:class:`~analysis.lineage.canonical.CanonicalText`); what they exchange is in
:mod:`analysis.lineage.resolved`.
"""
from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from analysis.lineage.canonical import CanonicalText
from analysis.lineage.columns import ColumnRef
from analysis.lineage.resolved import (  # noqa: F401  (the data of a resolution, used with a Resolver)
    BOTH, CAP, SHAPE, VALUE, Acc, Col, LineageTimeout, ScopeInfo, cap, digest,
)
from analysis.lineage.sources import SourceLookup

#: meta key set on every column reference of the SQL as written, before ``qualify`` (which
#: expands stars into references without it): :func:`mark_named`
NAMED = "md_named"


def mark_named(tree: exp.Expression) -> None:
    """Mark the column references written in ``tree`` (call before ``qualify``)."""
    for column in tree.find_all(exp.Column):
        column.meta[NAMED] = True


class Resolver(SourceLookup, CanonicalText):
    """Resolves the columns of one qualified query; writes canonical text (module docstring).

    ``infos`` (scope id -> info) is filled by :func:`analysis.lineage.scopes.walk`;
    ``aliases`` holds a SELECT's output columns once computed, for ORDER BY / QUALIFY /
    DISTINCT ON references to output names that ``qualify`` leaves unqualified.
    """

    def __init__(self, dialect: str, bindings: dict[str, str], schemas, deadline: float, unique=None) -> None:
        self.dialect = dialect
        self.bindings = bindings
        self.schemas = schemas
        self.deadline = deadline
        #: node id -> the column sets it is declared unique on (:attr:`analysis.dbt.nodes.Node.unique_keys`)
        self.unique = unique if unique is not None else {}
        #: id of a source of a kept LEFT JOIN -> the columns that decide which of its rows each
        #: row gets: upstreams of each of its columns (:mod:`analysis.lineage.joins`)
        self.joined: dict[int, set] = {}
        self.infos: dict[int, ScopeInfo] = {}
        self.scope_of: dict[int, Scope] = {}
        self.aliases: dict[int, dict[str, Col]] = {}
        #: upstream columns the SQL names (``ModelLineage.referenced``): the bare upstream of
        #: every column reference written in it (:data:`NAMED`), whether or not it is used
        self.referenced: set[ColumnRef] = set()

    # -- columns ----------------------------------------------------------------------------
    def column(self, column: exp.Column, scope: Scope) -> Col:
        """Resolve a column reference met in ``scope`` (:meth:`_column`); a reference written in
        the SQL (not one a star expanded to) adds what it names to :attr:`referenced`."""
        col = self._column(column, scope)
        if column.meta.get(NAMED) or column.name.lower() in (scope.expression.meta.get("md_using") or ()):
            self.referenced.update(ref for ref, bare in col.refs.items() if bare)
            if col.unknown and not col.refs and not column.table:
                # a name no source has (the upstream just lost it): it names a column of one of
                # the mesh tables it selects from, which then no longer binds
                name = column.name.lower()
                self.referenced.update(ColumnRef(node, name) for _, src in scope.selected_sources.values()
                                       if isinstance(src, exp.Table) and (node := self.node_of(src)) is not None)
        return col

    def _column(self, column: exp.Column, scope: Scope) -> Col:
        """Unqualified references (left so by ``qualify`` when schemas are unknown) go to an
        output name of the scope, else to the one source that can have the column, else are
        unknown (never guessed)."""
        name = column.name.lower()
        table = column.table
        if isinstance(column.this, exp.Star):
            return self._row(table, scope)
        if table:
            pivoted = self._pivot_column(table, name, scope) if scope.pivots else None
            if pivoted is not None:
                return pivoted
            source = self.find_source(table, scope)
            if source is None:
                return Col({}, digest(f"missing|{table}|{name}"),
                           unknown=f"`{table}.{name}`: no source named `{table}`")
            return self.source_column(source, name, scope)
        aliases = self.aliases.get(id(scope))
        if aliases and name in aliases:
            return aliases[name]
        s = scope
        while s is not None:  # unqualified: whoever can have it, innermost scope first
            found = self._unqualified(name, s)
            if found is not None:
                return found
            s = s.parent
        if self.find_source(column.name, scope) is not None:
            return self._row(column.name, scope)
        return Col({}, digest(f"missing|{name}"), unknown=f"`{name}`: cannot tell which table it comes from")

    def _unqualified(self, name: str, scope: Scope) -> Col | None:
        sources = [src for _, src in scope.selected_sources.values()]
        if not sources:
            return None
        having, unknown = [], []
        for src in sources:
            names, incomplete = self.source_columns(src)
            if name in names:
                having.append(src)
            elif incomplete or not names:
                unknown.append(src)
        if len(having) == 1:
            return self.source_column(having[0], name, scope)
        if len(having) > 1:
            return Col({}, digest(f"ambiguous|{name}"),
                       unknown=f"`{name}` is ambiguous ({len(having)} sources have it)")
        if len(unknown) == 1:
            return self.source_column(unknown[0], name, scope)
        if len(unknown) > 1:
            return Col({}, digest(f"ambiguous|{name}"),
                       unknown=f"`{name}`: cannot tell which of {len(unknown)} sources with unknown columns has it")
        return None

    def _row(self, table: str, scope: Scope) -> Col:
        """``t.*`` or a bare table name inside an expression: the whole row of ``t``."""
        source = self.find_source(table, scope)
        if source is None:
            return Col({}, digest("row|" + table), unknown=f"`{table}.*`: no source named `{table}`")
        names, incomplete = self.source_columns(source)
        acc = Acc()
        canon = "|".join(self.source_column(source, n, scope).canon for n in names)
        for n in names:
            acc.take(self.source_column(source, n, scope), VALUE)
        if incomplete:
            acc.unknown.append(f"`{table}.*`: {incomplete}")
        return Col(acc.refs, digest("row|" + canon), "; ".join(acc.unknown) or None)

    def _pivot_column(self, alias: str, name: str, scope: Scope) -> Col | None:
        """Column ``alias.name`` of a (UN)PIVOT: a pivoted value, or a column passed through."""
        for pivot in scope.pivots:
            if pivot.alias != alias or not isinstance(pivot.parent, exp.Table | exp.Subquery):
                continue
            source = self.find_source(pivot.parent.alias_or_name, scope)
            if source is None:
                return None
            acc = Acc()
            if pivot.args.get("unpivot"):
                values = {e.name.lower() for e in pivot.expressions}
                keys = {f.this.name.lower() for f in pivot.args.get("fields") or []}
                inputs = [e for f in pivot.args.get("fields") or [] for e in f.expressions]
                if name in keys:  # the unpivoted column names: literals
                    return Col({}, digest("unpivot-key|" + ",".join(e.sql() for e in inputs)))
                if name in values:
                    text = ",".join(self.source_column(source, e.name.lower(), scope).canon for e in inputs)
                    for e in inputs:
                        acc.take(self.source_column(source, e.name.lower(), scope), VALUE)
                    return Col(acc.refs, digest(f"unpivot|{text}"), "; ".join(acc.unknown) or None)
                return self.source_column(source, name, scope)
            text = self.ser(pivot, scope, acc, VALUE)
            if name not in self.pivot_inputs(pivot) and name in self.source_columns(source)[0]:
                return self.source_column(source, name, scope)
            return Col({r: False for r in acc.refs}, digest(f"pivot|{text}|{name}"), "; ".join(acc.unknown) or None)
        return None

    @staticmethod
    def pivot_inputs(pivot: exp.Pivot) -> set[str]:
        if pivot.args.get("unpivot"):
            return {e.name.lower() for f in pivot.args.get("fields") or [] for e in f.expressions}
        return {c.name.lower() for c in pivot.find_all(exp.Column)}
