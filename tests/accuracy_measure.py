"""The data-based accuracy measurement shared by the accuracy tests (example mesh, precision mesh).

:func:`measure` builds a mesh with real dbt once as is and once per perturbation (one upstream
column's values changed in its CSV, :mod:`tests.accuracy_helpers`), predicts with meshdiff from
its own compile meanwhile, and compares every column of every model of every build with the
baseline: a changed column must be predicted (recall); predicted columns that never changed
are counted (precision). See ``tests/analysis/test_accuracy_data.py`` for the method.
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from analysis.impact import World, build_index, reachable_columns
from analysis.lineage import ColumnRef
from tests import accuracy_helpers as acc

#: a builder silent for this long (no dbt invocation started or ended) is stuck: stopped
STALL_S = 900


@dataclass
class Measured:
    table: str
    recall: float
    precision: float
    #: perturbation name -> changed columns meshdiff did not predict
    misses: dict[str, list[str]] = field(default_factory=dict)
    #: perturbation name -> predicted columns that never changed
    unchanged: dict[str, list[str]] = field(default_factory=dict)
    state: object = None


def relation_table(relation_name: str) -> str:
    return relation_name.rsplit(".", 1)[-1].strip('"`').lower()


def predict(state):
    """The reader index of a mesh at rest, and built table name -> node."""
    index = build_index([World(state.mesh, state.lineage.models, state.lineage.schemas, state.lineage.readers)])
    tables = {relation_table(n.relation_name): n for n in state.mesh.nodes.values()
              if n.resource_type in ("model", "seed") and n.relation_name and not n.injected}
    return index, tables


def measure(tmp_path: Path, root: Path, perturbations, mesh_state, *, title: str, plan: dict | None = None,
            check_state=None) -> Measured:
    """Build ``root`` once per perturbation, predict with ``mesh_state()`` meanwhile, compare."""
    started = time.monotonic()
    jobs = [{"name": "baseline", "files": {}, "db": str(tmp_path / "baseline.duckdb"),
             "snapshot": str(tmp_path / "baseline.pickle")}]
    for i, p in enumerate(perturbations):
        text = (root / p.file).read_text(encoding="utf-8")
        new_text, cells = acc.perturb_csv(text, p.column, p.change)
        assert cells > 0, f"perturbation of {p.name} changes no value"
        jobs.append({"name": p.name, "files": {p.file: new_text}, "db": str(tmp_path / f"p{i}.duckdb"),
                     "snapshot": str(tmp_path / f"p{i}.pickle"), "keep_db": False})
    plan_path, results_path = tmp_path / "plan.json", tmp_path / "results.json"
    plan_path.write_text(json.dumps({"root": str(root), "jobs": jobs, **(plan or {})}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "DBT_LOOM_CONFIG"}
    log_path = tmp_path / "dbt.log"
    with open(log_path, "w", encoding="utf-8") as log:
        builder = subprocess.Popen([sys.executable, acc.__file__, str(plan_path), str(results_path)],
                                   cwd=str(root), env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            # meshdiff's prediction, from compiled SQL only, while dbt builds
            state = mesh_state()
            index, tables = predict(state)
            stalled = acc.wait_while_logging(builder, log_path, STALL_S, echo=sys.stdout)
        finally:
            if builder.poll() is None:
                builder.kill()
                builder.wait()
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    assert not stalled, f"the dbt builder logged nothing for {STALL_S} s and was stopped:\n{log_text[-6000:]}"
    assert builder.returncode == 0, f"the dbt build runner failed:\n{log_text[-6000:]}"
    build_results = json.loads(results_path.read_text(encoding="utf-8"))
    failed = [r for r in build_results if r["error"]]
    assert not failed, "dbt builds failed:\n" + "\n\n".join(f"{r['name']}: {r['error']}" for r in failed)
    if check_state is not None:
        check_state(state)

    def load(path):
        with open(path, "rb") as handle:
            return pickle.load(handle)

    base = load(jobs[0]["snapshot"])
    unknown = sorted(set(base) - set(tables))
    assert not unknown, f"built relations that the mesh does not know: {unknown}"
    model_tables = {t for t in base if tables[t].resource_type == "model"}
    all_model_columns = {f"{tables[t].unique_id}.{c}" for t in model_tables for c in base[t]["columns"]}

    def col_id(table: str, column: str) -> str:
        return f"{tables[table].unique_id}.{column}"

    out = Measured("", 0.0, 0.0, state=state)
    rows = []
    totals = {"changed": 0, "predicted": 0, "hit": 0, "unchanged": 0}
    for p, job in zip(perturbations, jobs[1:]):
        new = load(job["snapshot"])
        changed = acc.changed_columns(base, new)
        # the perturbation changed exactly the one upstream column it meant to
        seed_changes = {(t, c) for t, c in changed if tables[t].resource_type == "seed"}
        if p.node.startswith("seed."):
            assert seed_changes == {(_table_of(tables, p.node), p.column)}, (p.name, seed_changes)
        else:
            assert not seed_changes, (p.name, seed_changes)
        reached = set(reachable_columns(index, ColumnRef(p.node, p.column)))
        predicted = reached & all_model_columns
        # exposures, and sources reading the relation a seed loads, are reached but not built here
        stray = {r for r in reached - all_model_columns if not r.startswith(("exposure.", "source."))}
        assert not stray, f"{p.name}: predicted columns that no built table has: {sorted(stray)}"

        actual = {col_id(t, c) for t, c in changed if t in model_tables}
        by_value = _value_reach(index, ColumnRef(p.node, p.column))
        keyed = {col_id(t, c) for t, c in acc.keyed_changed_columns(
            base, new, stable=lambda t, k, by_value=by_value: col_id(t, k) not in by_value) if t in model_tables}
        assert actual, f"{p.name}: the perturbation changed no model column (vacuous)"
        all_changed = actual | keyed
        misses = sorted(all_changed - predicted)
        if misses:
            out.misses[p.name] = misses
        unchanged = predicted - all_changed
        out.unchanged[p.name] = sorted(unchanged)
        rows.append((p.name, p.how, len(all_changed), len(keyed - actual), len(predicted), len(unchanged), misses))
        totals["changed"] += len(all_changed)
        totals["predicted"] += len(predicted)
        totals["hit"] += len(all_changed & predicted)
        totals["unchanged"] += len(unchanged)

    out.recall = totals["hit"] / totals["changed"]
    out.precision = totals["hit"] / totals["predicted"]
    out.table = _format(title, rows, totals, out, len(all_model_columns), build_results,
                        time.monotonic() - started)
    return out


def _value_reach(index, start: ColumnRef) -> set[str]:
    """Columns computed from ``start`` through value lineage only (no row shaping)."""
    seen: set[ColumnRef] = set()
    todo = [start]
    while todo:
        for reader, col, _kind in index.value.get(todo.pop(), ()):
            ref = ColumnRef(reader, col)
            if ref not in seen:
                seen.add(ref)
                todo.append(ref)
    return {str(r) for r in seen}


def _table_of(tables: dict, node_id: str) -> str:
    return next(t for t, n in tables.items() if n.unique_id == node_id)


def _format(title, rows, totals, out: Measured, n_columns, build_results, elapsed) -> str:
    lines = [
        f"meshdiff data-based accuracy on {title} ({len(rows)} perturbations, {n_columns} model columns in the mesh)",
        "",
        "| upstream column | perturbation | changed | of which only per row | predicted "
        "| predicted, never changed | misses |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for name, how, changed, keyed_only, predicted, unchanged, misses in rows:
        lines.append(f"| `{name}` | {how} | {changed} | {keyed_only} | {predicted} | {unchanged} "
                     f"| {', '.join(misses) or '-'} |")
    lines.append(f"| **total** | | {totals['changed']} | | {totals['predicted']} | {totals['unchanged']} | |")
    lines += [
        "",
        f"recall {out.recall:.1%} ({totals['hit']}/{totals['changed']} changed columns predicted); "
        f"precision {out.precision:.1%} ({totals['hit']}/{totals['predicted']} predicted columns changed, "
        f"{totals['unchanged']} never changed)",
        f"dbt builds: {len(build_results)} in {sum(r['seconds'] for r in build_results):.0f}s; "
        f"test total {elapsed:.0f}s",
        "",
        "predicted, never changed:",
        *(f"- `{name}`: {', '.join(cols)}" for name, cols in out.unchanged.items() if cols),
    ]
    return "\n".join(lines)
