"""Celery's soft time limit (``SoftTimeLimitExceeded``, an ``Exception`` subclass) must reach the
task body even when it fires inside the analysis' broad ``except Exception`` handlers: the worker
registers it in ``analysis.errors.INTERRUPTS`` and those handlers re-raise it first."""
import pytest
from celery.exceptions import SoftTimeLimitExceeded

import bot.tasks  # noqa: F401  (registers the interrupt, as the worker does)
from analysis import errors
from analysis.lineage import trace as lineage
from analysis.dbt.nodes import Node
from analysis.lineage.meshlineage import mesh_lineage

SQL = "select id, upper(name) as name from main.customers"


def _mesh():
    source = Node("source.p.raw.customers", "p", "customers", "source", relation_name="main.customers")
    model = Node("model.p.m", "p", "m", "model", relation_name="main.m", compiled_sql=SQL)
    return {n.unique_id: n for n in (source, model)}


def _trace():
    nodes = _mesh()
    return mesh_lineage(nodes, list(nodes), lambda node: "duckdb", cache=None)


def _raise(exc):
    def boom(*args, **kwargs):
        raise exc
    return boom


def test_the_worker_registers_celerys_soft_time_limit():
    assert SoftTimeLimitExceeded in errors.INTERRUPTS
    before = errors.INTERRUPTS
    errors.register_interrupt(SoftTimeLimitExceeded)  # idempotent
    assert errors.INTERRUPTS == before


@pytest.mark.parametrize("where", ["qualify", "types"])
def test_soft_time_limit_during_lineage_tracing_propagates(monkeypatch, where):
    assert _trace().models["model.p.m"].status != "unknown"  # the model traces fine on its own
    if where == "qualify":
        monkeypatch.setattr(lineage, "qualify", _raise(SoftTimeLimitExceeded()))
    else:
        monkeypatch.setattr(lineage.TypeAnnotator, "annotate_scope", _raise(SoftTimeLimitExceeded()))
    with pytest.raises(SoftTimeLimitExceeded):
        _trace()


def test_other_errors_still_give_unknown_lineage(monkeypatch):
    monkeypatch.setattr(lineage, "qualify", _raise(ZeroDivisionError("bug")))
    result = _trace().models["model.p.m"]
    assert result.status == "unknown" and "ZeroDivisionError" in result.reason


def test_runner_helpers_do_not_swallow_it(monkeypatch, tmp_path):
    from bot.jobs import runner
    from bot.config import ProjectEntry

    monkeypatch.setattr("analysis.dbt.read_project", _raise(SoftTimeLimitExceeded()))
    with pytest.raises(SoftTimeLimitExceeded):
        runner._project_name(str(tmp_path), ProjectEntry(path="shop"))
    with pytest.raises(SoftTimeLimitExceeded):
        runner._upstream_names(str(tmp_path))
    monkeypatch.setattr("analysis.dbt.read_project", _raise(OSError("gone")))
    assert runner._project_name(str(tmp_path), ProjectEntry(path="shop")) == "shop"
