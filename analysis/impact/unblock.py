"""How to unblock: one suggestion per kind of finding, with ready-to-paste snippets.

Pure functions over the report and the nodes of the changed project (base and head):

- a breaking change to a model that other projects read gets three options: a **new model
  version** (the next version carries the change, today's shape stays the latest version with
  a ``deprecation_date``, by default 90 days ahead), the **alias** option (keep the old column
  beside the new one), and **consumer first** (the files of the consumers to edit, merged
  before this PR);
  The alias option shows the old column's real expression, taken from the base compiled SQL
  (the outermost query, through ``select *`` of a CTE); a placeholder that says so when it
  cannot be found;
- an ``unknown`` change or consumer: what would make its lineage provable;
- a consumer project that stops compiling: where its error comes from and how to fix it.

Texts are plain sentences (names in backticks, no other Markdown); renderers escape them.
"""
from __future__ import annotations

import posixpath
from datetime import date, timedelta

import sqlglot
from sqlglot import exp
from sqlglot.tokens import TokenType

from analysis.dbt import Node
from analysis.report import Change, Impact, Report, Snippet, Suggestion

DEPRECATION_DAYS = 90
#: at most this many consumer files are named per suggestion
MAX_FILES = 12


def suggest(report: Report, base_nodes: dict[str, Node], head_nodes: dict[str, Node], *,
            today: date | None = None, deprecation_days: int = DEPRECATION_DAYS,
            dialects: dict[str, str] | None = None) -> list[Suggestion]:
    """Suggestions for every blocking finding of ``report`` (breaking and unknown changes, broken
    consumers). ``base_nodes``/``head_nodes``: nodes of the changed project."""
    today = today or date.today()
    deadline = (today + timedelta(days=deprecation_days)).isoformat()
    out: list[Suggestion] = []
    for change in report.changes:
        reached = [i for i in report.impacts if i.via and _from(i, change.node)]
        outside = [i for i in reached if i.project != report.changed_project]
        if change.category == "breaking" and (reached or _governance(change)):
            base, head = base_nodes.get(change.node), head_nodes.get(change.node)
            if base is not None and base.resource_type == "model" and head is not None and outside:
                out.append(_new_version(report, change, base, head, head_nodes, deadline))
                if alias := _alias(change, base, deadline, (dialects or {}).get(report.changed_project)):
                    out.append(alias)
            if reached:
                out.append(_consumer_first(change, reached))
        elif change.category == "unknown":
            out.append(_provable_change(change, (dialects or {}).get(report.changed_project)))
    out += _provable_consumers(report)
    for broken in report.broken:
        out.append(Suggestion(
            kind="fix-consumer", subject=broken.project,
            title=f"`{broken.project}` no longer compiles",
            text=(f"dbt stops compiling `{broken.project}` against this change: {_first_line(broken.error)}. "
                  f"Either keep what `{broken.project}` refs (a new version or an alias, above), or change "
                  f"`{broken.project}` first so it compiles with and without this PR."),
            files=sorted({f"{broken.project}:{i.file}" for i in report.impacts
                          if i.node in broken.nodes and i.file})[:MAX_FILES],
        ))
    return out


def _from(impact: Impact, node: str) -> bool:
    first = impact.via[0]
    return first == node or first.startswith(node + ".")


def _governance(change: Change) -> bool:
    return any(r.startswith("governance:") for r in change.reasons)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.lower().endswith("error") and "Encountered an error" not in ln]
    line = (useful or lines or ["(no message)"])[0]
    return line if len(line) <= 300 else line[:297] + "..."


def _in_repo(path: str | None, change: Change, node: Node) -> str | None:
    """``path`` (relative to the project) relative to the repository, like ``change.file``."""
    if not path or not change.file or not node.file_path or not change.file.endswith(node.file_path):
        return path
    prefix = change.file[: len(change.file) - len(node.file_path)]
    return prefix + path


def _broken_columns(change: Change) -> list:
    return [c for c in change.columns if c.change in ("removed", "renamed", "retyped")]


def _column_lines(base: Node, change: Change, indent: str) -> list[str]:
    """The ``columns:`` of a version that keeps today's shape, relative to the new top level."""
    broken = _broken_columns(change)
    new_names = [c.renamed_to for c in broken if c.change == "renamed" and c.renamed_to]
    excluded = new_names + [c.name for c in broken if c.change == "retyped"]
    lines = [f"{indent}columns:", f"{indent}  - include: all"]
    if excluded:
        lines.append(f"{indent}    exclude: [{', '.join(excluded)}]")
    for col in broken:
        declared = base.columns.get(col.name.lower())
        lines.append(f"{indent}  - name: {declared.name if declared else col.name}")
        if declared and declared.data_type:
            lines.append(f"{indent}    data_type: {declared.data_type}")
    return lines


def _new_version(report: Report, change: Change, base: Node, head: Node, head_nodes: dict[str, Node],
                 deadline: str) -> Suggestion:
    name = head.name
    versions = sorted({int(n.version) for n in head_nodes.values() if n.name == name and n.version is not None
                       and str(n.version).isdigit()})
    current = int(base.version) if base.version is not None and str(base.version).isdigit() else None
    file = change.file or head.file_path or f"models/{name}.sql"
    folder = posixpath.dirname(file)
    snippets: list[Snippet] = []
    if current is None:  # unversioned today: today's SQL becomes v1, the PR's SQL v2
        old_v, new_v = 1, 2
        yaml = ["models:", f"  - name: {name}",
                f"    latest_version: {old_v}  # unmoved: consumers keep today's shape",
                "    versions:",
                f"      - v: {old_v}  # today's shape, until its deprecation date",
                f"        defined_in: {name}_v{old_v}",
                f'        deprecation_date: "{deadline}"']
        yaml += _column_lines(base, change, "        ")
        yaml += [f"      - v: {new_v}  # this PR's shape; consumers opt in with v={new_v}",
                 f"        defined_in: {posixpath.splitext(posixpath.basename(file))[0]}"]
        restore = f"{folder}/{name}_v{old_v}.sql" if folder else f"{name}_v{old_v}.sql"
    else:
        old_v, new_v = current, max(versions or [current]) + 1
        latest = base.latest_version or str(max(versions or [current]))
        yaml = ["models:", f"  - name: {name}",
                f"    latest_version: {latest}  # unmoved",
                "    versions:  # add v" + f"{new_v}; keep the other versions as they are",
                f"      - v: {old_v}  # today's shape: its SQL as on the base branch",
                f'        deprecation_date: "{deadline}"',
                f"      - v: {new_v}  # this PR's change; consumers opt in with v={new_v}"]
        restore = file
        snippets.append(Snippet("shell", f"cp {file} {folder + '/' if folder else ''}{name}_v{new_v}.sql",
                                None))
    snippets.insert(0, Snippet("yaml", "\n".join(yaml), _in_repo(base.patch_path, change, base)))
    snippets.append(Snippet("shell", f"git show {report.base.sha[:12]}:{file} > {restore}", None))
    return Suggestion(
        kind="new-version", subject=change.node,
        title=f"Ship the change as v{new_v} of `{name}`",
        text=(f"Keep v{old_v} as it is on the base branch (still the latest version, deprecated on {deadline}) "
              f"and put this change in v{new_v}. Consumers move to v{new_v} when they are ready; nothing breaks "
              "on merge."),
        snippets=snippets,
    )


#: how deep ``select *`` is followed through CTEs to the one that names a column
_MAX_STAR_HOPS = 8


def old_expression(base: Node, column: str, dialect: str | None) -> str | None:
    """The SQL of the expression that produces ``column`` in the base compiled SQL of ``base``
    (its outermost query, or the CTE a ``select *`` of it reads), in ``dialect``; ``None`` when
    the SQL does not parse or the column is not named there (a star over a table, say)."""
    if not base.compiled_sql:
        return None
    try:
        tree = sqlglot.parse_one(base.compiled_sql, read=dialect or None)
    except (sqlglot.errors.SqlglotError, ValueError, RecursionError):
        return None
    ctes = {cte.alias_or_name.lower(): cte.this for cte in tree.find_all(exp.CTE)}
    query = tree
    for _ in range(_MAX_STAR_HOPS):
        while isinstance(query, (exp.SetOperation, exp.Subquery)):
            query = query.this
        if not isinstance(query, exp.Select):
            return None
        for projection in query.selects:
            if projection.alias_or_name.lower() == column.lower() and not isinstance(projection, exp.Star):
                found = projection.this if isinstance(projection, exp.Alias) else projection
                return _as_written(base.compiled_sql, projection, dialect) or found.sql(dialect=dialect or None)
        source = query.args.get("from_") or query.args.get("from")
        table = source.this if source is not None else None
        starred = any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))
                      for p in query.selects)
        if not (starred and isinstance(table, exp.Table) and table.name.lower() in ctes and not query.args.get("joins")):
            return None
        query = ctes[table.name.lower()]
    return None


def _as_written(sql: str, projection: exp.Expression, dialect: str | None) -> str | None:
    """The text of an aliased projection's expression as the SQL writes it (its case, its
    spacing on one line): from the token before ``AS alias`` back to the comma or ``select``
    that starts it. ``None`` when it cannot be found."""
    start = projection.args["alias"].meta.get("start") if isinstance(projection, exp.Alias) else None
    if start is None:
        return None
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect or None).tokenize(sql)
    except (sqlglot.errors.SqlglotError, ValueError):
        return None
    at = next((i for i, t in enumerate(tokens) if t.start == start), None)
    if at is None or at < 2:
        return None
    last = at - 2 if tokens[at - 1].token_type == TokenType.ALIAS else at - 1
    depth, first = 0, last
    while first >= 0:
        kind = tokens[first].token_type
        if kind in (TokenType.R_PAREN, TokenType.R_BRACKET):
            depth += 1
        elif kind in (TokenType.L_PAREN, TokenType.L_BRACKET):
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and kind in (TokenType.COMMA, TokenType.SELECT, TokenType.DISTINCT):
            break
        first -= 1
    if first + 1 > last:
        return None
    return " ".join(sql[tokens[first + 1].start:tokens[last].end + 1].split())


def _alias(change: Change, base: Node, deadline: str, dialect: str | None = None) -> Suggestion | None:
    renamed = [c for c in change.columns if c.change == "renamed" and c.renamed_to]
    removed = [c for c in change.columns if c.change == "removed"]
    if not renamed and not removed:
        return None

    known = {c.name: old_expression(base, c.name, dialect) for c in [*renamed, *removed]}
    found = all(known.values())

    def expression(name: str) -> str:
        return known[name] or f"<the expression of {name} on the base branch>"

    # the comment on a line of its own: the snippet fits GitHub's comment width
    sql = [f"    -- old name of {c.renamed_to}, kept until {deadline}\n    {expression(c.name)} as {c.name},"
           for c in renamed]
    sql += [f"    -- kept until {deadline}\n    {expression(c.name)} as {c.name}," for c in removed]
    yaml = []
    for col in [*renamed, *removed]:
        declared = base.columns.get(col.name.lower())
        yaml.append(f"      - name: {declared.name if declared else col.name}")
        if declared and declared.data_type:
            yaml.append(f"        data_type: {declared.data_type}")
        yaml.append(f"        description: Deprecated, use {col.renamed_to or 'another column'}; removed after {deadline}.")
    names = ", ".join(f"`{c.name}`" for c in [*renamed, *removed])
    snippets = [Snippet("sql", "\n".join(sql), change.file)]
    if base.contract_enforced or base.columns:
        snippets.append(Snippet("yaml", "\n".join(yaml), _in_repo(base.patch_path, change, base)))
    return Suggestion(
        kind="alias", subject=change.node,
        title=f"Keep {names} beside the new column{'s' if len(renamed) + len(removed) > 1 else ''}",
        text=(f"Select {names} again under the old name{'s' if len(renamed) + len(removed) > 1 else ''} "
              "(and keep it in the contract) until the consumers have moved; then remove it in a later PR."
              + (" The expression is the one of the base branch's compiled SQL." if found else
                 " Its expression could not be read from the base branch's compiled SQL: copy it from there.")),
        snippets=snippets,
    )


def _consumer_first(change: Change, reached: list[Impact]) -> Suggestion:
    # a test breaks with the node it tests: the consumer's model is the file to edit
    reached = [i for i in reached if i.resource_type not in ("test", "unit_test")] or reached
    files = sorted({f"{i.project}:{i.file}" for i in reached if i.file and i.severity == "breaking"}
                   or {f"{i.project}:{i.file}" for i in reached if i.file})
    renames = [c for c in change.columns if c.change == "renamed" and c.renamed_to]
    what = ("read " + ", ".join(f"`{c.renamed_to}` instead of `{c.name}`" for c in renames)) if renames else \
        "stop reading what this change removes"
    more = f" (and {len(files) - MAX_FILES} more)" if len(files) > MAX_FILES else ""
    return Suggestion(
        kind="consumer-first", subject=change.node,
        title="Change the consumers first",
        text=(f"Edit {len(files)} file{'s' if len(files) != 1 else ''}{more} so they {what}, merge those "
              "changes, then merge this PR."),
        files=files[:MAX_FILES],
    )


def _provable_change(change: Change, dialect: str | None) -> Suggestion:
    why = " ".join(change.reasons).lower()
    if "parse" in why or "syntax" in why or "invalid expression" in why:
        text = ("sqlglot cannot read its compiled SQL, so what it changes cannot be proven. Rewrite the "
                "construct the error points at in plain SQL"
                + (f", or set `dialect:` for its project in `.meshdiff.yml` if `{dialect}` is not the warehouse's"
                   if dialect else ", or set the project's `dialect:` in `.meshdiff.yml`") + ".")
    elif "time" in why and ("limit" in why or "out" in why):
        text = ("Its lineage took longer than the time limit. Raise `--lineage-timeout` (CLI), or split the "
                "model into smaller CTE-free models.")
    elif "python" in why:
        text = ("Python models have no SQL lineage. Declare its columns with an enforced contract so the "
                "columns consumers read can be checked.")
    else:
        text = ("Its lineage could not be traced. Select columns explicitly instead of `select *` from "
                "relations meshdiff cannot see, declare the columns of its sources, or pass a catalog "
                "(`--catalog PROJECT=FILE`).")
    return Suggestion(kind="provable", subject=change.node, title="Make the change provable", text=text)


def _provable_consumers(report: Report) -> list[Suggestion]:
    """Consumers reported ``unknown`` because their own lineage is unknown, one line each."""
    out: list[Suggestion] = []
    for impact in report.impacts:
        if impact.severity != "unknown" or impact.project == report.changed_project:
            continue
        why = next((r for r in impact.reasons if "lineage is unknown" in r or "may read" in r), None)
        if why is None:
            continue
        out.append(Suggestion(
            kind="provable", subject=impact.node, title="Make the consumer's lineage provable",
            text=(f"meshdiff cannot tell which columns `{impact.node}` reads ({why.split(': ', 1)[-1]}). "
                  "List its columns explicitly (no `select *` from unknown relations) or give its project "
                  "a catalog, and the impact becomes provable."),
            files=[f"{impact.project}:{impact.file}"] if impact.file else [],
        ))
    return out[:MAX_FILES]
