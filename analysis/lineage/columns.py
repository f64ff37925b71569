"""Plain data for column-level lineage.

Produced by :mod:`analysis.lineage.trace` (one model) and :mod:`analysis.lineage.meshlineage` (a whole
mesh, in DAG order); consumed by :mod:`analysis.impact.diff` and :mod:`analysis.impact.propagation`.
A column is addressed as ``ColumnRef(node_unique_id, column_name)`` with the column
name lower-cased.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["passthrough", "renamed", "derived"]
Status = Literal["ok", "partial", "unknown"]


@dataclass(frozen=True, order=True)
class ColumnRef:
    node: str
    column: str

    def __str__(self) -> str:
        return f"{self.node}.{self.column}"


@dataclass(frozen=True, order=True)
class Upstream:
    """One upstream column an output column is computed from, and how."""

    ref: ColumnRef
    kind: Kind


@dataclass
class ModelLineage:
    """Column lineage of one model, derived from its compiled SQL.

    - ``columns``: output columns in SELECT order -> the upstream columns they are computed
      from. An empty tuple means "computed from no upstream column" (a literal).
    - ``row_shaping``: upstream columns used in WHERE, JOIN ... ON, GROUP BY, HAVING, QUALIFY,
      DISTINCT, window PARTITION BY / ORDER BY (also inside CTEs and subqueries): a change to
      their values can change every output column.
    - ``fingerprints``: per output column, a hash of its canonical expression written in terms
      of upstream ``ColumnRef``s (formatting, comments, quoting, aliases of intermediate CTEs
      do not change it). Same fingerprint under a new name = a rename.
    - ``shape_fingerprint``: hash of everything that decides *which rows* come out (tables
      read, joins, filters, grouping, distinct, set operations, limits); a change marks every
      column modified.
    - ``types``: inferred output type per column (``None`` when unknown).
    - ``status``: ``ok``; ``partial`` when some columns could not be traced (listed in
      ``unknown_columns``); ``unknown`` when nothing could be proven (parse error, time-out).
    - ``unresolved_tables``: tables read by the SQL that match no node of the mesh.
    - ``referenced``: every upstream column the SQL names (written in it, or a ``USING`` key),
      used or not: also the projections of a CTE or subquery nothing reads and the ON columns
      of a kept join. Removing or renaming one makes the SQL fail to bind even when no output
      column or row depends on it. (Columns a ``select *`` expands to are not named.)
    - ``spellings``: how the outermost projection spells its output names, read from the SQL as
      written when it was traced (:func:`analysis.lineage.spelling.tree_spellings`; ``""``: a bare
      reference that takes its upstream's spelling); ``None``: not read (the SQL did not parse),
      so a name shown to people is read from the SQL again.
    """

    node: str
    columns: dict[str, tuple[Upstream, ...]] = field(default_factory=dict)
    row_shaping: frozenset[ColumnRef] = frozenset()
    fingerprints: dict[str, str] = field(default_factory=dict)
    shape_fingerprint: str = ""
    types: dict[str, str | None] = field(default_factory=dict)
    status: Status = "ok"
    reason: str | None = None
    unknown_columns: frozenset[str] = frozenset()
    unresolved_tables: tuple[str, ...] = ()
    referenced: frozenset[ColumnRef] = frozenset()
    spellings: dict[str, str] | None = None

    @property
    def output_columns(self) -> list[str]:
        return list(self.columns)

    @classmethod
    def unknown(cls, node: str, reason: str) -> "ModelLineage":
        return cls(node=node, status="unknown", reason=reason)
