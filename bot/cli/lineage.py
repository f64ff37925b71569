"""``meshdiff lineage``: the column lineage of a mesh as it is on disk, whole or from columns.

Exit code: 0 the lineage was written, 2 it could not be computed.
"""
from __future__ import annotations

import json
import sys

from analysis.errors import AnalysisError
from bot.cli import inputs
from bot.cli.output import write
from bot.cli.parser import EXIT_OK
from bot.cli.progress import observer


def run(args) -> int:
    from analysis.impact import World, build_index, reachable_columns
    from analysis.lineage import ColumnRef, Spelling, Spellings
    from analysis.pipeline import mesh_at_rest

    dialect_of, target_of = inputs.dialects(args.dialect), inputs.targets(args.target)
    output = inputs.output_file(args.output)
    main = inputs.specs([args.project], dialect_of, target_of)[0]
    downstream = inputs.specs(args.downstream, dialect_of, target_of)
    upstream = inputs.specs(args.upstream, dialect_of, target_of)
    inputs.with_env([main, *downstream, *upstream], {}, inputs.env_values(args.env), inputs.vars_value(args.vars))
    catalogs = inputs.catalog_files(args.catalog, [s.name for s in [main, *downstream, *upstream]])
    cache_dir = inputs.cache_dir(args.cache_dir)
    sandbox = inputs.sandbox(args.sandbox)
    with observer(args.quiet) as progress:
        state = mesh_at_rest(main, downstream, upstream, cache_dir=cache_dir, compile_timeout_s=args.compile_timeout,
                             lineage_timeout_s=args.lineage_timeout, progress=progress, sandbox=sandbox,
                             catalogs=catalogs)
    for warning in state.warnings:
        print(f"meshdiff: {warning}", file=sys.stderr)
    spell = Spellings(Spelling(state.mesh.nodes, state.mesh.dialect_of, state.lineage.models))
    if args.column:
        index = build_index([World(state.mesh, state.lineage.models, state.lineage.schemas, state.lineage.readers)])
        result = {}
        for spec in args.column:
            node_id, _, col = spec.rpartition(".")
            if node_id not in state.mesh.nodes:
                raise AnalysisError(f"--column {spec}: no node {node_id!r} in the mesh",
                                    hint="name columns as <unique_id>.<column>, e.g. model.shop.orders.v2.amount")
            known = state.lineage.schemas.get(node_id) or {}
            if known and col.lower() not in known:
                raise AnalysisError(f"--column {spec}: {node_id} has no column {col!r}",
                                    hint="its columns: " + ", ".join(spell.of(node_id, c) for c in known))
            reached = reachable_columns(index, ColumnRef(node_id, col.lower()))
            result[spec] = [spell.ref(r) for r in reached]
        text = json.dumps(result, indent=2) + "\n" if args.format == "json" else _tree(result)
    else:
        data = _lineage_dump(state, spell)
        text = json.dumps(data, indent=2) + "\n" if args.format == "json" else _dump_markdown(data)
    write(text, output)
    return EXIT_OK


def _lineage_dump(state, spell) -> dict:
    """Every model's lineage, each column named as ``spell`` (:class:`analysis.lineage.Spellings`) says."""
    models = {}
    for node_id in state.mesh.order():
        lin = state.lineage.models.get(node_id)
        if lin is None:
            continue
        models[node_id] = {
            "status": lin.status,
            **({"reason": lin.reason} if lin.reason else {}),
            "columns": {spell.of(node_id, c): [{"from": f"{u.ref.node}.{spell.of(u.ref.node, u.ref.column)}", "kind": u.kind} for u in ups]
                        for c, ups in lin.columns.items()},
            "row_shaping": sorted(f"{r.node}.{spell.of(r.node, r.column)}" for r in lin.row_shaping),
        }
    return {"models": models}


def _tree(result: dict[str, list[str]]) -> str:
    lines = []
    for column, reached in result.items():
        lines.append(f"- `{column}` reaches {len(reached)} column(s)")
        lines += [f"  - `{r}`" for r in reached]
    return "\n".join(lines) + "\n"


def _dump_markdown(data: dict) -> str:
    lines = []
    for node_id, model in data["models"].items():
        lines.append(f"- `{node_id}`" + (f" ({model['status']}: {model.get('reason', '')})" if model["status"] != "ok" else ""))
        for col, ups in model["columns"].items():
            src = ", ".join(f"`{u['from']}` ({u['kind']})" for u in ups) or "no upstream column"
            lines.append(f"  - `{col}` ← {src}")
        if model["row_shaping"]:
            lines.append("  - rows shaped by: " + ", ".join(f"`{r}`" for r in model["row_shaping"]))
    return "\n".join(lines) + "\n"
