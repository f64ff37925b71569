"""Data-based accuracy check of meshdiff's impact prediction on the example mesh (issue 3).

The example mesh (shop -> finance -> exec_reporting) is built with real dbt into DuckDB:
once as is (the baseline), then once per perturbation, where the values of exactly one
upstream column (a seed column or a column of the ``read_csv`` source ``raw.order_events``)
are changed in its CSV: numbers shifted, strings altered, statuses/methods/channels mapped to
other valid values so that filters and pivots change, dates and timestamps shifted, ids
remapped so that joins change.

After each build every column of every model of the three projects is compared with the
baseline. A column *changed* if the sorted list of its values differs (that also catches
rows that appear or disappear); a second, stricter comparison matches rows on an identifier
column (order_id, customer_id, ...) where the perturbation cannot touch that identifier and
sees values that moved between rows.

Every changed column must be in ``reachable_columns`` of the perturbed upstream column
(recall 100%). Predicted columns whose values never changed are counted and printed
(run with ``-s``) as the precision table, and attached to the test report as properties.

Runtime: 20 builds of the three projects (60 dbt invocations) in one subprocess through
``dbtRunner`` (one import of dbt for all of them), meshdiff's own compile of the mesh alongside:
about 3 minutes on an idle 2-core machine, 6 or more on a busy one. There is no limit on the
total time, which a loaded machine may stretch; the builder logs each dbt invocation as it
starts and ends (``[accuracy] ...`` lines, shown when the test fails, and live with
``pytest -s``), and only a builder that logs nothing for ``STALL_S`` seconds (one invocation of a
project of a dozen models that hangs) is stopped.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.lineage import ColumnRef
from analysis.impact import World, build_index, reachable_columns
from analysis.pipeline import ProjectSpec, mesh_at_rest
from tests import accuracy_helpers as acc
from tests.paths import ROOT

pytestmark = pytest.mark.dbt

REPO = Path(ROOT)
EXAMPLES = REPO / "examples"
#: a builder silent for this long (no dbt invocation started or ended) is stuck: stopped
STALL_S = 900


def _relation_table(relation_name: str) -> str:
    return relation_name.rsplit(".", 1)[-1].strip('"`').lower()


def _predict(cache_dir: Path):
    state = mesh_at_rest(ProjectSpec(str(EXAMPLES / "shop")),
                         [ProjectSpec(str(EXAMPLES / "finance")), ProjectSpec(str(EXAMPLES / "exec_reporting"))],
                         cache_dir=str(cache_dir))
    index = build_index([World(state.mesh, state.lineage.models, state.lineage.schemas, state.lineage.readers)])
    tables = {_relation_table(n.relation_name): n for n in state.mesh.nodes.values()
              if n.resource_type in ("model", "seed") and n.relation_name and not n.injected}
    return state, index, tables


def test_every_changed_column_is_predicted(tmp_path, monkeypatch, record_property):
    started = time.monotonic()
    monkeypatch.setenv("MESHDIFF_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "examples"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("target", "logs"))

    # ---- one build job per perturbation (plus the baseline), run by one dbt subprocess
    jobs = [{"name": "baseline", "files": {}, "db": str(tmp_path / "baseline.duckdb"),
             "snapshot": str(tmp_path / "baseline.pickle")}]
    for i, p in enumerate(acc.PERTURBATIONS):
        text = (root / p.file).read_text(encoding="utf-8")
        new_text, cells = acc.perturb_csv(text, p.column, p.change)
        assert cells > 0, f"perturbation of {p.name} changes no value"
        jobs.append({"name": p.name, "files": {p.file: new_text}, "db": str(tmp_path / f"p{i}.duckdb"),
                     "snapshot": str(tmp_path / f"p{i}.pickle"), "keep_db": False})
    plan_path, results_path = tmp_path / "plan.json", tmp_path / "results.json"
    plan_path.write_text(json.dumps({"root": str(root), "jobs": jobs}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "DBT_LOOM_CONFIG"}
    log_path = tmp_path / "dbt.log"
    with open(log_path, "w", encoding="utf-8") as log:
        builder = subprocess.Popen([sys.executable, acc.__file__, str(plan_path), str(results_path)],
                                   cwd=str(root), env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            # meshdiff's prediction, from compiled SQL only, while dbt builds
            state, index, tables = _predict(tmp_path / "cache")
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
    assert state.warnings == [], state.warnings
    assert all(m.status == "ok" for m in state.lineage.models.values()), \
        {k: (m.status, m.reason) for k, m in state.lineage.models.items() if m.status != "ok"}

    # ---- compare
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

    rows, all_misses = [], {}
    totals = {"changed": 0, "predicted": 0, "hit": 0, "unchanged": 0}
    for p, job in zip(acc.PERTURBATIONS, jobs[1:]):
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
        stray = {r for r in reached - all_model_columns if not r.startswith("exposure.")}
        assert not stray, f"{p.name}: predicted columns that no built table has: {sorted(stray)}"

        actual = {col_id(t, c) for t, c in changed if t in model_tables}
        by_value = _value_reach(index, ColumnRef(p.node, p.column))
        keyed = {col_id(t, c) for t, c in acc.keyed_changed_columns(
            base, new, stable=lambda t, k, by_value=by_value: col_id(t, k) not in by_value) if t in model_tables}
        assert actual, f"{p.name}: the perturbation changed no model column (vacuous)"
        all_changed = actual | keyed
        misses = sorted(all_changed - predicted)
        if misses:
            all_misses[p.name] = misses
        unchanged = predicted - all_changed
        rows.append((p.name, p.how, len(all_changed), len(keyed - actual), len(predicted), len(unchanged), misses))
        totals["changed"] += len(all_changed)
        totals["predicted"] += len(predicted)
        totals["hit"] += len(all_changed & predicted)
        totals["unchanged"] += len(unchanged)

    elapsed = time.monotonic() - started
    recall = totals["hit"] / totals["changed"]
    precision = totals["hit"] / totals["predicted"]
    table = _format(rows, totals, recall, precision, len(all_model_columns), build_results, elapsed)
    print("\n" + table)
    (tmp_path / "accuracy.md").write_text(table, encoding="utf-8")
    record_property("accuracy_table", table)
    record_property("recall", round(recall, 4))
    record_property("precision", round(precision, 4))

    assert not all_misses, (
        "changed downstream columns that meshdiff did not predict:\n"
        + "\n".join(f"  {up}: {', '.join(m)}" for up, m in all_misses.items()) + "\n\n" + table
    )


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


def _format(rows, totals, recall, precision, n_columns, build_results, elapsed) -> str:
    lines = [
        f"meshdiff data-based accuracy on examples/ ({len(rows)} perturbations, "
        f"{n_columns} model columns in the mesh)",
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
        f"recall {recall:.1%} ({totals['hit']}/{totals['changed']} changed columns predicted); "
        f"precision {precision:.1%} ({totals['hit']}/{totals['predicted']} predicted columns changed, "
        f"{totals['unchanged']} never changed)",
        f"dbt builds: {len(build_results)} in {sum(r['seconds'] for r in build_results):.0f}s; "
        f"test total {elapsed:.0f}s",
    ]
    return "\n".join(lines)
