"""Base vs head of the changed project: which nodes and columns changed, and how badly.

Input: the project's nodes at base and at head and their column lineage. Output: one
:class:`analysis.report.Change` per changed node (category + reasons) and the *seeds* of
the impact propagation: changed columns with their kind, per node.

Rules (precise and honest):
- a column whose canonical expression is unchanged is unchanged (formatting, comments,
  quoting and qualification are not changes);
- an old column gone and a new column with the same expression = ``renamed``;
- a changed row shape (filters, joins, grouping...) marks every column ``modified``;
- SQL whose lineage cannot be proven gives ``unknown`` (never "safe").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from analysis.impact import constraints, governance
from analysis.lineage import ModelLineage, output_names
from analysis.dbt import Node, same_content
from analysis.report import Change, ColumnChange

BREAKING_KINDS = frozenset({"removed", "renamed", "retyped"})
#: reason prefix of a changed model some of whose columns could not be traced (category unknown)
UNTRACED_MARK = "SQL changed but the lineage of"


@dataclass
class ProjectDiff:
    changes: list[Change] = field(default_factory=list)
    #: node id -> column -> change kind (removed | renamed | retyped | modified | unknown); ``*`` = the whole node
    seeds: dict[str, dict[str, str]] = field(default_factory=dict)
    #: node id -> reason, for changed nodes whose lineage is unknown (all columns unknown)
    unknown: dict[str, str] = field(default_factory=dict)


def diff_project(
    base_nodes: dict[str, Node],
    head_nodes: dict[str, Node],
    base_lineage: dict[str, ModelLineage],
    head_lineage: dict[str, ModelLineage],
    base_schemas: dict[str, dict[str, str | None]],
    head_schemas: dict[str, dict[str, str | None]],
    *,
    dialect: str | None = None,
) -> ProjectDiff:
    """Diff the own nodes of one project at base and head; ``dialect``: the project's warehouse
    dialect (which constraint types it enforces, :mod:`analysis.impact.constraints`)."""
    out = ProjectDiff()
    for node_id in sorted(set(base_nodes) | set(head_nodes)):
        base, head = base_nodes.get(node_id), head_nodes.get(node_id)
        if base is not None and head is None:
            _removed(out, base, base_schemas.get(node_id, {}), head_nodes)
        elif head is not None and base is None:
            _added(out, head, base_nodes, head_lineage.get(node_id))
        else:
            _modified(out, base, head, lambda n=node_id: (base_lineage.get(n), head_lineage.get(n),
                                                          base_schemas.get(n, {}), head_schemas.get(n, {})),
                      dialect)
    return out


def _change(node: Node, category: str, status: str, reasons: list[str], columns=None) -> Change:
    return Change(
        node=node.unique_id, resource_type=node.resource_type, category=category,
        columns=columns or [], reasons=reasons, status=status,
        file=node.file_path if node.resource_type != "source" else (node.file_path or node.patch_path),
        access=node.access, owners=list(node.owners), handles=list(node.handles),
    )


def _siblings(node: Node, nodes: dict[str, Node]) -> list[Node]:
    return [n for n in nodes.values() if n.name == node.name and n.resource_type == node.resource_type
            and n.unique_id != node.unique_id and n.version is not None]


def _removed(out: ProjectDiff, base: Node, schema: dict, head_nodes: dict[str, Node]) -> None:
    reasons = [f"{base.resource_type} `{base.label}` removed"]
    if base.version is not None:
        reasons += governance.version_findings(base, None)
    elif base.access == "public":
        reasons.append(f"{governance.GOVERNANCE_MARK} public model `{base.name}` removed: every consumer in other projects breaks")
    out.changes.append(_change(base, "breaking", "removed", reasons,
                               [ColumnChange(c, "removed") for c in schema]))
    if base.resource_type in ("exposure", "metric", "semantic_model", "saved_query"):
        return
    out.seeds[base.unique_id] = {c: "removed" for c in schema} or {"*": "removed"}


def _added(out: ProjectDiff, head: Node, base_nodes: dict[str, Node], lh: ModelLineage | None = None) -> None:
    reasons = [f"new {head.resource_type} `{head.label}`"]
    if head.version is not None:
        others = [n.version for n in _siblings(head, base_nodes)]
        if others:
            reasons = [f"new version {head.version} of `{head.name}` (existing: {', '.join('v' + str(v) for v in sorted(others))})"]
    reasons += governance.deprecation_findings(None, head)
    if lh is not None and lh.status != "unknown":
        reasons += governance.contract_vs_sql(head, produced_columns(lh), lh.types)
    blocked = any(r.startswith(governance.GOVERNANCE_MARK) for r in reasons)
    out.changes.append(_change(head, "breaking" if blocked else "additive", "added", reasons))


def _modified(out, base: Node, head: Node, sides, dialect: str | None = None) -> None:
    """``sides()`` gives (base lineage, head lineage, base schema, head schema): asked for only
    when the SQL, the seed or the contract changed (lineage is decoded lazily, and most nodes
    of a large project are unchanged)."""
    reasons: list[str] = []
    category = "metadata"
    columns: list[ColumnChange] = []
    seeds: dict[str, str] = {}

    reasons += governance.access_findings(base, head)
    contract_reasons, broken = governance.contract_findings(base, head)
    contract_reasons += constraints.constraint_findings(base, head, dialect)
    reasons += contract_reasons
    if base.version is not None or head.version is not None:
        reasons += governance.version_findings(base, head)
    else:
        reasons += governance.deprecation_findings(base, head)
    if base.config != head.config:
        keys = sorted(k for k in set(base.config) | set(head.config) if base.config.get(k) != head.config.get(k))
        reasons.append("config changed: " + ", ".join(f"`{k}`" for k in keys))

    new_sql = head.is_sql and sql_changed(base, head)
    seed_changed = head.resource_type == "seed" and (base.checksum != head.checksum
                                                     or base.seed_column_types != head.seed_column_types)
    # a source reading a file of the checkout (read_csv...): its columns and values are the file's
    file_changed = head.resource_type == "source" and bool(base.location_path or head.location_path) \
        and not same_content(base.location_path, head.location_path)
    lb = lh = None
    sb = sh = {}
    if new_sql or seed_changed or contract_reasons or file_changed:
        lb, lh, sb, sh = sides()
    if new_sql:
        if lb is None or lh is None or lb.status == "unknown" or lh.status == "unknown":
            why = (lh.reason if lh and lh.status == "unknown" else lb.reason if lb and lb.status == "unknown" else None)
            why = why or "no compiled SQL to compare"
            reasons.append(f"SQL changed but its lineage could not be proven: {why}")
            out.unknown[head.unique_id] = why
            category = "unknown"
            # nothing is proven of the values: every column (and readers of the node as a whole) is
            # unknown, but for the columns its output list says are removed, renamed or added
            seeds = {c: "unknown" for c in {**sb, **sh}} or {"*": "unknown"}
            columns = [ColumnChange(c, "modified") for c in sorted({**sb, **sh}) if c != "*"]
            columns, seeds, note = _listed_changes(base, head, dialect, columns, seeds)
            reasons += note
        else:
            columns, seeds, col_reasons = _column_diff(lb, lh, sb, sh)
            reasons += col_reasons
            if not columns and not col_reasons:
                reasons.append("SQL reformatted: same columns, same expressions, same rows")
    elif seed_changed:
        columns, seeds, col_reasons = _seed_diff(sb, sh, data_changed=base.checksum != head.checksum)
        reasons += col_reasons
    elif file_changed:
        if not base.location_path or not head.location_path or not sb or not sh:
            why = "the file it reads is not a readable file of the checkout on one side"
            reasons.append(f"the file it reads changed and its columns could not be compared: {why}")
            out.unknown[head.unique_id] = why
            category = "unknown"
            seeds, columns = _all_unknown(sb, sh)
        else:
            columns, seeds, col_reasons = _seed_diff(sb, sh, data_changed=True, what="the file it reads")
            reasons += col_reasons

    if lh is not None and lh.status != "unknown" and (contract_reasons or new_sql):
        reasons += governance.contract_vs_sql(head, produced_columns(lh), lh.types)
    for name, kind in broken.items():  # contract breaks count even if the SQL agrees
        if name not in seeds:
            seeds[name] = kind
            columns.append(ColumnChange(name, kind))
    if base.docs_fingerprint != head.docs_fingerprint and not reasons:
        reasons.append("descriptions or meta changed")
    if not reasons and not columns:
        return
    category = _category(category, columns, reasons)
    out.changes.append(_change(head, category, "modified", reasons, sorted(columns, key=lambda c: c.name)))
    if seeds:
        out.seeds[head.unique_id] = seeds


def _listed_changes(base: Node, head: Node, dialect: str | None, columns: list[ColumnChange], seeds: dict):
    """For a model whose lineage is unknown: its removed, renamed and added columns, from the
    set of output columns both sides state (:func:`output_sets`); the rest stay as they are."""
    found = output_sets(base, head, dialect)
    if found is None:
        return columns, seeds, []
    before, after, source = found
    gone = [c for c in before if c not in after]
    new = [c for c in after if c not in before]
    renamed: dict[str, str] = {}
    for name in gone:
        match = next((n for n in new if before[name] and after[n] == before[name] and n not in renamed.values()), None)
        if match:
            renamed[name] = match
    listed = [c for c in columns if c.name not in gone and c.name not in new]
    seeds = {c: k for c, k in seeds.items() if c not in new}
    for name in gone:
        if name in renamed:
            listed.append(ColumnChange(name, "renamed", renamed_to=renamed[name]))
            seeds[name] = "renamed"
        else:
            listed.append(ColumnChange(name, "removed"))
            seeds[name] = "removed"
    listed += [ColumnChange(n, "added") for n in new if n not in renamed.values()]
    if not gone and not new:
        return columns, seeds, []
    parts = [f"`{n}` renamed to `{renamed[n]}`" if n in renamed else f"`{n}` removed" for n in gone]
    parts += [f"`{n}` added" for n in new if n not in renamed.values()]
    return listed, seeds, [f"its output columns ({source}) say: " + ", ".join(parts)
                           + "; the values of the other columns are not proven"]


def output_sets(base: Node, head: Node, dialect: str | None):
    """The output columns of both sides of a changed model, without its lineage: ``(base, head,
    source)`` with name -> expression text (``""`` when not known), from the enforced contract of
    both sides, else the outermost select lists when both can be read, else the YAML columns
    when both sides declare some; ``None`` when no source holds for both sides."""
    if base.contract_enforced and head.contract_enforced:
        return dict.fromkeys(base.columns, ""), dict.fromkeys(head.columns, ""), "from the enforced contract"
    sql_dialect = dialect or "duckdb"
    before, after = output_names(base.compiled_sql, sql_dialect), output_names(head.compiled_sql, sql_dialect)
    if before is not None and after is not None:
        return before, after, "from the select list"
    if base.columns and head.columns:
        return dict.fromkeys(base.columns, ""), dict.fromkeys(head.columns, ""), "from the YAML `columns:`"
    return None


def _all_unknown(sb: dict, sh: dict) -> tuple[dict[str, str], list[ColumnChange]]:
    """Nothing is proven: every column (and readers of the node as a whole) is unknown."""
    seeds = {c: "unknown" for c in {**sb, **sh}} or {"*": "unknown"}
    return seeds, [ColumnChange(c, "modified") for c in sorted({**sb, **sh}) if c != "*"]


def produced_columns(lh: ModelLineage) -> list[str]:
    """The SQL's output columns for the contract check (``*``: the list is not complete)."""
    return list(lh.columns) + (["*"] if lh.unknown_columns else [])


def _category(current: str, columns: list[ColumnChange], reasons: list[str]) -> str:
    if current == "unknown":
        return "unknown"
    kinds = {c.change for c in columns}
    if kinds & BREAKING_KINDS or any(r.startswith(governance.GOVERNANCE_MARK) for r in reasons):
        return "breaking"
    if any(r.startswith(UNTRACED_MARK) for r in reasons):
        return "unknown"
    if "modified" in kinds or any(r.startswith(("`latest_version`", "config changed")) for r in reasons):
        return "partial"
    if "added" in kinds or any(r.startswith(("access widened", "contract now", "contract columns added")) for r in reasons):
        return "additive"
    return "metadata"


_WS = re.compile(r"\s+")


def sql_changed(base: Node, head: Node) -> bool:
    """The compiled SQL differs beyond whitespace."""
    a, b = base.compiled_sql or base.raw_sql or "", head.compiled_sql or head.raw_sql or ""
    if a == b:
        return False
    return _WS.sub(" ", a).strip() != _WS.sub(" ", b).strip()


def _column_diff(lb: ModelLineage, lh: ModelLineage, sb: dict, sh: dict):
    columns: list[ColumnChange] = []
    seeds: dict[str, str] = {}
    reasons: list[str] = []
    base_cols, head_cols = list(lb.columns), list(lh.columns)
    gone = [c for c in base_cols if c not in lh.columns]
    new = [c for c in head_cols if c not in lb.columns]
    by_print: dict[str, list[str]] = {}
    for name in new:
        by_print.setdefault(lh.fingerprints.get(name, ""), []).append(name)
    for name in gone:
        matches = by_print.get(lb.fingerprints.get(name, "\0"), [])
        if lb.fingerprints.get(name) and matches:
            target = matches.pop(0)
            new.remove(target)
            columns.append(ColumnChange(name, "renamed", renamed_to=target))
            seeds[name] = "renamed"
        else:
            columns.append(ColumnChange(name, "removed"))
            seeds[name] = "removed"
    for name in new:
        columns.append(ColumnChange(name, "added"))
    shape_changed = lb.shape_fingerprint != lh.shape_fingerprint
    if shape_changed:
        reasons.append("which rows come out changed (filters, joins, grouping or sources): every column may change")
    for name in head_cols:
        if name not in lb.columns:
            continue
        tb, th = sb.get(name), sh.get(name)
        if tb and th and tb.lower() != th.lower():
            columns.append(ColumnChange(name, "retyped", detail=f"{tb} -> {th}"))
            seeds[name] = "retyped"
        elif shape_changed or lb.fingerprints.get(name) != lh.fingerprints.get(name):
            columns.append(ColumnChange(name, "modified"))
            seeds[name] = "modified"
    if lh.status == "partial" and lh.unknown_columns:
        reasons.append(f"{UNTRACED_MARK} " + ", ".join(f"`{c}`" for c in sorted(lh.unknown_columns))
                       + f" could not be traced: {lh.reason or 'lineage unknown'}")
        listed = {c.name for c in columns}
        for name in sorted(lh.unknown_columns):
            seeds.setdefault(name, "unknown")
            if name != "*" and name not in listed:
                columns.append(ColumnChange(name, "modified"))
    return columns, seeds, reasons


def _seed_diff(sb: dict, sh: dict, *, data_changed: bool, what: str = "seed data"):
    """A seed's CSV (``data_changed``) or its ``column_types`` changed: removed, added and
    retyped columns (types from ``column_types``, else sniffed from the CSV), and every other
    column modified when the data changed."""
    columns = [ColumnChange(c, "removed") for c in sb if c not in sh]
    columns += [ColumnChange(c, "added") for c in sh if c not in sb]
    seeds = {c.name: "removed" for c in columns if c.change == "removed"}
    reasons = [f"{what} changed: the values of every column may change"] if data_changed else []
    for name in sh:
        if name not in sb:
            continue
        tb, th = sb[name], sh[name]
        if tb and th and tb.lower() != th.lower():
            seeds[name] = "retyped"
            columns.append(ColumnChange(name, "retyped", detail=f"{tb} -> {th}"))
        elif data_changed:
            seeds[name] = "modified"
            columns.append(ColumnChange(name, "modified"))
    if not data_changed:
        retyped = [c.name for c in columns if c.change == "retyped"]
        reasons.append("seed `column_types` changed" + (": " + ", ".join(f"`{c}`" for c in retyped) + " retyped"
                                                        if retyped else " (the loaded types stay the same)"))
    return columns, seeds, reasons
