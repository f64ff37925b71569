"""Models per second of the one-pass lineage vs the naive per-column sqlglot lineage.

Usage: ``python -m bench.lineage_speed [--columns 30] [--ctes 3] [--repeat 20] [--mesh 200]``.
The synthetic model reads two upstream models through ``--ctes`` CTEs (a filter, a
transformation of every column, a join) and outputs ``--columns`` derived columns.
``--mesh N`` also times :func:`analysis.lineage.meshlineage.mesh_lineage` over a chain of N such models
(each reading the previous one), cold and warm (in-memory and on-disk cache).
"""
from __future__ import annotations

import argparse
import tempfile
import time

from analysis.lineage import LineageCache, TableResolver, analyse, mesh_lineage
from analysis.dbt import DeclaredColumn, Node
from bench.naive import naive_lineage


def synthetic_model(columns: int, ctes: int) -> tuple[str, TableResolver, dict]:
    cols = [f"c{i}" for i in range(columns)]
    nodes = [Node("model.p.src", "p", "src", "model", relation_name='"db"."main"."src"'),
             Node("model.p.dim", "p", "dim", "model", relation_name='"db"."main"."dim"')]
    schemas = {"model.p.src": {**{c: "INT" for c in cols}, "k": "INT", "d": "DATE"},
               "model.p.dim": {"k": "INT", "name": "TEXT"}}
    parts = [f"cte0 as (select {', '.join(cols)}, k, d from \"db\".\"main\".\"src\" where d > date '2024-01-01')"]
    for i in range(1, max(ctes - 1, 1)):
        parts.append(f"cte{i} as (select {', '.join(f'{c} + {i} as {c}' for c in cols)}, k from cte{i - 1})")
    last = len(parts) - 1
    parts.append(f"joined as (select cte{last}.*, dim.name from cte{last} left join \"db\".\"main\".\"dim\" as dim "
                 f"on cte{last}.k = dim.k)")
    select = ", ".join(f"coalesce({c}, 0) * 2 as {c}_x" for c in cols[:-1])
    sql = f"with {', '.join(parts)}\nselect {select}, name from joined"
    return sql, TableResolver.from_nodes(nodes), schemas


def synthetic_mesh(models: int, columns: int) -> dict[str, Node]:
    cols = [f"c{i}" for i in range(columns)]
    nodes = {"source.p.raw.src": Node("source.p.raw.src", "p", "raw.src", "source", relation_name='"db"."raw"."src"',
                                      columns={c: DeclaredColumn(c, "int") for c in [*cols, "k"]})}
    previous = '"db"."raw"."src"'
    for i in range(models):
        uid = f"model.p.m{i}"
        sql = (f"with base as (select * from {previous} where k > {i}),\n"
               f"step as (select {', '.join(f'{c} + 1 as {c}' for c in cols)}, k from base)\n"
               f"select {', '.join(f'coalesce({c}, 0) as {c}' for c in cols)}, k from step")
        nodes[uid] = Node(uid, "p", f"m{i}", "model", relation_name=f'"db"."main"."m{i}"', compiled_sql=sql)
        previous = f'"db"."main"."m{i}"'
    return nodes


def time_mesh(models: int, columns: int) -> None:
    nodes = synthetic_mesh(models, columns)
    order = list(nodes)
    with tempfile.TemporaryDirectory() as directory:
        cache = LineageCache(directory)
        for label, use in (("cold", cache), ("warm (memory)", cache), ("warm (disk)", LineageCache(directory))):
            out = mesh_lineage(nodes, order, lambda n: "duckdb", cache=use)
            s = out.stats
            print(f"mesh of {models} models, {label:13}: {s.seconds:6.2f} s  parsed {s.parsed:4}  hits {s.cache_hits:4}"
                  f"  ({models / s.seconds:7.1f} models/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--ctes", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--mesh", type=int, default=0, help="also time a mesh of N chained models")
    args = parser.parse_args()
    sql, tables, schemas = synthetic_model(args.columns, args.ctes)
    result = analyse("model.p.m", sql, "duckdb", tables, schemas)
    assert result.lineage.status == "ok", result.lineage.reason
    start = time.perf_counter()
    phases: dict[str, float] = {}
    for _ in range(args.repeat):
        result = analyse("model.p.m", sql, "duckdb", tables, schemas)
        for k, v in result.phases.items():
            phases[k] = phases.get(k, 0.0) + v
    one_pass = (time.perf_counter() - start) / args.repeat
    start = time.perf_counter()
    naive = naive_lineage(sql, "duckdb", tables, schemas)
    naive_s = time.perf_counter() - start
    start = time.perf_counter()
    naive_lineage(sql, "duckdb", tables, schemas, batch=True)
    batch_s = time.perf_counter() - start
    ours = {c: {u.ref for u in ups} for c, ups in result.lineage.columns.items()}
    same = sum(ours.get(c) == refs for c, refs in naive.items())
    print(f"model: {args.columns} columns, {args.ctes} CTEs")
    print(f"one pass : {one_pass * 1000:7.1f} ms/model  ({1 / one_pass:6.1f} models/s)  "
          + ", ".join(f"{k} {v / args.repeat * 1000:.1f} ms" for k, v in phases.items()))
    print(f"naive    : {naive_s * 1000:7.1f} ms/model  ({1 / naive_s:6.1f} models/s)  (lineage() per column)")
    print(f"batch    : {batch_s * 1000:7.1f} ms/model  ({1 / batch_s:6.1f} models/s)  (sqlglot lineage(None))")
    print(f"same upstream sets as naive: {same}/{len(naive)} columns")
    if args.mesh:
        time_mesh(args.mesh, args.columns)


if __name__ == "__main__":
    main()
