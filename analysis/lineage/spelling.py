"""How the warehouse spells a column that the lineage names by its normalised (lower-cased) name.

The lineage, the diff and the propagation match columns on lower-cased names (a column is the
same whatever its case). What a user reads must name the column as the warehouse has it, by the
warehouse's rules (sqlglot's normalization strategy of the project's dialect):

- a quoted identifier keeps its case everywhere (DuckDB ``"ArrUsd"``, Snowflake ``"ArrUsd"``);
- an unquoted one is folded by the dialect: upper-cased on Snowflake, lower-cased on Postgres;
  dialects that match without folding (DuckDB, BigQuery, Databricks...) keep it as written,
  except a bare column reference (``select arrusd from t``), which DuckDB names as the column it
  reads is named: that spelling is inherited from the upstream column.

The spelling of a model's column is read from the outermost projection of its compiled SQL; a
column it does not spell (``*``, a reference) takes its upstream's spelling when it passes one
through under the same name; a source or seed column declared in YAML keeps the YAML spelling on
dialects that do not fold case. Anything else follows the dialect's rule for an unquoted name.
Only names shown to people are respelled (:func:`respell_report`): matching never changes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy

from analysis import errors
from analysis.lineage.columns import ModelLineage

#: the spelling of a name is taken from its upstream (a bare reference on a non-folding dialect)
_INHERIT = object()


def fold(name: str, dialect: str) -> str:
    """``name`` as the dialect stores an unquoted identifier spelled so."""
    strategy = _strategy(dialect)
    if strategy == NormalizationStrategy.UPPERCASE:
        return name.upper()
    if strategy == NormalizationStrategy.LOWERCASE:
        return name.lower()
    return name


def spelled_as_written(sql: str | None, dialect: str) -> bool:
    """Whether ``sql`` may spell a name otherwise than the rule does: a quoted name, or (on a
    dialect that does not fold) a capital letter. Without either, nothing needs reading."""
    folds = _strategy(dialect) in (NormalizationStrategy.UPPERCASE, NormalizationStrategy.LOWERCASE)
    return bool(sql) and (any(q in sql for q in '"`[') or (not folds and sql != sql.lower()))


def projection_spellings(sql: str | None, dialect: str) -> dict[str, object]:
    """Lower-cased output name -> its spelling in the outermost projection of ``sql`` (or
    :data:`_INHERIT` for a bare column reference that takes its upstream's spelling); empty when
    the SQL does not parse. Columns of a ``*`` are not listed."""
    if not spelled_as_written(sql, dialect):
        return {}  # no quoted name, no capital kept as written: inheritance and the rule say it all
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except errors.INTERRUPTS:
        raise
    except Exception:  # noqa: BLE001 - a SQL sqlglot cannot read has no spelling: the rule applies
        return {}
    return decoded(tree_spellings(tree, dialect))


def decoded(spellings: Mapping[str, str]) -> dict[str, object]:
    """:func:`tree_spellings`' plain data as :func:`projection_spellings` gives it (``""`` -> :data:`_INHERIT`)."""
    return {k: (_INHERIT if v == "" else v) for k, v in spellings.items()}


def tree_spellings(tree: exp.Expression, dialect: str) -> dict[str, str]:
    """:func:`projection_spellings` of a parsed, not yet qualified SQL (the tracer's own parse):
    ``""`` stands for a bare reference taking its upstream's spelling (plain data, cached with
    the lineage)."""
    folds = _strategy(dialect) in (NormalizationStrategy.UPPERCASE, NormalizationStrategy.LOWERCASE)
    while isinstance(tree, (exp.Subquery, exp.SetOperation)):
        tree = tree.this  # a union's names are those of its first branch
    if not isinstance(tree, exp.Select):
        return {}
    out: dict[str, str] = {}
    for projection in tree.expressions:
        ident = projection.args.get("alias") if isinstance(projection, exp.Alias) else None
        bare = ident is None
        if bare:
            ident = projection.this if isinstance(projection, exp.Column) else None
        if not isinstance(ident, exp.Identifier) or not ident.name:
            continue
        key = ident.name.lower()
        if key in out:
            continue  # a repeated name: the first is the one kept under that name
        if ident.quoted:
            out[key] = ident.name
        elif bare and not folds:
            out[key] = ""
        else:
            out[key] = fold(ident.name, dialect)
    return out


class Spelling:
    """Node id + normalised column -> the column's spelling, computed lazily per node (one parse
    of a node's SQL, only for the nodes asked about) from the nodes, their dialects and lineage."""

    def __init__(self, nodes: Mapping, dialect_of: Callable, models: Mapping[str, ModelLineage]):
        self.nodes, self.dialect_of, self.models = nodes, dialect_of, models
        self._projections: dict[str, dict[str, object]] = {}
        self._done: dict[tuple[str, str], str | None] = {}

    def knows(self, node_id: str) -> bool:
        return node_id in self.nodes

    def of(self, node_id: str, column: str) -> str:
        """The spelling of ``column`` of ``node_id``: proven, else the dialect's rule."""
        proven = self.proven(node_id, column)
        if proven is not None:
            return proven
        node = self.nodes.get(node_id)
        return fold(column.lower(), self.dialect_of(node)) if node is not None else column

    def proven(self, node_id: str, column: str) -> str | None:
        """The spelling the node's SQL, its upstream or its YAML gives ``column``; ``None``: none does."""
        return self._spell(node_id, column.lower(), 0)

    def _spell(self, node_id: str, key: str, depth: int) -> str | None:
        node = self.nodes.get(node_id)
        if node is None:
            return None
        if (node_id, key) in self._done:
            return self._done[(node_id, key)]
        self._done[(node_id, key)] = None  # a cycle (never in a DAG) falls back to the rule
        dialect = self.dialect_of(node)
        if node_id not in self._projections:
            self._projections[node_id] = self._projection(node, dialect)
        spelled = self._projections[node_id].get(key)
        if not isinstance(spelled, str):
            spelled = self._inherited(node_id, key, depth) if depth < 200 else None
        if spelled is None and not node.is_sql and fold("aA", dialect) == "aA":
            declared = node.columns.get(key)  # YAML spelling, where the dialect does not fold it
            spelled = declared.name if declared is not None and declared.name.lower() == key else None
        self._done[(node_id, key)] = spelled
        return spelled

    def _projection(self, node, dialect: str) -> dict[str, object]:
        """The node's projection spellings: kept with its lineage when it was traced (the SQL is
        never parsed again for them), else read from its SQL."""
        if not node.is_sql:
            return {}
        lineage = self.models.get(node.unique_id)
        if lineage is not None and lineage.spellings is not None:
            return decoded(lineage.spellings)
        return projection_spellings(node.compiled_sql, dialect)

    def _inherited(self, node_id: str, key: str, depth: int) -> str | None:
        """The spelling of the upstream column passed through under the same name, if one is."""
        lineage = self.models.get(node_id)
        if lineage is None:
            return None
        for upstream in lineage.columns.get(key, ()):
            if upstream.ref.column == key:
                spelled = self._spell(upstream.ref.node, key, depth + 1)
                if spelled is not None:
                    return spelled
        return None


class Spellings:
    """Several :class:`Spelling` in order of preference (head, then base for removed names)."""

    def __init__(self, *spellings: Spelling):
        self.spellings = spellings

    def of(self, node_id: str, column: str) -> str:
        knowing = [s for s in self.spellings if s.knows(node_id)]
        for spelling in knowing:
            proven = spelling.proven(node_id, column)
            if proven is not None:
                return proven
        return knowing[0].of(node_id, column) if knowing else column

    def ref(self, text: str) -> str:
        """A ``<node id>.<column>`` (or a bare node id) with its column respelled."""
        if any(s.knows(text) for s in self.spellings):
            return text
        node_id, dot, column = text.rpartition(".")
        if dot and any(s.knows(node_id) for s in self.spellings):
            return f"{node_id}.{self.of(node_id, column)}"
        return text


def respell_report(report, spellings: Spellings) -> None:
    """Name every column of ``report`` (changes, impacts, their paths) as the warehouse spells it."""
    for change in report.changes:
        for column in change.columns:
            column.name = spellings.of(change.node, column.name)
            if column.renamed_to:
                column.renamed_to = spellings.of(change.node, column.renamed_to)
    for impact in report.impacts:
        impact.columns = [spellings.of(impact.node, c) for c in impact.columns]
        impact.via = [spellings.ref(v) for v in impact.via]


@lru_cache(maxsize=64)
def _strategy(dialect: str):
    try:
        return Dialect.get_or_raise(dialect).normalization_strategy
    except ValueError:
        return NormalizationStrategy.LOWERCASE
