"""Column lineage of one model, from its compiled SQL, in one pass.

:func:`model_lineage` parses the SQL once, binds every table to a node of the mesh
(:class:`analysis.lineage.relations.TableResolver`), qualifies once with sqlglot's ``qualify``
against the upstream schemas, walks the scopes once (:mod:`analysis.lineage.scopes`,
resolving columns with :mod:`analysis.lineage.resolve`), then annotates types over the same
scopes. It never calls ``sqlglot.lineage.lineage`` (one full pass *per column*).

Binding: each table that resolves to a node is renamed to a synthetic name (``__md0``,
``__md1``...) keeping its name as alias, so the qualify schema is flat and independent of
quoting, case and the number of name parts; table functions (``read_csv(...)``) become plain
tables the same way. Tables that resolve to nothing stay as written: they are listed in
``unresolved_tables``, their columns get no upstream (a table outside the mesh cannot be
changed by a PR of the mesh) and the status is ``partial``. Table functions that do not read
files (``generate_series``, ``range``...) are generators: their columns come from the
arguments.

Decisions where SQL is silent or ambiguous:

- output names and upstream column names are lower-cased (``ColumnRef`` convention);
- kinds: a bare column (also through CTEs, subqueries, UNION branches, and the key of a
  ``USING``/``NATURAL`` join) is ``passthrough`` under the same name, ``renamed`` under
  another; anything else is ``derived``;
- row shaping: WHERE, JOIN ON/USING, GROUP BY (GROUP BY ALL: the non-aggregate
  projections), HAVING, QUALIFY, DISTINCT (all projected columns) and DISTINCT ON,
  ORDER BY only when a LIMIT/OFFSET (or DISTINCT ON) makes it
  pick rows, the arrays of UNNEST / table functions (they multiply rows), UNION DISTINCT /
  INTERSECT / EXCEPT (all compared columns), PIVOT; in every scope that the final SELECT
  reads, and everything a subquery in those clauses reads;
- a window's PARTITION BY / ORDER BY are part of that window's value only (``derived``
  upstreams of the column it computes; a window never adds or drops rows); they shape rows
  where the window's result filters them (QUALIFY, or a WHERE over it in an outer query);
- a scalar subquery in a projection is part of that column's value: its columns, and the
  columns that filter it, are ``derived`` upstreams of that column (not row shaping);
- EXCEPT/INTERSECT: values come from the left branch (INTERSECT: from both); the right
  branch only decides rows;
- a star over a source whose columns are unknown makes the column list incomplete:
  ``"*"`` goes to ``unknown_columns`` (status ``partial``, or ``unknown`` when no column is
  known at all);
- a row-shaping column that cannot be traced puts every output column in ``unknown_columns``;
- fingerprints: :mod:`analysis.lineage.resolve` (canonical text); ``shape_fingerprint``: the
  canonical rows of the final SELECT: its sources (a table, or the rows of a CTE/subquery,
  recursively; a scope that only projects one source's rows is transparent), join kinds and
  conditions, WHERE, GROUP BY, HAVING, QUALIFY, DISTINCT (with the projected values),
  LIMIT/OFFSET (and ORDER BY with them), samples, PIVOTs, set operations with their kind,
  row-multiplying functions in projections, and whether an aggregate without GROUP BY
  collapses the rows. Named WINDOW definitions count too (their columns do not carry them).
- types: sqlglot's ``annotate_types`` with the upstream types, written in the dialect;
  an unaliased expression is named as ``qualify`` names it (``_col_2``).
"""
from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, TokenError
from sqlglot.optimizer.annotate_types import TypeAnnotator
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope
from sqlglot.schema import MappingSchema

from analysis import errors as _errors
from analysis.lineage.columns import ModelLineage, Upstream
from analysis.lineage.resolve import LineageTimeout, Resolver, digest, mark_named
from analysis.lineage.scopes import dedupe_names, rename_duplicates, walk
from analysis.lineage.spelling import spelled_as_written, tree_spellings
from analysis.lineage.relations import TableKey, TableResolver, describe_table, is_file_reader

#: bump when the output of :func:`analyse` changes for the same input (invalidates caches)
ALGORITHM_VERSION = "8"  # 8: projection spellings kept; 7: referenced columns; 6: an unread kept join keeps its keys; 5: LEFT JOINs on proven keys; 4, 3: stars, windows

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TOKEN = re.compile(r"<Token token_type: TokenType\.(\w+), text: (.*?), line: \d+.*?>")
_HINT = "check the compiled SQL under target/compiled/ (and the project's SQL dialect)"


@dataclass
class Analysis:
    """:func:`analyse` result: the lineage plus what the cache needs to know."""

    lineage: ModelLineage
    #: resolver keys looked up, in order (re-resolved on a warm run without parsing)
    lookups: tuple[TableKey, ...] = ()
    timed_out: bool = False
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)


def model_lineage(node_id: str, sql: str, dialect: str, tables: TableResolver,
                  schemas: Mapping[str, Mapping[str, str | None]], *, timeout_s: float = 10.0) -> ModelLineage:
    """Column lineage of model ``node_id`` from its compiled ``sql`` (see the module docstring).

    ``schemas`` gives each upstream node's ordered output columns -> type (``None`` when
    unknown; a ``"*"`` key marks a column list known to be incomplete). Never raises: any
    failure gives ``ModelLineage.unknown`` with a reason naming the node and the cause.
    """
    return analyse(node_id, sql, dialect, tables, schemas, timeout_s=timeout_s).lineage


def analyse(node_id: str, sql: str, dialect: str, tables: TableResolver,
            schemas: Mapping[str, Mapping[str, str | None]], *, timeout_s: float = 10.0,
            types: bool = True, unique: Mapping[str, tuple] | None = None) -> Analysis:
    """:func:`model_lineage` plus the resolver keys it used and timings.

    ``unique``: node id -> the column sets it is declared unique on (``get`` is enough), which
    prove LEFT JOINs that keep their left side's rows (:mod:`analysis.lineage.joins`).

    ``types=False`` skips sqlglot's type annotation (a quarter of the time of a model): for a
    model whose output types come from elsewhere (a catalog entry) and are checked against
    nothing (no enforced contract), ``types`` then holds only what the scope walk knows."""
    lookups: list[TableKey] = []
    phase = ["parse"]
    start = time.perf_counter()
    out = Analysis(ModelLineage.unknown(node_id, ""))
    try:
        with _time_limit(timeout_s) as deadline:
            out.lineage = _run(node_id, sql, dialect, tables, schemas, deadline, lookups, phase, out.phases, types,
                               unique)
    except LineageTimeout:
        out.timed_out = True
        out.lineage = ModelLineage.unknown(
            node_id, f"lineage of {node_id} exceeded {timeout_s:g} s (during {phase[0]}); lineage unknown "
                     f"— simplify the model or raise the limit with `meshdiff analyze|lineage --lineage-timeout "
                     f"SECONDS` (default 10)")
    except (ParseError, TokenError) as exc:
        out.lineage = ModelLineage.unknown(
            node_id, f"sqlglot could not parse {node_id} ({dialect}): {_parse_message(exc)}; lineage unknown — {_HINT}")
    except OptimizeError as exc:
        out.lineage = ModelLineage.unknown(
            node_id, f"sqlglot could not resolve the columns of {node_id} ({dialect}): {_clean(exc)}; "
                     f"lineage unknown — {_HINT}")
    except RecursionError:
        out.lineage = ModelLineage.unknown(
            node_id, f"the SQL of {node_id} is nested too deeply for sqlglot; lineage unknown — simplify the model")
    except _errors.INTERRUPTS:
        raise
    except Exception as exc:  # noqa: BLE001 - a lineage bug must not stop the analysis
        out.lineage = ModelLineage.unknown(
            node_id, f"internal error while tracing {node_id} ({dialect}) during {phase[0]}: "
                     f"{type(exc).__name__}: {_clean(exc)}; lineage unknown — please report it with the compiled SQL")
    out.lookups = tuple(lookups)
    out.seconds = time.perf_counter() - start
    return out


# -- phases ----------------------------------------------------------------------------------

def _run(node_id, sql, dialect, tables, schemas, deadline, lookups, phase, phases, annotate=True,
         unique=None) -> ModelLineage:
    clock = time.perf_counter()
    tree = _parse_single(node_id, sql, dialect)
    phases["parse"] = time.perf_counter() - clock
    if isinstance(tree, ModelLineage):
        return tree
    spellings = tree_spellings(tree, dialect) if spelled_as_written(sql, dialect) else {}  # before qualify

    phase[0] = "qualify"
    clock = time.perf_counter()
    bindings, mapping, unresolved = _bind(tree, tables, schemas, lookups, dialect)
    mark_named(tree)
    _mark_using(tree)
    rename_duplicates(tree, dialect)
    schema = MappingSchema(mapping, dialect=dialect)
    try:
        tree = _qualify(tree, dialect, schema)
    except OptimizeError:
        if dialect != "duckdb":
            raise
        # maybe a star expanded into repeated names that an outer query reads under the name
        # DuckDB gives them (`t.id_1`): expand, rename as DuckDB does, qualify again
        tree = _parse_single(node_id, sql, dialect)
        _bind(tree, tables, schemas, [], dialect)
        mark_named(tree)
        _mark_using(tree)
        tree = _qualify(tree, dialect, schema, allow_partial_qualification=True)
        rename_duplicates(tree, dialect)
        tree = _qualify(tree, dialect, schema)
    phases["qualify"] = time.perf_counter() - clock

    phase[0] = "scope walk"
    clock = time.perf_counter()
    scopes = list(build_scope(tree).traverse())
    resolver = Resolver(dialect, bindings, schemas, deadline, unique)
    root = walk(resolver, scopes)
    phases["walk"] = time.perf_counter() - clock

    phase[0] = "type annotation"
    clock = time.perf_counter()
    types = _types(tree, scopes, schema, dialect, root) if annotate else {n: c.type for n, c in root.cols.items()}
    phases["types"] = time.perf_counter() - clock
    return _assemble(node_id, root, types, unresolved, resolver.referenced, spellings)


def _qualify(tree: exp.Expression, dialect: str, schema: MappingSchema, **kw) -> exp.Expression:
    return qualify(tree, dialect=dialect, schema=schema, validate_qualify_columns=False,
                   quote_identifiers=False, identify=False, isolate_tables=False, **kw)


def _parse_single(node_id: str, sql: str, dialect: str) -> exp.Expression | ModelLineage:
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    queries = [s for s in statements if isinstance(s, exp.Query)]
    if len(statements) != 1 or len(queries) != 1:
        kinds = ", ".join(type(s).__name__ for s in statements) or "nothing"
        return ModelLineage.unknown(
            node_id, f"the compiled SQL of {node_id} is not a single SELECT (found {kinds}); lineage unknown — {_HINT}")
    tree = queries[0]
    while isinstance(tree, exp.Subquery) and not tree.alias and len(tree.args) == 1:
        tree = tree.this
    return tree


def _bind(tree: exp.Expression, tables: TableResolver, schemas, lookups: list, dialect: str):
    """Rename mesh tables to synthetic names; return bindings, qualify mapping, unresolved."""
    cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    bindings: dict[str, str] = {}  # synthetic name -> node id
    by_node: dict[str, str] = {}
    mapping: dict[str, dict[str, str]] = {}
    unresolved: dict[str, str] = {}
    for table in list(tree.find_all(exp.Table)):
        this = table.this
        if isinstance(this, exp.Identifier) and not table.db and not table.catalog and this.name.lower() in cte_names:
            continue
        if not isinstance(this, (exp.Identifier, exp.Func)):  # a stage, a variable...: outside the mesh
            unresolved.setdefault(table.sql(dialect=dialect, comments=False), "not a table of the mesh")
            continue
        node_id, keys = tables.resolve(table)
        lookups.extend(keys)
        if node_id is None:
            if isinstance(this, exp.Func) and not is_file_reader(table):
                continue  # a generator (generate_series, range...): no upstream table
            unresolved.setdefault(describe_table(table, dialect), tables.why_unresolved(keys[0]))
            continue
        synthetic = by_node.get(node_id)
        if synthetic is None:
            synthetic = by_node[node_id] = f"__md{len(by_node)}"
            bindings[synthetic] = node_id
            schema = schemas.get(node_id) or {}
            if schema and "*" not in schema:
                mapping[synthetic] = {name: _type_for_schema(t, dialect) for name, t in schema.items()}
        if not table.args.get("alias") and isinstance(this, exp.Identifier):
            table.set("alias", exp.TableAlias(this=this.copy()))
        table.set("this", exp.to_identifier(synthetic))
        table.set("db", None)
        table.set("catalog", None)
    return bindings, mapping, unresolved


def _mark_using(tree: exp.Expression) -> None:
    """Remember the USING / NATURAL join keys of each SELECT (qualify rewrites them)."""
    for join in tree.find_all(exp.Join):
        select = join.parent
        if not isinstance(select, exp.Select):
            continue
        names = {i.name.lower() for i in join.args.get("using") or []}
        if join.method == "NATURAL":
            names.add("*")
        if names:
            select.meta.setdefault("md_using", set()).update(names)


@lru_cache(maxsize=4096)
def _type_for_schema(text: str | None, dialect: str) -> str:
    if not text:
        return "UNKNOWN"
    try:
        exp.DataType.build(text, dialect=dialect)
        return text
    except _errors.INTERRUPTS:
        raise
    except Exception:  # noqa: BLE001 - an odd declared type must not stop the analysis
        return "UNKNOWN"


def _types(tree: exp.Expression, scopes: list, schema: MappingSchema, dialect: str, root) -> dict[str, str | None]:
    """Output types: sqlglot's type annotation over the scopes already built."""
    out: dict[str, str | None] = {name: col.type for name, col in root.cols.items()}
    try:
        annotator = TypeAnnotator(schema=schema, overwrite_types=False)
        for scope in scopes:
            annotator.annotate_scope(scope)
    except _errors.INTERRUPTS:
        raise
    except Exception:  # noqa: BLE001 - types are best effort
        return out
    names = [proj.alias_or_name.lower() for proj in tree.selects]
    if len(set(names)) != len(names):  # repeated names: as the scope walk named them, or none
        stars = any(proj.is_star for proj in tree.selects)
        names = dedupe_names(names) if dialect == "duckdb" and not stars else \
            [n if names.count(n) == 1 else "" for n in names]
    for proj, name in zip(tree.selects, names, strict=True):
        dtype = proj.type
        if name in out and dtype is not None and not dtype.is_type(exp.DataType.Type.UNKNOWN, exp.DataType.Type.NULL):
            out[name] = dtype.sql(dialect=dialect)
    return out


def _assemble(node_id: str, root, types: dict, unresolved: dict[str, str], referenced=frozenset(),
              spellings: dict[str, str] | None = None) -> ModelLineage:
    columns: dict[str, tuple[Upstream, ...]] = {}
    fingerprints: dict[str, str] = {}
    unknown: set[str] = set()
    reasons: list[str] = []
    for name, col in root.cols.items():
        columns[name] = tuple(sorted(
            Upstream(ref, ("passthrough" if ref.column == name else "renamed") if bare else "derived")
            for ref, bare in col.refs.items()
        ))
        fingerprints[name] = digest(col.canon)
        if col.unknown:
            unknown.add(name)
            reasons.append(col.unknown)
    if root.star:
        unknown.add("*")
        reasons.append(root.star)
    if root.rs_unknown:
        unknown.update(columns)
        reasons.append("which rows come out depends on columns that could not be traced: "
                       + "; ".join(dict.fromkeys(root.rs_unknown)))
    if unresolved:
        reasons.append("reads tables outside the mesh: "
                       + ", ".join(f"{t} ({why})" for t, why in sorted(unresolved.items())))
    known = [c for c in columns if c not in unknown]
    status = "ok" if not reasons else ("partial" if known or not unknown else "unknown")
    return ModelLineage(
        node=node_id, columns=columns, row_shaping=frozenset(root.rs), fingerprints=fingerprints,
        shape_fingerprint=root.shape, types={c: types.get(c) for c in columns}, status=status,
        reason="; ".join(dict.fromkeys(reasons)) or None, unknown_columns=frozenset(unknown),
        unresolved_tables=tuple(sorted(unresolved)), referenced=frozenset(referenced), spellings=spellings,
    )


# -- errors and time limits ------------------------------------------------------------------

def _clean(exc: BaseException | str) -> str:
    text = _ANSI.sub("", str(exc))
    text = _TOKEN.sub(lambda m: "end of input" if m.group(1) == "SENTINEL" else repr(m.group(2)), text)
    return " ".join(text.split())[:400]


def _parse_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None) or []
    if errors:
        first = errors[0]
        where = f" at line {first.get('line')}, col {first.get('col')}" if first.get("line") else ""
        near = (first.get("start_context") or "") + (first.get("highlight") or "")
        near = f" near {' '.join(near.split())[-60:]!r}" if near.strip() else ""
        return f"{_clean(first.get('description') or 'invalid SQL')}{where}{near}"
    return _clean(exc)


@contextmanager
def _time_limit(seconds: float):
    """Yield a ``time.monotonic()`` deadline; in the main thread also arm SIGALRM.

    Outside the main thread (or without ``setitimer``) only the cooperative deadline
    exists: it is checked between scopes, so a single sqlglot call (parse, qualify) that
    hangs is not interrupted there. A timer the caller armed keeps its own deadline: if it
    comes first its handler runs, and it is re-armed afterwards.
    """
    if not seconds or seconds <= 0:
        yield float("inf")
        return
    start = time.monotonic()
    deadline = start + seconds
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield deadline
        return
    previous = signal.getsignal(signal.SIGALRM)
    old_delay, old_interval = signal.getitimer(signal.ITIMER_REAL)
    outer = start + old_delay if old_delay > 0 else float("inf")
    state = {"outer_fired": False}

    def on_alarm(signum, frame):
        now = time.monotonic()
        if now >= outer - 1e-3 and not state["outer_fired"] and callable(previous):
            state["outer_fired"] = True  # the caller's own time limit came first: its turn
            if now < deadline:
                signal.setitimer(signal.ITIMER_REAL, deadline - now)
            previous(signum, frame)
            return
        raise LineageTimeout()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, old_delay) if old_delay > 0 else seconds)
    try:
        yield deadline
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if old_delay > 0 and not state["outer_fired"]:
            signal.setitimer(signal.ITIMER_REAL, max(outer - time.monotonic(), 1e-3), old_interval)
