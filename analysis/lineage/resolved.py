"""What resolving a column yields: the plain data :class:`~analysis.lineage.resolve.Resolver` and
:mod:`analysis.lineage.scopes` share.

:class:`Col` (one output column: its upstream columns, canonical text, why unknown),
:class:`ScopeInfo` (what one scope outputs and what decides its rows), :class:`Acc` (the
upstream columns met while serialising an expression, per mode ``VALUE``/``SHAPE``/``BOTH``),
the digests that cap canonical texts (:func:`digest`, :func:`cap`), and
:class:`LineageTimeout`.
"""
from __future__ import annotations

import hashlib

from analysis.lineage.columns import ColumnRef

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

    __slots__ = ("cols", "rs", "shape", "star", "any_col", "rs_unknown", "carry", "keys", "_full")

    def __init__(self, cols, rs, shape, star=None, any_col=None, rs_unknown=(), carry=None, keys=()):
        self.cols: dict[str, Col] = cols
        self.rs: set[ColumnRef] = rs
        self.shape: str = shape
        #: why the column list is incomplete (a star over unknown columns), else None
        self.star: str | None = star
        #: for table functions: the column any name resolves to
        self.any_col: Col | None = any_col
        self.rs_unknown: list[str] = list(rs_unknown)
        #: for a SELECT whose one incomplete star is over one source: name -> the column of that
        #: source the star carries under that name (None: not carried as it is)
        self.carry = carry
        #: sets of output names the scope is proven unique on (:mod:`analysis.lineage.joins`)
        self.keys = keys
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
