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
"""
from __future__ import annotations

import hashlib

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from analysis.lineage.columns import ColumnRef
from analysis.lineage.relations import describe_table, is_file_reader

VALUE, SHAPE, BOTH = 0, 1, 2  # where the columns met while serialising go


class LineageTimeout(BaseException):
    """Raised (from SIGALRM or a deadline check) when a model takes too long to trace."""


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


#: canonical texts longer than this are replaced by their digest (bounds inlining growth)
CAP = 512


def cap(text: str) -> str:
    """``text``, or ``#<digest>`` when it is long. Applied to every serialised node, so an
    expression inlined from a CTE and the same expression written in place stay equal."""
    return text if len(text) <= CAP else "#" + digest(text)


class Col:
    """One output column of a scope.

    ``refs``: upstream column -> True when the value is exactly that column (a bare
    reference, possibly through CTEs); ``canon``: canonical text of its value (``<node.col>``
    for a bare table column); ``unknown``: why it could not be traced (``None``: traced);
    ``type``: upstream type of a bare column.
    """

    __slots__ = ("refs", "canon", "unknown", "type")

    def __init__(self, refs, canon, unknown=None, type=None):
        self.refs: dict[ColumnRef, bool] = refs
        self.canon: str = canon
        self.unknown: str | None = unknown
        self.type: str | None = type


class ScopeInfo:
    """What one scope outputs and what decides its rows.

    ``cols``: output columns in order; ``rs``: upstream columns that decide its rows (its own
    clauses and those of every scope it reads); ``shape``: canonical text of its rows (the
    source's for a scope that passes one source's rows through, else a digest of its sources
    and row-deciding clauses); ``rs_unknown``: reasons a row-deciding column is untraced.
    """

    __slots__ = ("cols", "rs", "shape", "star", "any_col", "rs_unknown", "_full")

    def __init__(self, cols, rs, shape, star=None, any_col=None, rs_unknown=()):
        self.cols: dict[str, Col] = cols
        self.rs: set[ColumnRef] = rs
        self.shape: str = shape
        #: why the column list is incomplete (a star over unknown columns), else None
        self.star: str | None = star
        #: for table functions: the column any name resolves to
        self.any_col: Col | None = any_col
        self.rs_unknown: list[str] = list(rs_unknown)
        self._full: str | None = None

    def full(self) -> str:
        """Digest of rows and values: the canonical form of the scope as a subquery."""
        if self._full is None:
            self._full = digest(self.shape + "|" + "|".join(c.canon for c in self.cols.values()))
        return self._full


class Acc:
    """Upstream columns met while serialising an expression: ``refs`` (value, in ``VALUE`` or
    ``BOTH`` mode), ``rs`` (row shaping, in ``SHAPE`` or ``BOTH`` mode) and unknown reasons."""

    __slots__ = ("refs", "rs", "unknown")

    def __init__(self):
        self.refs: dict[ColumnRef, bool] = {}
        self.rs: set[ColumnRef] = set()
        self.unknown: list[str] = []

    def take(self, col: Col, mode: int) -> None:
        if col.unknown:
            self.unknown.append(col.unknown)
        if mode != SHAPE:
            for ref in col.refs:
                self.refs.setdefault(ref, False)
        if mode != VALUE:
            self.rs.update(col.refs)

    def take_scope(self, info: ScopeInfo, mode: int) -> None:
        for col in info.cols.values():
            self.take(col, mode)
        self.take(Col(dict.fromkeys(info.rs, False), ""), mode)
        if info.any_col is not None:
            self.take(info.any_col, mode)
        if info.star:
            self.unknown.append(info.star)
        self.unknown.extend(info.rs_unknown)


def _alias_columns(table: exp.Table) -> list[str]:
    alias = table.args.get("alias")
    return [c.name.lower() for c in alias.columns] if isinstance(alias, exp.TableAlias) and alias.columns else []


class Resolver:
    """Resolves the columns of one qualified query; writes canonical text (module docstring).

    ``infos`` (scope id -> info) is filled by :func:`analysis.lineage.scopes.walk`;
    ``aliases`` holds a SELECT's output columns once computed, for ORDER BY / QUALIFY /
    DISTINCT ON references to output names that ``qualify`` leaves unqualified.
    """

    def __init__(self, dialect: str, bindings: dict[str, str], schemas, deadline: float) -> None:
        self.dialect = dialect
        self.bindings = bindings
        self.schemas = schemas
        self.deadline = deadline
        self.infos: dict[int, ScopeInfo] = {}
        self.scope_of: dict[int, Scope] = {}
        self.aliases: dict[int, dict[str, Col]] = {}

    def node_of(self, table: exp.Table) -> str | None:
        """Node id of a table bound by :mod:`analysis.lineage.trace` (``None``: not a mesh table)."""
        return self.bindings.get(table.name.lower()) if isinstance(table.this, exp.Identifier) else None

    def find_source(self, name: str, scope: Scope):
        """The source (``exp.Table`` or ``Scope``) named ``name`` in ``scope`` or, for a
        correlated reference, in the scopes around it; ``None`` when there is none."""
        s = scope
        while s is not None:
            entry = s.selected_sources.get(name)
            if entry is not None:
                return entry[1]
            if name in s.sources:
                return s.sources[name]
            s = s.parent
        return None

    def info(self, source: Scope) -> ScopeInfo:
        """Info of a scope. A recursive CTE read by its own recursive branch is, for sqlglot,
        a scope over its base (non-recursive) branch: the recursion is unrolled once."""
        info = self.infos.get(id(source))
        if info is None:
            twin = self.scope_of.get(id(source.expression))
            info = self.infos.get(id(twin)) if twin is not None else None
        if info is None:
            return ScopeInfo({}, set(), digest("unresolved-scope"), star="a CTE that could not be resolved")
        return info

    def source_columns(self, source) -> tuple[list[str], str | None]:
        """Known column names of a source, and why the list is incomplete (or None)."""
        if isinstance(source, Scope):
            info = self.info(source)
            return list(info.cols), info.star or ("its columns depend on a table function" if info.any_col else None)
        node = self.node_of(source)
        if node is not None:
            schema = self.schemas.get(node) or {}
            names = [c for c in schema if c != "*"]
            renamed = _alias_columns(source)
            if not names:
                return renamed, f"the columns of {node} are unknown"
            names = renamed + names[len(renamed):]
            return names, (f"the columns of {node} are only partly known" if "*" in schema else None)
        alias = source.args.get("alias")
        names = [c.name.lower() for c in alias.columns] if alias is not None and alias.columns else []
        return names, None if names else f"the columns of {describe_table(source, self.dialect)} are unknown"

    def source_column(self, source, name: str, scope: Scope) -> Col:
        """Column ``name`` of ``source``: a mesh table column, an inner scope's column, a
        table function's (derived from its arguments) or a column of a table outside the
        mesh (no upstream)."""
        if isinstance(source, Scope):
            info = self.info(source)
            col = info.cols.get(name) or info.any_col
            if col is not None:
                return col
            why = info.star or f"no column `{name}` in subquery or CTE"
            return Col({}, digest("missing|" + name), unknown=f"`{name}`: {why}")
        node = self.node_of(source)
        if node is not None:
            schema = self.schemas.get(node) or {}
            renamed = _alias_columns(source)
            if name in renamed:  # FROM t AS x(a, b): a is t's first column
                position = renamed.index(name)
                real = [c for c in schema if c != "*"]
                if position >= len(real):
                    return Col({}, digest(f"alias|{node}|{name}"),
                               unknown=f"`{name}`: a column alias over {node}, whose columns are unknown")
                name = real[position]
            return Col({ColumnRef(node, name): True}, f"<{node}.{name}>", type=schema.get(name))
        if isinstance(source.this, exp.Func) and not is_file_reader(source):
            acc = Acc()
            text = self.ser(source.this, scope, acc, VALUE)
            return Col(dict.fromkeys(acc.refs, False), digest(f"fn|{text}|{name}"), "; ".join(acc.unknown) or None)
        desc = describe_table(source, self.dialect)
        return Col({}, f"<?{desc.lower()}.{name}>")

    def source_canon(self, source, scope: Scope) -> str:
        """Canonical text of the rows a source provides (for shapes)."""
        if isinstance(source, Scope):
            return self.info(source).shape
        node = self.node_of(source)
        if node is not None:
            return "T:" + node
        if isinstance(source.this, exp.Func) and not is_file_reader(source):
            return "F:" + self.ser(source.this, scope, Acc(), VALUE)
        desc = describe_table(source, self.dialect)
        return "X:" + desc.lower()

    # -- columns ----------------------------------------------------------------------------
    def column(self, column: exp.Column, scope: Scope) -> Col:
        """Resolve a column reference met in ``scope``. Unqualified references (left so by
        ``qualify`` when schemas are unknown) go to an output name of the scope, else to the
        one source that can have the column, else are unknown (never guessed)."""
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

    # -- canonical text -----------------------------------------------------------------------
    def ser(self, node, scope: Scope, acc: Acc, mode: int) -> str:
        """Canonical text of ``node``; upstream columns met go to ``acc`` per ``mode``."""
        if isinstance(node, exp.Column):
            col = self.column(node, scope)
            acc.take(col, mode)
            return col.canon
        if isinstance(node, exp.Paren):
            return self.ser(node.this, scope, acc, mode)
        if isinstance(node, exp.Query):
            sub = self.scope_of.get(id(node))
            if sub is not None and id(sub) in self.infos:
                info = self.infos[id(sub)]
                acc.take_scope(info, mode)
                return "Q:" + info.full()
        if isinstance(node, exp.Identifier):
            return node.name
        window = isinstance(node, exp.Window)
        parts = [node.key]
        for key in node.arg_types:
            value = node.args.get(key)
            if value is None or value is False or (isinstance(value, list) and not value):
                continue
            sub_mode = BOTH if window and key in ("partition_by", "order") and mode == VALUE else mode
            if isinstance(value, exp.Expression):
                parts.append(f"{key}={self.ser(value, scope, acc, sub_mode)}")
            elif isinstance(value, list):
                items = ",".join(self.ser(v, scope, acc, sub_mode) if isinstance(v, exp.Expression) else repr(v)
                                 for v in value)
                parts.append(f"{key}=[{items}]")
            else:
                parts.append(f"{key}={value!r}")
        return cap("(" + " ".join(parts) + ")")

    def value(self, expr: exp.Expression, scope: Scope, rs: set[ColumnRef], using: set[str], name: str) -> Col:
        """Output column for projection ``expr`` (alias removed); window keys go to ``rs``."""
        if isinstance(expr, exp.Column) and not isinstance(expr.this, exp.Star):
            return self.column(expr, scope)
        acc = Acc()
        text = self.ser(expr, scope, acc, VALUE)
        rs.update(acc.rs)
        refs = {r: False for r in acc.refs}
        if using and isinstance(expr, exp.Coalesce) and (name in using or "*" in using):
            args = [expr.this, *expr.expressions]
            if all(isinstance(a, exp.Column) and a.name.lower() == name for a in args):
                for a in args:  # a USING/NATURAL join key: the key of each side, as is
                    refs.update({r: b for r, b in self.column(a, scope).refs.items() if b})
        return Col(refs, text, "; ".join(dict.fromkeys(acc.unknown)) or None)

    # -- scopes --------------------------------------------------------------------------------
