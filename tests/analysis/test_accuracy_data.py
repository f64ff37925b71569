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

import shutil
from pathlib import Path

import pytest

from analysis.pipeline import ProjectSpec, mesh_at_rest
from tests import accuracy_helpers as acc
from tests.accuracy_measure import measure
from tests.paths import ROOT

pytestmark = pytest.mark.dbt

REPO = Path(ROOT)
EXAMPLES = REPO / "examples"


def test_every_changed_column_is_predicted(tmp_path, monkeypatch, record_property):
    monkeypatch.setenv("MESHDIFF_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "examples"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("target", "logs"))

    def state():
        return mesh_at_rest(ProjectSpec(str(EXAMPLES / "shop")),
                            [ProjectSpec(str(EXAMPLES / "finance")), ProjectSpec(str(EXAMPLES / "exec_reporting"))],
                            cache_dir=str(tmp_path / "cache"))

    def check(state):
        assert state.warnings == [], state.warnings
        assert all(m.status == "ok" for m in state.lineage.models.values()), \
            {k: (m.status, m.reason) for k, m in state.lineage.models.items() if m.status != "ok"}

    out = measure(tmp_path, root, acc.PERTURBATIONS, state, title="examples/", check_state=check)
    print("\n" + out.table)
    (tmp_path / "accuracy.md").write_text(out.table, encoding="utf-8")
    record_property("accuracy_table", out.table)
    record_property("recall", round(out.recall, 4))
    record_property("precision", round(out.precision, 4))
    assert not out.misses, (
        "changed downstream columns that meshdiff did not predict:\n"
        + "\n".join(f"  {up}: {', '.join(m)}" for up, m in out.misses.items()) + "\n\n" + out.table
    )
    # issue 10: measured 85.5% (60% before); the data are fixed, so this is no flaky bound
    assert out.precision >= 0.85, out.table
