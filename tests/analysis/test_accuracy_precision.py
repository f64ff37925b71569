"""Data-based accuracy on the precision mesh (issue 10): no false alarms where dbt Labs' projects got them.

``tests/analysis/precision_mesh`` (platform -> marketing through dbt-loom) has the patterns that
made meshdiff report columns that never change: seeds loading the tables its sources read,
sources without declared columns, a ``read_csv`` source, staging models that ``select *`` from
a source in a CTE, window functions, LEFT JOINs on keys proven unique (``unique`` tests, a
``primary_key`` constraint, GROUP BY outputs) and one on a key that is not. The method is
:mod:`tests.accuracy_measure`'s (the same as ``test_accuracy_data.py``): every upstream column
perturbed in its CSV, the mesh rebuilt with dbt on DuckDB, every model column compared.

Asserted: recall 100% and precision at least 80%; meshdiff's lineage of every model is ``ok``
(never ``unknown`` nor ``partial``). ``pytest -s`` prints the table (README, Accuracy).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analysis.pipeline import ProjectSpec, mesh_at_rest
from tests.accuracy_helpers import Perturbation, _every, _on_every, _shift_ts
from tests.accuracy_measure import measure

pytestmark = pytest.mark.dbt

MESH = Path(__file__).parent / "precision_mesh"
STEPS = [("platform", ["seed"]), ("platform", ["run"]), ("marketing", ["run"])]  # sources read the seeds: seed first
EVENTS = "source.platform.files.events"


def _seed(name: str, column: str, how: str, change) -> Perturbation:
    return Perturbation(f"seed.platform.{name}", column, f"platform/seeds/{name}.csv", how, change)


def _event(column: str, how: str, change) -> Perturbation:
    return Perturbation(EVENTS, column, "platform/data/events.csv", how, change)


PERTURBATIONS = [
    _seed("raw_customers", "id", "ids 1..10 rotated (k -> k % 10 + 1), id 40 -> 41 (its orders lose it)",
          lambda v, i: str(int(v) % 10 + 1) if int(v) <= 10 else ("41" if v == "40" else v)),
    _seed("raw_customers", "name", "append 'x'", lambda v, i: v + "x"),
    _seed("raw_customers", "email", "every 2nd: another domain", _on_every(2, lambda v, i: v.replace("example", "mail"))),
    _seed("raw_customers", "region", "north -> west", lambda v, i: "west" if v == "north" else v),
    _seed("raw_orders", "id", "order ids > 80 -> id + 100 (they lose their events)",
          lambda v, i: str(int(v) + 100) if int(v) > 80 else v),
    _seed("raw_orders", "customer_id", "every 3rd order moved to customer c % 40 + 1",
          _on_every(3, lambda v, i: str(int(v) % 40 + 1))),
    _seed("raw_orders", "ordered_at", "every 2nd order +30 days", _on_every(2, _shift_ts(24 * 30))),
    _seed("raw_orders", "status", "every 2nd order: placed->shipped->completed->returned->placed",
          _every(2, {"placed": "shipped", "shipped": "completed", "completed": "returned", "returned": "placed"})),
    _seed("raw_orders", "amount_cents", "every 2nd x3, the others +7", lambda v, i: str(int(v) * 3 if i % 2 == 0
                                                                                       else int(v) + 7)),
    _event("event_id", "event ids + 1000", lambda v, i: str(int(v) + 1000)),
    _event("order_id", "every 4th event moved to order o % 60 + 1",
           _on_every(4, lambda v, i: str(int(v) % 60 + 1))),
    _event("event_type", "every 3rd 'created' -> 'paid'", _on_every(3, lambda v, i: "paid" if v == "created" else v)),
    _event("channel", "web -> app -> store -> web", lambda v, i: {"web": "app", "app": "store", "store": "web"}[v]),
    _event("event_ts", "every 3rd event +36 hours", _on_every(3, _shift_ts(36))),
]


def test_every_changed_column_is_predicted_and_few_are_not_changed(tmp_path, monkeypatch, record_property):
    monkeypatch.setenv("MESHDIFF_CACHE_DIR", str(tmp_path / "cache"))
    root, mine = tmp_path / "mesh", tmp_path / "predicted"  # dbt builds in one, meshdiff compiles the other
    for target in (root, mine):
        shutil.copytree(MESH, target, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))

    def state():
        return mesh_at_rest(ProjectSpec(str(mine / "platform")), [ProjectSpec(str(mine / "marketing"))],
                            cache_dir=str(tmp_path / "cache"))

    def check(state):
        assert state.warnings == [], state.warnings
        assert {k: (m.status, m.reason) for k, m in state.lineage.models.items() if m.status != "ok"} == {}

    out = measure(tmp_path, root, PERTURBATIONS, state, title="tests/analysis/precision_mesh/", check_state=check,
                  plan={"steps": STEPS, "db_variable": "MESHDIFF_PRECISION_DB", "snapshot_in": "platform"})
    print("\n" + out.table)
    record_property("accuracy_table", out.table)
    record_property("recall", round(out.recall, 4))
    record_property("precision", round(out.precision, 4))
    assert not out.misses, (
        "changed downstream columns that meshdiff did not predict:\n"
        + "\n".join(f"  {up}: {', '.join(m)}" for up, m in out.misses.items()) + "\n\n" + out.table)
    assert out.precision >= 0.80, out.table
