"""The canonical text of an expression of a qualified query (see :mod:`analysis.lineage.resolve`).

:class:`CanonicalText` is the part of :class:`~analysis.lineage.resolve.Resolver` that
serialises an expression deterministically (args in class order, no comments, quoting
flags, redundant parentheses or aliases), each column replaced by the canonical text of what
it resolves to, and that makes the :class:`~analysis.lineage.resolved.Col` of a projection.
"""
from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from analysis.lineage.columns import ColumnRef
from analysis.lineage.resolved import VALUE, Acc, Col, cap


class CanonicalText:
    """Canonical text of expressions. Expects the attributes :class:`Resolver` sets
    (``infos``, ``scope_of``) and its ``column``."""

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
        # a window's PARTITION BY / ORDER BY shape that window's value only (never which rows come
        # out): they are upstreams of the column it computes, row shaping where it filters (QUALIFY)
        parts = [node.key]
        for key in node.arg_types:
            value = node.args.get(key)
            if value is None or value is False or (isinstance(value, list) and not value):
                continue
            if isinstance(value, exp.Expression):
                parts.append(f"{key}={self.ser(value, scope, acc, mode)}")
            elif isinstance(value, list):
                items = ",".join(self.ser(v, scope, acc, mode) if isinstance(v, exp.Expression) else repr(v)
                                 for v in value)
                parts.append(f"{key}=[{items}]")
            else:
                parts.append(f"{key}={value!r}")
        return cap("(" + " ".join(parts) + ")")

    def value(self, expr: exp.Expression, scope: Scope, rs: set[ColumnRef], using: set[str], name: str) -> Col:
        """Output column for projection ``expr`` (alias removed); what it adds to row shaping
        (a row-multiplying function's arguments) goes to ``rs``."""
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
