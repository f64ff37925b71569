"""The sources a column reference of a qualified query can come from, and their columns.

:class:`SourceLookup` is the part of :class:`~analysis.lineage.resolve.Resolver` that finds a
source by name in a scope (or the scopes around it, for a correlated reference), lists its
known columns, and gives one of its columns as a :class:`~analysis.lineage.resolved.Col`: a
mesh table's column (``<node.column>``), an inner scope's (CTE, derived table, subquery),
a table function's (from its arguments) or a column of a table outside the mesh.
"""
from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from analysis.lineage.columns import ColumnRef
from analysis.lineage.relations import describe_table, is_file_reader
from analysis.lineage.resolved import VALUE, Acc, Col, ScopeInfo, digest


def _alias_columns(table: exp.Table) -> list[str]:
    alias = table.args.get("alias")
    return [c.name.lower() for c in alias.columns] if isinstance(alias, exp.TableAlias) and alias.columns else []


class SourceLookup:
    """Sources of a scope and their columns. Expects the attributes :class:`Resolver` sets
    (``dialect``, ``bindings``, ``schemas``, ``infos``, ``scope_of``) and its ``ser``."""

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
        mesh (no upstream). The source of a kept LEFT JOIN adds what decides its match
        (:attr:`Resolver.joined`)."""
        col = self._source_column(source, name, scope)
        extra = self.joined.get(id(source)) if self.joined else None
        if extra:
            col = Col({**col.refs, **{ref: False for ref in extra if ref not in col.refs}}, col.canon, col.unknown,
                      col.type)
        return col

    def _source_column(self, source, name: str, scope: Scope) -> Col:
        if isinstance(source, Scope):
            info = self.info(source)
            col = info.cols.get(name) or info.any_col
            if col is None and info.carry is not None:
                col = info.carry(name)
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
