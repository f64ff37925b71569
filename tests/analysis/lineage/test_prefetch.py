"""Models traced ahead in worker processes (analysis.lineage.prefetch): the same answers as a
trace in order, and a worker's trace against other schemas than the walk's is never used."""
from __future__ import annotations

import dataclasses

import pytest

from analysis.lineage import prefetch
from analysis.lineage.meshlineage import mesh_lineage
from tests.analysis.lineage.test_schema import FIN, ORDER, ORDERS, SRC, STG_C, STG_O, SUMMARY, mesh, model, rel  # noqa: F401

CATALOG = {STG_C: {"customer_id": "INTEGER", "name": "VARCHAR"},
           STG_O: {"id": "BIGINT", "customer_id": "INTEGER", "amount": "DECIMAL(10,2)", "ordered_on": "DATE"},
           ORDERS: {"order_id": "BIGINT", "customer_id": "INTEGER", "amount": "DECIMAL(12,2)", "customer_name": "VARCHAR"},
           FIN: {"order_id": "BIGINT", "customer_id": "INTEGER", "amount": "DECIMAL(12,2)", "customer_name": "VARCHAR"}}
PARENTS = {STG_C: (SRC,), ORDERS: (STG_O, STG_C), FIN: (ORDERS,), SUMMARY: (FIN,)}


def answers(out) -> dict:
    return {n: (m.status, m.reason, m.columns, m.row_shaping, m.fingerprints, m.shape_fingerprint, m.types)
            for n, m in out.models.items()} | {"schemas": {n: dict(out.schemas[n]) for n in out.schemas}}


@pytest.fixture
def wired(mesh, monkeypatch):
    monkeypatch.setattr(prefetch, "MIN_MODELS", 1)
    monkeypatch.setattr(prefetch, "CHUNK", 1)
    for node_id, parents in PARENTS.items():
        mesh[node_id] = dataclasses.replace(mesh[node_id], depends_on=parents)
    return mesh


def run(nodes, **kw):
    return mesh_lineage(nodes, ORDER, lambda n: "duckdb", catalog=CATALOG, **kw)


def test_traced_ahead_same_answers(wired):
    alone = run(wired, workers=1)
    ahead = run(wired, workers=2)
    assert alone.stats.prefetched == 0
    # every model whose tables all have a known schema (catalog, source columns) came from a worker
    # (STG_C reads a source, ORDERS, FIN and SUMMARY catalogued models; STG_O's seed has no entry)
    assert ahead.stats.prefetched == 4
    assert answers(ahead) == answers(alone)


def test_a_trace_against_other_schemas_is_not_used(wired):
    # SUMMARY also reads fin_orders by its relation name, which its depends_on does not list and
    # whose schema only the walk knows (no catalog entry): the worker traced it without that
    # schema, so its trace is not used and SUMMARY is traced in order
    catalog = {k: v for k, v in CATALOG.items() if k != FIN}
    wired[SUMMARY] = model(SUMMARY, f"select customer_id, sum(amount) as total from {rel('fin_orders')} "
                                    f"join {rel('stg_customers')} using (customer_id) group by 1",
                           depends_on=(STG_C,))
    alone = mesh_lineage(wired, ORDER, lambda n: "duckdb", catalog=catalog, workers=1)
    ahead = mesh_lineage(wired, ORDER, lambda n: "duckdb", catalog=catalog, workers=2)
    assert answers(ahead) == answers(alone)
    assert ahead.stats.prefetched == 3  # STG_C, ORDERS, FIN (its parent ORDERS is catalogued); not SUMMARY
    assert {u.ref.node for u in ahead.models[SUMMARY].columns["total"]} == {FIN}


def test_worker_count(monkeypatch):
    monkeypatch.setenv("MESHDIFF_LINEAGE_WORKERS", "1")
    assert prefetch.worker_count() == 1
    monkeypatch.setenv("MESHDIFF_LINEAGE_WORKERS", "not a number")
    assert prefetch.worker_count() == 1
    assert prefetch.worker_count(3) == 3
    monkeypatch.delenv("MESHDIFF_LINEAGE_WORKERS")
    monkeypatch.setattr(prefetch.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(prefetch, "_load", lambda: 1.5)
    assert prefetch.worker_count() == 4
    monkeypatch.setattr(prefetch, "_load", lambda: 4.0)  # every core busy already: no pool
    assert prefetch.worker_count() == 1
    assert prefetch.worker_count(2) == 2  # asked for: given


def test_upstreams_with_unique_keys_are_traced_ahead_too(wired):
    """A node declared unique on a key changes what its readers are traced against (a LEFT JOIN
    on it keeps rows): the worker's trace is checked against that too, and used."""
    wired[STG_C] = dataclasses.replace(wired[STG_C], unique_keys=(("customer_id",),))
    alone = run(wired, workers=1)
    ahead = run(wired, workers=2)
    assert answers(ahead) == answers(alone)
    assert ahead.stats.prefetched == 4  # ORDERS, which reads STG_C, among them
