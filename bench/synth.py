"""Synthetic dbt meshes for the benchmark: manifest dicts (dbt manifest v12 shape), no dbt run.

``generate(models=5000, projects=5, seed=7)`` builds a mesh of ``projects`` dbt projects
holding ``models`` models in all (split evenly), and returns one manifest dict per project,
shaped like the ``target/manifest.json`` that ``dbt compile`` with dbt-loom writes:

- ``nodes`` with ``compiled_code``, ``raw_code``, ``relation_name``, ``depends_on``,
  ``columns`` (with ``data_type`` where a contract is enforced), ``config``, ``access``,
  ``group``, ``checksum``...; two generic tests per model (``not_null``/``unique``); seeds
  (with ``column_types`` and a CSV written by :func:`write_mesh`); ``sources``;
  ``exposures``; ``groups``; ``macros`` (as many as dbt-core + dbt-duckdb ship, ~500);
  ``parent_map``/``child_map``;
- in a consumer project, dbt-loom skeletons of every node of its upstream projects (no file,
  no SQL, no columns, ``resource_type: model`` even for seeds), as dbt-loom injects them.

Project ``i`` reads the public models of projects ``i-1`` and ``i-2`` (cross-project
``ref``\\ s rendered to the producer's ``relation_name``). Each project has sources (and,
for the first, seeds), a staging layer, three intermediate layers and marts (a third of
them public with an enforced contract). The SQL is what dbt users write: CTE chains in the
dbt style (``source`` / ``renamed`` / ``final``), ``select *`` and ``* exclude``, joins
(left/inner, on one or two keys), aggregates with ``group by``/``having``, window functions,
``union all`` / ``union``, ``qualify``, and wide models of 100-180 columns. Every model
carries ``entity_id`` and ``event_date``, so any two models can be joined.

Everything is drawn from ``random.Random(seed)``: the same arguments give byte-identical
manifests. :func:`pr_head` derives the manifests of a pull request that edits one model
(change an expression, add a column, remove a column), leaving every other byte alone.

``python -m bench.synth --models 300 --check`` executes every generated model in an
in-memory DuckDB (empty source tables) to prove the SQL is valid.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import random
from dataclasses import dataclass, field

DATABASE = "warehouse"
ADAPTER = "duckdb"
DBT_VERSION = "1.11.16"

TOPICS = ["orders", "customers", "payments", "sessions", "products", "invoices", "shipments", "tickets",
          "subscriptions", "campaigns", "accounts", "events", "refunds", "inventory", "leads", "visits"]
NUM_ROOTS = ["amount", "quantity", "price", "discount", "tax", "cost", "revenue", "margin", "score",
             "duration_s", "weight", "balance", "clicks", "views", "units", "fee"]
STR_ROOTS = ["status", "channel", "country_code", "currency", "category", "segment", "region", "plan",
             "device", "email_domain", "tier", "source_system", "carrier", "language"]
DATE_ROOTS = ["created_date", "updated_date", "shipped_date", "closed_date"]
TS_ROOTS = ["created_at", "updated_at", "loaded_at"]
BOOL_ROOTS = ["is_active", "is_deleted", "is_test", "has_discount", "is_paid"]
NUM_TYPES = ["bigint", "integer", "double", "decimal(18,2)"]
NUMERIC = {"bigint", "integer", "double", "decimal(18,2)", "hugeint"}


@dataclass
class Col:
    name: str
    type: str  # a DuckDB type, lower case
    root: str  # the vocabulary word it derives from (names derived columns)


@dataclass
class Model:
    """One generated model: its SQL in three parts, so a PR can edit the final SELECT."""

    uid: str
    project: str
    name: str
    layer: int  # 0 staging, 1..3 intermediate, 4 marts
    kind: str
    parents: list[str]
    columns: list[Col]
    head: str  # everything before the final projection list ("... select\n    ")
    items: list[str]  # the final projection list
    tail: str  # everything after it ("\nfrom ...")
    aggregate: bool = False  # final SELECT groups: an added column must be an aggregate
    access: str = "protected"
    contract: bool = False
    group: str = ""
    folder: str = ""

    @property
    def sql(self) -> str:
        return self.head + ",\n    ".join(self.items) + self.tail


@dataclass
class Relation:
    """A source or seed (something a staging model reads)."""

    uid: str
    project: str
    name: str
    kind: str  # source | seed
    relation_name: str
    columns: list[Col]
    declared: bool = True  # sources: are the columns declared in YAML?
    typed: bool = True  # seeds: column_types given for every column?


@dataclass
class SynthMesh:
    projects: list[str]
    upstreams: dict[str, list[str]]
    manifests: dict[str, dict]
    models: dict[str, Model] = field(repr=False)
    relations: dict[str, Relation] = field(repr=False)
    seed: int = 0

    @property
    def model_count(self) -> int:
        return len(self.models)

    def descendants(self) -> dict[str, set[str]]:
        """Model id -> every model downstream of it (from ``depends_on``)."""
        children: dict[str, list[str]] = {}
        for m in self.models.values():
            for p in m.parents:
                children.setdefault(p, []).append(m.uid)
        out: dict[str, set[str]] = {}
        for uid in reversed(list(self.models)):  # generation order is topological
            acc: set[str] = set()
            for c in children.get(uid, ()):
                acc.add(c)
                acc |= out.get(c, set())
            out[uid] = acc
        return out


# -- helpers ---------------------------------------------------------------------------------

def _q(*parts: str) -> str:
    return ".".join(f'"{p}"' for p in parts)


def _is_num(t: str) -> bool:
    return t in NUMERIC


class _Names:
    """Unique column names inside one SELECT."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, name: str) -> str:
        base = name[:40]
        out, i = base, 2
        while out in self.used:
            out, i = f"{base}_{i}", i + 1
        self.used.add(out)
        return out


def _derive(rng: random.Random, c: Col, other: Col | None, ref: str = "") -> tuple[str, str, str]:
    """A derived expression over column ``c``: (sql, output type, name suffix)."""
    x = f"{ref}{c.name}"
    if _is_num(c.type):
        y = f"{ref}{other.name}" if other is not None and _is_num(other.type) else None
        options = [
            (f"coalesce({x}, 0)", c.type, "filled"),
            (f"round({x} * 1.1, 2)", "double", "adj"),
            (f"abs({x})", c.type, "abs"),
            (f"case when {x} > 100 then 'high' when {x} > 10 then 'mid' else 'low' end", "varchar", "bucket"),
            (f"cast({x} as double) / 100.0", "double", "pct"),
            (f"greatest({x}, 0)", c.type, "pos"),
        ]
        if y:
            options += [(f"{x} + coalesce({y}, 0)", "double", "plus"), (f"{x} - {y}", "double", "delta")]
        return rng.choice(options)
    if c.type == "varchar":
        return rng.choice([
            (f"lower({x})", "varchar", "norm"),
            (f"trim({x})", "varchar", "clean"),
            (f"upper(substr({x}, 1, 3))", "varchar", "code"),
            (f"coalesce({x}, 'unknown')", "varchar", "filled"),
            (f"{x} is not null", "boolean", "present"),
            (f"length({x})", "bigint", "len"),
            (f"concat({x}, '-', 'x')", "varchar", "key"),
        ])
    if c.type == "date":
        return rng.choice([
            (f"date_trunc('month', {x})", "date", "month"),
            (f"{x} + interval 1 day", "timestamp", "next"),
            (f"extract(year from {x})", "bigint", "year"),
            (f"coalesce({x}, date '1970-01-01')", "date", "filled"),
        ])
    if c.type == "timestamp":
        return rng.choice([
            (f"cast({x} as date)", "date", "day"),
            (f"date_trunc('hour', {x})", "timestamp", "hour"),
            (f"extract(hour from {x})", "bigint", "hour_of_day"),
        ])
    if c.type == "boolean":
        return rng.choice([(f"not coalesce({x}, false)", "boolean", "not"),
                           (f"case when {x} then 1 else 0 end", "integer", "flag")])
    return f"cast({x} as varchar)", "varchar", "text"


def _pick(rng: random.Random, cols: list[Col], k: int) -> list[Col]:
    """``k`` columns of ``cols`` (keys excluded), in their original order."""
    pool = [c for c in cols if c.name not in ("entity_id", "event_date")]
    if k >= len(pool):
        return pool
    chosen = set(id(c) for c in rng.sample(pool, k))
    return [c for c in pool if id(c) in chosen]


def _keys() -> list[Col]:
    return [Col("entity_id", "bigint", "entity_id"), Col("event_date", "date", "event_date")]


# -- model templates -------------------------------------------------------------------------
# Each returns (head, items, tail, columns, aggregate). ``rel`` maps a parent id to its relation.

def _staging(rng, src: Relation, topic: str, names: _Names):
    cols = src.columns
    out = _keys()
    names.used |= {"entity_id", "event_date"}
    id_col = cols[0].name
    ts_col = next((c.name for c in cols if c.type in ("timestamp", "date", "varchar") and c.name in TS_ROOTS + DATE_ROOTS),
                  None)
    lines = [f"{id_col} as entity_id",
             f"cast({ts_col} as date) as event_date" if ts_col else "current_date as event_date"]
    for c in cols[1:]:
        if c.name in (id_col, ts_col):
            continue
        r = rng.random()
        if src.kind == "seed" and c.type == "varchar" and c.root in DATE_ROOTS:
            name = names.take(c.root)
            lines.append(f"cast({c.name} as date) as {name}")
            out.append(Col(name, "date", c.root))
        elif r < 0.45:
            name = names.take(c.name)
            lines.append(c.name if name == c.name else f"{c.name} as {name}")
            out.append(Col(name, c.type, c.root))
        elif r < 0.7:
            name = names.take(f"{c.root}_{rng.choice(['raw', 'src', 'value'])}")
            lines.append(f"{c.name} as {name}")
            out.append(Col(name, c.type, c.root))
        elif _is_num(c.type) and r < 0.85:
            name = names.take(c.root)
            lines.append(f"cast({c.name} as decimal(18,2)) as {name}")
            out.append(Col(name, "decimal(18,2)", c.root))
        else:
            sql, t, suffix = _derive(rng, c, None)
            name = names.take(f"{c.root}_{suffix}")
            lines.append(f"{sql} as {name}")
            out.append(Col(name, t, c.root))
    body = ",\n        ".join(lines)
    head = (f"-- staging model for {topic}: one row per record of {src.name}\n"
            f"with source as (\n\n    select * from {src.relation_name}\n\n),\n\n"
            f"renamed as (\n\n    select\n        {body}\n    from source\n\n)\n\nselect\n    ")
    return head, ["*"], "\nfrom renamed", out, False


def _stg_upstream(rng, parent: Model, rel: str, names: _Names):
    """A consumer's staging model over a producer's public model (cross-project ref)."""
    names.used |= {"entity_id", "event_date"}
    out = _keys()
    if rng.random() < 0.4:
        return (f"-- consumer view of {parent.project}.{parent.name}\nselect\n    ", ["*"], f"\nfrom {rel}",
                [Col(c.name, c.type, c.root) for c in parent.columns], False)
    items = ["entity_id", "event_date"]
    for c in _pick(rng, parent.columns, rng.randint(5, 20)):
        if rng.random() < 0.7:
            name = names.take(c.name)
            items.append(c.name if name == c.name else f"{c.name} as {name}")
            out.append(Col(name, c.type, c.root))
        else:
            sql, t, suffix = _derive(rng, c, None)
            name = names.take(f"{c.root}_{suffix}")
            items.append(f"{sql} as {name}")
            out.append(Col(name, t, c.root))
    head = f"-- consumer view of {parent.project}.{parent.name}\nselect\n    "
    tail = f"\nfrom {rel}\nwhere event_date >= date '2019-01-01'"
    return head, items, tail, out, False


def _cte_chain(rng, p: Model, rel: str, names: _Names):
    names.used |= {"entity_id", "event_date"}
    keep = _pick(rng, p.columns, rng.randint(4, 18))
    lines, out = ["entity_id", "event_date"], _keys()
    for c in keep:
        name = names.take(c.name if rng.random() < 0.7 else f"{c.root}_{rng.choice(['v', 'val', 'src'])}")
        lines.append(c.name if name == c.name else f"{c.name} as {name}")
        out.append(Col(name, c.type, c.root))
    for c in _pick(rng, p.columns, rng.randint(1, 5)):
        other = rng.choice(p.columns)
        sql, t, suffix = _derive(rng, c, other)
        name = names.take(f"{c.root}_{suffix}")
        lines.append(f"{sql} as {name}")
        out.append(Col(name, t, c.root))
    where = rng.choice(["event_date >= date '2020-01-01'", "entity_id is not null",
                        "event_date between date '2020-01-01' and current_date"])
    enriched = ",\n        ".join(lines)
    head = (f"with base as (\n\n    select * from {rel}\n    where {where}\n\n),\n\n"
            f"enriched as (\n\n    select\n        {enriched}\n    from base\n\n),\n\n"
            f"deduped as (\n\n    select\n        *,\n        row_number() over (\n"
            f"            partition by entity_id\n            order by event_date desc\n        ) as rn\n"
            f"    from enriched\n\n)\n\nselect\n    ")
    if rng.random() < 0.5:
        items = ["* exclude (rn)"]
    else:
        items = [c.name for c in out]
    return head, items, "\nfrom deduped\nwhere rn = 1", out, False


def _join(rng, ps: list[Model], rels: list[str], names: _Names):
    names.used |= {"entity_id", "event_date"}
    aliases = ["a", "b", "c", "d"][: len(ps)]
    ctes, items, out = [], ["a.entity_id", "a.event_date"], _keys()
    for i, (p, rel, al) in enumerate(zip(ps, rels, aliases)):
        cols = _pick(rng, p.columns, rng.randint(3, 10) if i else rng.randint(5, 14))
        sel = ",\n        ".join(["entity_id", "event_date", *[c.name for c in cols]])
        where = "" if rng.random() < 0.5 else f"\n    where {rng.choice(['entity_id is not null', 'event_date >= date ' + repr('2021-01-01')])}"
        ctes.append(f"{al} as (\n\n    select\n        {sel}\n    from {rel}{where}\n\n)")
        stem = p.name.split("_")[1] if "_" in p.name else p.name
        for c in cols:
            r = rng.random()
            if i == 0 and r < 0.8:
                name = names.take(c.name)
                items.append(f"{al}.{c.name}" if name == c.name else f"{al}.{c.name} as {name}")
                out.append(Col(name, c.type, c.root))
            elif r < 0.75:
                name = names.take(f"{stem}_{c.root}")
                items.append(f"{al}.{c.name} as {name}")
                out.append(Col(name, c.type, c.root))
            else:
                sql, t, suffix = _derive(rng, c, None, f"{al}.")
                name = names.take(f"{stem}_{c.root}_{suffix}")
                items.append(f"{sql} as {name}")
                out.append(Col(name, t, c.root))
    joins = []
    for al in aliases[1:]:
        kind = rng.choice(["left join", "left join", "inner join"])
        on = f"a.entity_id = {al}.entity_id"
        if rng.random() < 0.5:
            on += f"\n        and a.event_date = {al}.event_date"
        joins.append(f"{kind} {al}\n        on {on}")
    head = "with " + ",\n\n".join(ctes) + "\n\nselect\n    "
    tail = "\nfrom a\n" + "\n".join(joins)
    if rng.random() < 0.4:  # dbt style: everything in a `final` CTE
        final = ",\n        ".join(items)
        head = ("with " + ",\n\n".join(ctes) + f",\n\nfinal as (\n\n    select\n        {final}\n    from a\n    "
                + "\n    ".join(joins) + "\n\n)\n\nselect\n    ")
        return head, ["*"], "\nfrom final", out, False
    return head, items, tail, out, False


def _aggregate(rng, p: Model, rel: str, names: _Names):
    names.used |= {"entity_id", "event_date"}
    grain = rng.choice(["month", "week", "day"])
    items = ["entity_id", f"date_trunc('{grain}', event_date) as event_date"]
    out = [Col("entity_id", "bigint", "entity_id"), Col("event_date", "date", "event_date")]
    nums = [c for c in p.columns if _is_num(c.type) and c.name != "entity_id"]
    others = [c for c in p.columns if not _is_num(c.type) and c.name not in ("entity_id", "event_date")]
    for c in rng.sample(nums, min(len(nums), rng.randint(2, 8))):
        fn, t, suffix = rng.choice([("sum", "double" if c.type == "double" else "decimal(38,2)" if c.type.startswith("decimal") else "hugeint", "total"),
                                    ("avg", "double", "avg"), ("max", c.type, "max"), ("min", c.type, "min")])
        name = names.take(f"{c.root}_{suffix}")
        items.append(f"{fn}({c.name}) as {name}")
        out.append(Col(name, t, c.root))
    rc = names.take("row_count")
    items.append(f"count(*) as {rc}")
    out.append(Col(rc, "bigint", "row_count"))
    for c in rng.sample(others, min(len(others), rng.randint(0, 3))):
        if c.type == "boolean":
            name = names.take(f"{c.root}_any")
            items.append(f"bool_or({c.name}) as {name}")
            out.append(Col(name, "boolean", c.root))
        elif c.type in ("date", "timestamp"):
            name = names.take(f"{c.root}_last")
            items.append(f"max({c.name}) as {name}")
            out.append(Col(name, c.type, c.root))
        else:
            name = names.take(f"{c.root}_distinct")
            items.append(f"count(distinct {c.name}) as {name}")
            out.append(Col(name, "bigint", c.root))
    where = rng.choice(["", "\nwhere entity_id is not null", "\nwhere event_date >= date '2020-01-01'"])
    having = rng.choice(["", "\nhaving count(*) > 0"])
    if rng.random() < 0.35:
        head = (f"with filtered as (\n\n    select * from {rel}{where.replace(chr(10), chr(10) + '    ')}\n\n)"
                f"\n\nselect\n    ")
        return head, items, f"\nfrom filtered\ngroup by 1, 2{having}", out, True
    return "select\n    ", items, f"\nfrom {rel}{where}\ngroup by 1, 2{having}", out, True


def _window(rng, p: Model, rel: str, names: _Names):
    names.used |= {"entity_id", "event_date"}
    cols = _pick(rng, p.columns, rng.randint(3, 14))
    for c in cols:
        names.take(c.name)
    out = [*_keys(), *[Col(c.name, c.type, c.root) for c in cols]]
    nums = [c for c in cols if _is_num(c.type)] or [Col("entity_id", "bigint", "entity")]
    strs = [c for c in cols if c.type == "varchar"]
    wins = []
    for _ in range(rng.randint(2, 5)):
        c = rng.choice(nums)
        part = "entity_id" if not strs or rng.random() < 0.7 else rng.choice(strs).name
        spec = rng.choice([
            (f"sum({c.name}) over (\n            partition by {part}\n            order by event_date\n"
             f"            rows between unbounded preceding and current row\n        )", "double", f"{c.root}_running"),
            (f"lag({c.name}) over (partition by {part} order by event_date)", c.type, f"{c.root}_prev"),
            (f"lead({c.name}, 1) over (partition by {part} order by event_date)", c.type, f"{c.root}_next"),
            (f"avg({c.name}) over (partition by {part})", "double", f"{c.root}_avg_by_{part}"),
            ("row_number() over (partition by entity_id order by event_date desc)", "bigint", "recency_rank"),
            (f"dense_rank() over (partition by {part} order by {c.name} desc)", "bigint", f"{c.root}_rank"),
        ])
        name = names.take(spec[2])
        wins.append(f"{spec[0]} as {name}")
        out.append(Col(name, spec[1], c.root))
    src = ",\n        ".join(["entity_id", "event_date", *[c.name for c in cols]])
    win = ",\n        ".join(wins)
    head = (f"with src as (\n\n    select\n        {src}\n    from {rel}\n\n),\n\n"
            f"windowed as (\n\n    select\n        *,\n        {win}\n    from src\n\n)\n\nselect\n    ")
    tail = "\nfrom windowed"
    if rng.random() < 0.25:
        tail = "\nfrom windowed\nqualify row_number() over (partition by entity_id, event_date order by entity_id) = 1"
    return head, ["*"], tail, out, False


def _union(rng, ps: list[Model], rels: list[str], names: _Names):
    names.used |= {"entity_id", "event_date", "source_model"}
    slots: list[Col] = []
    first = ps[0]
    for c in _pick(rng, first.columns, rng.randint(3, 10)):
        slots.append(Col(names.take(c.root if c.root not in names.used else c.name), c.type, c.root))
    branches = []
    for p, rel in zip(ps, rels):
        by_type: dict[str, list[Col]] = {}
        for c in p.columns:
            by_type.setdefault(c.type, []).append(c)
        sel = ["entity_id", "event_date"]
        used: set[str] = set()
        for s in slots:
            cands = [c for c in by_type.get(s.type, []) if c.name not in used and c.name not in ("entity_id", "event_date")]
            if cands:
                c = next((x for x in cands if x.root == s.root), cands[0])
                used.add(c.name)
                sel.append(f"cast({c.name} as {s.type}) as {s.name}" if c.name != s.name else f"cast({c.name} as {s.type}) as {c.name}")
            else:
                sel.append(f"cast(null as {s.type}) as {s.name}")
        sel.append(f"'{p.name}' as source_model")
        branches.append("    select\n        " + ",\n        ".join(sel) + f"\n    from {rel}")
    op = "\n\n    union all\n\n" if rng.random() < 0.8 else "\n\n    union\n\n"
    head = "with unioned as (\n\n" + op.join(branches) + "\n\n)\n\nselect\n    "
    out = [*_keys(), *slots, Col("source_model", "varchar", "source_model")]
    return head, ["*"], "\nfrom unioned", out, False


def _star(rng, ps: list[Model], rels: list[str], names: _Names):
    p = ps[0]
    for c in p.columns:
        names.take(c.name)
    out = [Col(c.name, c.type, c.root) for c in p.columns]
    items = ["o.*"]
    tail = f"\nfrom {rels[0]} as o"
    if len(ps) > 1:
        q = ps[1]
        stem = q.name.split("_")[1] if "_" in q.name else q.name
        for c in _pick(rng, q.columns, rng.randint(1, 5)):
            name = names.take(f"{stem}_{c.root}")
            items.append(f"x.{c.name} as {name}")
            out.append(Col(name, c.type, c.root))
        tail += f"\nleft join {rels[1]} as x\n    on o.entity_id = x.entity_id"
    for c in _pick(rng, p.columns, rng.randint(1, 4)):
        sql, t, suffix = _derive(rng, c, rng.choice(p.columns), "o.")
        name = names.take(f"{c.root}_{suffix}")
        items.append(f"{sql} as {name}")
        out.append(Col(name, t, c.root))
    if rng.random() < 0.5:
        tail += "\nwhere o.event_date >= date '2020-01-01'"
    return "select\n    ", items, tail, out, False


def _wide(rng, ps: list[Model], rels: list[str], names: _Names, target: int):
    """100+ columns: ``a.*`` plus the other parents' columns, plus derived columns."""
    aliases = ["a", "b", "c", "d"][: len(ps)]
    if len(ps[0].columns) <= 100:
        first = ps[0].columns
        joined = ["a.*"]
    else:  # already wide: take part of it, explicitly
        first = [*_keys(), *_pick(rng, ps[0].columns, 60)]
        joined = [f"a.{c.name}" for c in first]
    for c in first:
        names.take(c.name)
    out = [Col(c.name, c.type, c.root) for c in first]
    for p, al in zip(ps[1:], aliases[1:]):
        stem = p.name.split("_")[1] if "_" in p.name else p.name
        for c in _pick(rng, p.columns, 40):
            name = names.take(f"{al}_{stem}_{c.root}")
            joined.append(f"{al}.{c.name} as {name}")
            out.append(Col(name, c.type, c.root))
    ctes = [f"{al} as (\n\n    select * from {rel}\n\n)" for al, rel in zip(aliases, rels)]
    joins = "\n    ".join(f"left join {al}\n        on a.entity_id = {al}.entity_id and a.event_date = {al}.event_date"
                           for al in aliases[1:])
    sel = ",\n        ".join(joined)
    head = ("with " + ",\n\n".join(ctes)
            + f",\n\njoined as (\n\n    select\n        {sel}\n    from a\n    {joins}\n\n)\n\nselect\n    ")
    items = ["*"]
    base = list(out)
    while len(out) < target:
        c = rng.choice(base)
        sql, t, suffix = _derive(rng, c, rng.choice(base))
        name = names.take(f"{c.root}_{suffix}")
        items.append(f"{sql} as {name}")
        out.append(Col(name, t, c.root))
    return head, items, "\nfrom joined", out, False


def _mart(rng, ps: list[Model], rels: list[str], names: _Names, width: int):
    """A public mart: explicit column list (its contract lists the same columns)."""
    names.used |= {"entity_id", "event_date"}
    p = ps[0]
    items, out = ["base.entity_id", "base.event_date"], _keys()
    for c in _pick(rng, p.columns, width):
        name = names.take(c.name)
        items.append(f"base.{c.name}" if name == c.name else f"base.{c.name} as {name}")
        out.append(Col(name, c.type, c.root))
    joins = ""
    ctes = [f"base as (\n\n    select * from {rels[0]}\n    where entity_id is not null\n\n)"]
    if len(ps) > 1:
        q = ps[1]
        stem = q.name.split("_")[1] if "_" in q.name else q.name
        metrics = _pick(rng, q.columns, rng.randint(2, 8))
        sel = ",\n        ".join(["entity_id", *[c.name for c in metrics]])
        ctes.append(f"lookup as (\n\n    select\n        {sel}\n    from {rels[1]}\n"
                    f"    qualify row_number() over (partition by entity_id order by event_date desc) = 1\n\n)")
        for c in metrics:
            name = names.take(f"{stem}_{c.root}")
            items.append(f"lookup.{c.name} as {name}")
            out.append(Col(name, c.type, c.root))
        joins = "\nleft join lookup\n    on base.entity_id = lookup.entity_id"
    for c in _pick(rng, p.columns, rng.randint(1, 4)):
        sql, t, suffix = _derive(rng, c, rng.choice(p.columns), "base.")
        name = names.take(f"{c.root}_{suffix}")
        items.append(f"{sql} as {name}")
        out.append(Col(name, t, c.root))
    head = f"-- mart: contract enforced, consumed by other projects\nwith " + ",\n\n".join(ctes) + "\n\nselect\n    "
    return head, items, f"\nfrom base{joins}", out, False


# -- the mesh --------------------------------------------------------------------------------

def _project_names(n: int) -> list[str]:
    base = ["core", "sales", "finance", "marketing", "product", "ops", "risk", "growth", "support", "exec"]
    return [base[i] if i < len(base) else f"domain{i}" for i in range(n)]


def generate(models: int = 5000, projects: int = 5, seed: int = 7, *, wide_share: float = 0.06,
             tests_per_model: int = 2, macros: int = 500) -> SynthMesh:
    """A deterministic synthetic mesh (see the module docstring)."""
    rng = random.Random(seed)
    names = _project_names(projects)
    upstreams = {p: names[max(0, i - 2):i] for i, p in enumerate(names)}
    per = [models // projects + (1 if i < models % projects else 0) for i in range(projects)]
    all_models: dict[str, Model] = {}
    relations: dict[str, Relation] = {}
    public: dict[str, list[str]] = {p: [] for p in names}

    for pi, project in enumerate(names):
        count = per[pi]
        # sources (and seeds in the first project)
        own_sources: list[Relation] = []
        n_sources = max(3, count // (15 if pi == 0 else 60))
        for si in range(n_sources):
            topic = TOPICS[si % len(TOPICS)]
            cols = [Col("id", "bigint", "id"), Col(rng.choice(TS_ROOTS), "timestamp", "created_at")]
            taken = {cols[1].name, "id"}
            for _ in range(rng.randint(6, 28)):
                kind = rng.random()
                root, t = ((rng.choice(NUM_ROOTS), rng.choice(NUM_TYPES)) if kind < 0.45 else
                           (rng.choice(STR_ROOTS), "varchar") if kind < 0.8 else
                           (rng.choice(DATE_ROOTS), "date") if kind < 0.9 else (rng.choice(BOOL_ROOTS), "boolean"))
                name = root if root not in taken else f"{root}_{len(taken)}"
                taken.add(name)
                cols.append(Col(name, t, root))
            is_seed = pi == 0 and si % 8 == 7
            if is_seed:
                name = f"raw_{topic}_{si}"
                cols = [Col(c.name, "varchar" if c.type in ("date", "timestamp") else c.type, c.root) for c in cols]
                rel = Relation(f"seed.{project}.{name}", project, name, "seed", _q(DATABASE, "seeds", name), cols,
                               typed=si % 16 != 15)
            else:
                src_name = f"{topic}_{si}"
                rel = Relation(f"source.{project}.raw_{topic}.{src_name}", project, f"raw_{topic}.{src_name}", "source",
                               _q(DATABASE, f"raw_{project}", src_name), cols, declared=rng.random() > 0.05)
            relations[rel.uid] = rel
            own_sources.append(rel)

        # layers: 0 staging 15%, 1-3 intermediate 50%, 4 marts 35%
        shares = [0.15, 0.2, 0.17, 0.13, 0.35]
        sizes = [max(1, int(count * s)) for s in shares]
        sizes[1] += count - sum(sizes)
        layer_models: list[list[str]] = [[] for _ in shares]
        hubs: list[str] = []
        upstream_public = [u for up in upstreams[project] for u in public[up]]
        serial = 0
        for layer, size in enumerate(sizes):
            for _ in range(size):
                serial += 1
                topic = rng.choice(TOPICS)
                col_names = _Names()
                parents: list[Model]
                if layer == 0:
                    if upstream_public and rng.random() < 0.5:
                        parent = all_models[rng.choice(upstream_public)]
                        parents = [parent]
                        head, items, tail, cols, agg = _stg_upstream(rng, parent, _q(*_rel_parts(parent)), col_names)
                        kind, mname = "staging", f"stg_{parent.project}__{parent.name}_{serial}"
                        parent_ids = [parent.uid]
                    else:
                        src = rng.choice(own_sources)
                        head, items, tail, cols, agg = _staging(rng, src, topic, col_names)
                        kind, mname, parent_ids, parents = "staging", f"stg_{topic}_{serial}", [src.uid], []
                else:
                    pool = [m for lay in layer_models[max(0, layer - 2):layer] for m in lay]
                    recent = layer_models[layer - 1]

                    def choose(k: int) -> list[Model]:
                        picked: list[str] = []
                        k = min(k, len(set(pool) | set(hubs) | set(upstream_public)))
                        while len(picked) < k:
                            r = rng.random()
                            if hubs and r < 0.2:
                                cand = rng.choice(hubs)
                            elif upstream_public and r < 0.27:
                                cand = rng.choice(upstream_public)
                            elif recent and r < 0.75:
                                cand = rng.choice(recent)
                            else:
                                cand = rng.choice(pool)
                            if cand not in picked:
                                picked.append(cand)
                        return [all_models[c] for c in picked]

                    if layer == 4:
                        r = rng.random()
                        kind = "mart" if r < 0.45 else "wide" if r < 0.45 + wide_share * 3 else rng.choice(["join", "aggregate"])
                    else:
                        r = rng.random()
                        kind = "wide" if r < wide_share else rng.choices(
                            ["cte_chain", "join", "aggregate", "window", "union", "star"], [25, 25, 14, 12, 9, 15])[0]
                    if kind == "cte_chain":
                        parents = choose(1)
                    elif kind == "aggregate":
                        parents = choose(1)
                    elif kind == "window":
                        parents = choose(1)
                    elif kind == "star":
                        parents = choose(rng.choice([1, 2]))
                    elif kind == "union":
                        parents = choose(rng.choice([2, 2, 3]))
                    elif kind == "wide":
                        parents = choose(rng.choice([2, 3, 4]))
                    elif kind == "mart":
                        parents = choose(rng.choice([1, 2]))
                    else:
                        parents = choose(rng.choice([2, 2, 3]))
                    rels = [_q(*_rel_parts(p)) for p in parents]
                    if kind == "cte_chain":
                        head, items, tail, cols, agg = _cte_chain(rng, parents[0], rels[0], col_names)
                    elif kind == "aggregate":
                        head, items, tail, cols, agg = _aggregate(rng, parents[0], rels[0], col_names)
                    elif kind == "window":
                        head, items, tail, cols, agg = _window(rng, parents[0], rels[0], col_names)
                    elif kind == "union":
                        head, items, tail, cols, agg = _union(rng, parents, rels, col_names)
                    elif kind == "star":
                        head, items, tail, cols, agg = _star(rng, parents, rels, col_names)
                    elif kind == "wide":
                        head, items, tail, cols, agg = _wide(rng, parents, rels, col_names, rng.randint(100, 180))
                    elif kind == "mart":
                        head, items, tail, cols, agg = _mart(rng, parents, rels, col_names, rng.randint(6, 24))
                    else:
                        head, items, tail, cols, agg = _join(rng, parents, rels, col_names)
                    prefix = {1: "int", 2: "int", 3: "int", 4: "fct" if kind != "mart" or rng.random() < 0.6 else "dim"}[layer]
                    mname = f"{prefix}_{topic}_{kind}_{serial}"
                    parent_ids = [p.uid for p in parents]
                folder = ["staging", "intermediate", "intermediate", "intermediate", "marts"][layer]
                m = Model(uid=f"model.{project}.{mname}", project=project, name=mname, layer=layer, kind=kind,
                          parents=parent_ids, columns=cols, head=head, items=items, tail=tail, aggregate=agg,
                          group=f"{project}_{folder}", folder=folder)
                if layer == 4 and (kind == "mart" or rng.random() < 0.15):
                    m.access, m.contract = "public", kind == "mart"
                    public[project].append(m.uid)
                elif layer == 0 or rng.random() < 0.3:
                    m.access = "private" if layer else "protected"
                all_models[m.uid] = m
                layer_models[layer].append(m.uid)
                if layer < 3 and rng.random() < 0.05:
                    hubs.append(m.uid)
        if not public[project]:  # every project exposes at least one model
            uid = layer_models[-1][0]
            all_models[uid].access = "public"
            public[project].append(uid)

    manifests = {p: _manifest(p, all_models, relations, upstreams, rng, tests_per_model, macros) for p in names}
    return SynthMesh(projects=names, upstreams=upstreams, manifests=manifests, models=all_models,
                     relations=relations, seed=seed)


def _rel_parts(m: Model) -> tuple[str, str, str]:
    return DATABASE, f"analytics_{m.project}", m.name


# -- manifest dicts --------------------------------------------------------------------------

def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


_CONFIG_DEFAULTS = {
    "enabled": True, "alias": None, "schema": None, "database": None, "tags": [], "meta": {}, "group": None,
    "static_analysis": None, "materialized": "view", "incremental_strategy": None, "batch_size": None,
    "lookback": 1, "begin": None, "persist_docs": {}, "post-hook": [], "pre-hook": [], "quoting": {},
    "column_types": {}, "full_refresh": None, "unique_key": None, "on_schema_change": "ignore",
    "on_configuration_change": "apply", "grants": {}, "packages": [], "docs": {"show": True, "node_color": None},
    "contract": {"enforced": False, "alias_types": True}, "event_time": None, "concurrent_batches": None,
    "access": "protected", "freshness": None,
}


def _column_entry(name: str, description: str, data_type: str | None) -> dict:
    return {"name": name, "description": description, "meta": {}, "data_type": data_type, "constraints": [],
            "quote": None, "config": {"meta": {}, "tags": []}, "tags": [], "granularity": None, "doc_blocks": []}


def _raw_code(m: Model, models: dict[str, Model]) -> str:
    sql = m.sql
    for pid in m.parents:
        p = models.get(pid)
        if p is None:
            continue
        ref = f"{{{{ ref('{p.project}', '{p.name}') }}}}" if p.project != m.project else f"{{{{ ref('{p.name}') }}}}"
        sql = sql.replace(_q(*_rel_parts(p)), ref)
    return sql


def model_node(m: Model, models: dict[str, Model], relations: dict[str, Relation]) -> dict:
    """The manifest entry of one model (what ``dbt compile`` writes)."""
    sql = m.sql
    raw = _raw_code(m, models)
    for pid in m.parents:
        if pid in relations:
            r = relations[pid]
            call = (f"{{{{ source('{r.name.split('.')[0]}', '{r.name.split('.')[1]}') }}}}" if r.kind == "source"
                    else f"{{{{ ref('{r.name}') }}}}")
            raw = raw.replace(r.relation_name, call)
    materialized = "table" if m.layer == 4 else "view"
    columns = {}
    if m.contract:
        columns = {c.name: _column_entry(c.name, f"{c.root.replace('_', ' ')} of the {m.name.split('_')[1]} record.",
                                         c.type) for c in m.columns}
    elif m.layer in (0, 4):  # documented, no types
        columns = {c.name: _column_entry(c.name, f"{c.root.replace('_', ' ')}.", None) for c in m.columns[:6]}
    config = dict(_CONFIG_DEFAULTS, materialized=materialized, access=m.access, group=m.group,
                  contract={"enforced": m.contract, "alias_types": True})
    path = f"{m.folder}/{m.name}.sql"
    return {
        "database": DATABASE, "schema": f"analytics_{m.project}", "name": m.name, "resource_type": "model",
        "package_name": m.project, "path": path, "original_file_path": f"models/{path}", "unique_id": m.uid,
        "fqn": [m.project, m.folder, m.name], "alias": m.name,
        "checksum": {"name": "sha256", "checksum": _sha(raw)}, "config": config, "tags": [],
        "description": f"{m.kind} model over {', '.join(p.split('.')[-1] for p in m.parents)}.",
        "columns": columns, "meta": {}, "group": m.group, "docs": {"show": True, "node_color": None},
        "patch_path": f"{m.project}://models/{m.folder}/_{m.folder}.yml" if columns else None,
        "build_path": None,
        "unrendered_config": {"materialized": materialized, "access": m.access, "group": m.group,
                              **({"contract": {"enforced": True}} if m.contract else {})},
        "created_at": 1795585011.5, "relation_name": _q(*_rel_parts(m)), "raw_code": raw, "doc_blocks": [],
        "language": "sql",
        "refs": [{"name": models[p].name, "package": models[p].project if models[p].project != m.project else None,
                  "version": None} for p in m.parents if p in models],
        "sources": [[relations[p].name.split(".")[0], relations[p].name.split(".")[1]]
                    for p in m.parents if p in relations and relations[p].kind == "source"],
        "metrics": [], "functions": [],
        "depends_on": {"macros": [], "nodes": list(m.parents)},
        "compiled_path": f"target/compiled/{m.project}/models/{path}", "compiled": True, "compiled_code": sql,
        "extra_ctes_injected": True, "extra_ctes": [],
        "contract": {"enforced": m.contract, "alias_types": True,
                     "checksum": _sha(json.dumps([[c.name, c.type] for c in m.columns])) if m.contract else None},
        "access": m.access, "constraints": [], "version": None, "latest_version": None, "deprecation_date": None,
        "primary_key": ["entity_id"], "time_spine": None,
    }


def _skeleton(node: dict) -> dict:
    """The dbt-loom skeleton of an upstream node in a consumer manifest."""
    return {
        "database": node["database"], "schema": node["schema"], "name": node["name"], "resource_type": "model",
        "package_name": node["package_name"], "path": "", "original_file_path": "", "unique_id": node["unique_id"],
        "fqn": node["fqn"], "alias": node.get("alias", node["name"]),
        "checksum": {"name": "sha256", "checksum": _sha(node["unique_id"] + "loom")},
        "config": dict(_CONFIG_DEFAULTS, access=node.get("access") or "protected"), "tags": [], "description": "",
        "columns": {}, "meta": {}, "group": node.get("group"), "docs": {"show": True, "node_color": None},
        "patch_path": None, "build_path": None, "unrendered_config": {}, "created_at": 1795585019.5,
        "relation_name": node["relation_name"], "raw_code": "", "doc_blocks": [], "language": "sql", "refs": [],
        "sources": [], "metrics": [], "functions": [],
        "depends_on": {"macros": [], "nodes": list(node["depends_on"]["nodes"])}, "compiled_path": None,
        "contract": {"enforced": False, "alias_types": True, "checksum": None},
        "access": node.get("access") or "protected", "constraints": [], "version": None, "latest_version": None,
        "deprecation_date": None, "primary_key": [], "time_spine": None,
    }


def _test_node(m: Model, test: str) -> dict:
    uid = f"test.{m.project}.{test}_{m.name}_entity_id.{_sha(m.uid + test)[:10]}"
    sql = (f"\n\n\nselect entity_id\nfrom {_q(*_rel_parts(m))}\nwhere entity_id is null\n\n" if test == "not_null" else
           f"\n\nselect\n    entity_id as unique_field,\n    count(*) as n_records\n\nfrom {_q(*_rel_parts(m))}\n"
           f"where entity_id is not null\ngroup by entity_id\nhaving count(*) > 1\n\n")
    return {
        "database": DATABASE, "schema": "dbt_test__audit", "name": f"{test}_{m.name}_entity_id", "resource_type": "test",
        "package_name": m.project, "path": f"{test}_{m.name}_entity_id.sql",
        "original_file_path": f"models/{m.folder}/_{m.folder}.yml", "unique_id": uid,
        "fqn": [m.project, m.folder, f"{test}_{m.name}_entity_id"], "alias": f"{test}_{m.name}_entity_id",
        "checksum": {"name": "none", "checksum": ""},
        "config": {"enabled": True, "alias": None, "schema": "dbt_test__audit", "database": None, "tags": [], "meta": {},
                   "group": None, "static_analysis": None, "materialized": "test", "severity": "ERROR",
                   "store_failures": None, "store_failures_as": None, "where": None, "limit": None,
                   "fail_calc": "count(*)", "warn_if": "!= 0", "error_if": "!= 0"},
        "tags": [], "description": "", "columns": {}, "meta": {}, "group": m.group,
        "docs": {"show": True, "node_color": None}, "patch_path": None, "build_path": None, "unrendered_config": {},
        "created_at": 1795585003.8, "relation_name": None, "raw_code": f"{{{{ test_{test}(**_dbt_generic_test_kwargs) }}}}",
        "doc_blocks": [], "language": "sql", "refs": [{"name": m.name, "package": None, "version": None}],
        "sources": [], "metrics": [], "functions": [],
        "depends_on": {"macros": [f"macro.dbt.test_{test}", "macro.dbt.get_where_subquery"], "nodes": [m.uid]},
        "compiled_path": f"target/compiled/{m.project}/models/{m.folder}/{test}_{m.name}_entity_id.sql",
        "compiled": True, "compiled_code": sql, "extra_ctes_injected": True, "extra_ctes": [],
        "contract": {"enforced": False, "alias_types": True, "checksum": None}, "column_name": "entity_id",
        "file_key_name": f"models.{m.name}", "attached_node": m.uid,
        "test_metadata": {"name": test, "kwargs": {"column_name": "entity_id",
                                                   "model": f"{{{{ get_where_subquery(ref('{m.name}')) }}}}"},
                          "namespace": None},
    }


def _seed_node(r: Relation) -> dict:
    name = r.name
    types = {c.name: c.type for c in r.columns} if r.typed else {}
    return {
        "database": DATABASE, "schema": "seeds", "name": name, "resource_type": "seed", "package_name": r.project,
        "path": f"{name}.csv", "original_file_path": f"seeds/{name}.csv", "unique_id": r.uid, "fqn": [r.project, name],
        "alias": name, "checksum": {"name": "sha256", "checksum": _sha(seed_csv(r))},
        "config": dict(_CONFIG_DEFAULTS, materialized="seed", column_types=types, delimiter=",", quote_columns=None),
        "tags": [], "description": f"Seed {name}.",
        "columns": {c.name: _column_entry(c.name, "", None) for c in r.columns[:3]}, "meta": {}, "group": None,
        "docs": {"show": True, "node_color": None}, "patch_path": f"{r.project}://seeds/_seeds.yml",
        "build_path": None, "unrendered_config": {}, "created_at": 1795585002.0, "relation_name": r.relation_name,
        "raw_code": "", "doc_blocks": [], "root_path": "", "depends_on": {"macros": []},
    }


def seed_csv(r: Relation) -> str:
    sample = {"bigint": "1", "integer": "2", "double": "1.5", "decimal(18,2)": "9.99", "varchar": "abc",
              "boolean": "true", "date": "2024-01-01", "timestamp": "2024-01-01 10:00:00"}
    rows = [",".join(c.name for c in r.columns)]
    for i in range(3):
        rows.append(",".join(("2024-01-0%d" % (i + 1)) if c.root in DATE_ROOTS + TS_ROOTS else
                             str(i + 1) if c.name == "id" else sample.get(c.type, "x") for c in r.columns))
    return "\n".join(rows) + "\n"


def _source_node(r: Relation) -> dict:
    source_name, name = r.name.split(".")
    return {
        "database": DATABASE, "schema": f"raw_{r.project}", "name": name, "resource_type": "source",
        "package_name": r.project, "path": "models/staging/_sources.yml",
        "original_file_path": "models/staging/_sources.yml", "unique_id": r.uid,
        "fqn": [r.project, "staging", source_name, name], "source_name": source_name,
        "source_description": f"Raw {source_name} data loaded by the ingestion service.", "loader": "fivetran",
        "identifier": name, "quoting": {"database": None, "schema": None, "identifier": None, "column": None},
        "loaded_at_field": None, "loaded_at_query": None,
        "freshness": {"warn_after": {"count": None, "period": None}, "error_after": {"count": None, "period": None},
                      "filter": None},
        "external": None, "description": f"Raw table {name}.",
        "columns": {c.name: _column_entry(c.name, "", c.type) for c in r.columns} if r.declared else {},
        "meta": {}, "source_meta": {}, "tags": [], "config": {"enabled": True, "event_time": None, "freshness": None},
        "patch_path": None, "unrendered_config": {}, "relation_name": r.relation_name, "created_at": 1795585002.5,
        "unrendered_database": None, "unrendered_schema": None, "doc_blocks": [],
    }


def _macro(i: int) -> dict:
    name = f"adapter_macro_{i}"
    body = ("{% macro " + name + "(relation, column) -%}\n  {%- set sql -%}\n    select {{ column }}\n"
            "    from {{ relation }}\n    where {{ column }} is not null\n  {%- endset -%}\n"
            "  {{ return(run_query(sql)) }}\n{%- endmacro %}\n") * 3
    pkg = "dbt" if i % 3 else "dbt_duckdb"
    return {"name": name, "resource_type": "macro", "package_name": pkg, "path": f"macros/m{i}.sql",
            "original_file_path": f"macros/m{i}.sql", "unique_id": f"macro.{pkg}.{name}", "macro_sql": body,
            "depends_on": {"macros": ["macro.dbt.run_query"]}, "description": "", "meta": {},
            "docs": {"show": True, "node_color": None}, "config": {"meta": {}, "docs": {"show": True, "node_color": None}},
            "patch_path": None, "arguments": [], "created_at": 1795585002.0, "supported_languages": None}


def _manifest(project: str, models: dict[str, Model], relations: dict[str, Relation], upstreams: dict[str, list[str]],
              rng: random.Random, tests_per_model: int, macros: int) -> dict:
    nodes: dict[str, dict] = {}
    sources: dict[str, dict] = {}
    own = [m for m in models.values() if m.project == project]
    for r in relations.values():
        if r.project != project:
            continue
        if r.kind == "seed":
            nodes[r.uid] = _seed_node(r)
        else:
            sources[r.uid] = _source_node(r)
    for m in own:
        nodes[m.uid] = model_node(m, models, relations)
        for test in ("not_null", "unique")[:tests_per_model]:
            t = _test_node(m, test)
            nodes[t["unique_id"]] = t
    # dbt-loom: skeletons of every model and seed of the upstream projects
    for up in upstreams[project]:
        for m in models.values():
            if m.project == up:
                nodes[m.uid] = _skeleton(model_node(m, models, relations))
        for r in relations.values():
            if r.project == up and r.kind == "seed":
                nodes[r.uid] = _skeleton({**_seed_node(r), "access": "protected", "depends_on": {"nodes": []}})
    marts = [m for m in own if m.layer == 4]
    exposures = {}
    for i in range(max(1, len(marts) // 40)):
        deps = sorted({rng.choice(marts).uid for _ in range(rng.randint(1, 4))})
        uid = f"exposure.{project}.dashboard_{i}"
        exposures[uid] = {
            "name": f"dashboard_{i}", "resource_type": "exposure", "package_name": project, "path": "_exposures.yml",
            "original_file_path": "models/_exposures.yml", "unique_id": uid, "fqn": [project, f"dashboard_{i}"],
            "type": "dashboard", "owner": {"email": f"{project}-bi@example.com", "name": f"{project.title()} BI"},
            "description": "A dashboard.", "label": f"Dashboard {i}", "maturity": "high", "meta": {}, "tags": [],
            "config": {"enabled": True, "tags": [], "meta": {}}, "unrendered_config": {},
            "url": f"https://bi.example.com/{project}/{i}", "depends_on": {"macros": [], "nodes": deps},
            "refs": [{"name": d.split(".")[-1], "package": None, "version": None} for d in deps], "sources": [],
            "metrics": [], "created_at": 1795585011.4,
        }
    groups = {}
    for folder in ("staging", "intermediate", "marts"):
        g = f"{project}_{folder}"
        groups[f"group.{project}.{g}"] = {
            "name": g, "resource_type": "group", "package_name": project, "path": "_groups.yml",
            "original_file_path": "models/_groups.yml", "unique_id": f"group.{project}.{g}",
            "owner": {"email": f"{g}@example.com", "name": f"{project.title()} {folder} team"},
            "description": "", "config": {"meta": {}},
        }
    parent_map = {uid: list(n.get("depends_on", {}).get("nodes", [])) for uid, n in nodes.items()}
    parent_map.update({uid: list(e["depends_on"]["nodes"]) for uid, e in exposures.items()})
    parent_map.update({uid: [] for uid in sources})
    child_map: dict[str, list[str]] = {uid: [] for uid in parent_map}
    for uid, parents in parent_map.items():
        for p in parents:
            child_map.setdefault(p, []).append(uid)
    mac = {}
    for i in range(macros):
        m = _macro(i)
        mac[m["unique_id"]] = m
    return {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "dbt_version": DBT_VERSION,
            "generated_at": "2026-11-25T05:36:50.029281Z", "invocation_id": _sha(project)[:32], "env": {},
            "project_name": project, "project_id": _sha(project)[:32], "user_id": None,
            "send_anonymous_usage_stats": False, "adapter_type": ADAPTER,
            "quoting": {"database": True, "schema": True, "identifier": True, "column": None},
        },
        "nodes": nodes, "sources": sources, "macros": mac, "docs": {}, "exposures": exposures, "metrics": {},
        "groups": groups, "selectors": {}, "disabled": {}, "parent_map": parent_map, "child_map": child_map,
        "group_map": {}, "saved_queries": {}, "semantic_models": {}, "unit_tests": {}, "functions": {},
    }


# -- pull requests ---------------------------------------------------------------------------

PR_KINDS = ("expression", "add_column", "remove_column")


@dataclass
class PullRequest:
    """The head side of a PR that edits one model."""

    uid: str
    kind: str
    model: Model  # the edited model (its SQL and columns at head)
    manifests: dict[str, dict]  # every project's manifest at head (unchanged ones shared with base)
    description: str


def _key_ref(m: Model) -> str:
    first = m.items[0] if m.items else ""
    return ("a.entity_id" if first == "a.entity_id" else "o.entity_id" if first == "o.*" else
            "base.entity_id" if first.startswith("base.") else "entity_id")


def pr_head(mesh: SynthMesh, uid: str, kind: str) -> PullRequest:
    """The world after a PR that edits model ``uid`` (compiled SQL, and contract if any).

    - ``expression``: one explicit non-key output column gets a different expression (a
      ``coalesce``/``trim`` around it), same name, same type; for a model whose final SELECT
      lists no column (``select * from final``), a ``where`` filter is added instead;
    - ``add_column``: a new column at the end of the final SELECT;
    - ``remove_column``: the last explicit non-key column is dropped (``ValueError`` when the
      final SELECT has none).

    Only the changed project's manifest is copied (shallowly, one node replaced); consumer
    manifests are shared with the base, as dbt-loom skeletons carry no SQL and no columns.
    """
    m = copy.deepcopy(mesh.models[uid])
    if kind == "add_column":
        if m.aggregate:
            m.items.append("count(*) as pr_row_count_new")
            m.columns.append(Col("pr_row_count_new", "bigint", "row_count"))
            what = "adds an aggregate column `pr_row_count_new`"
        else:
            m.items.append(f"{_key_ref(m)} % 10 as pr_entity_bucket")
            m.columns.append(Col("pr_entity_bucket", "bigint", "entity_id"))
            what = "adds a column `pr_entity_bucket`"
    elif kind == "remove_column":
        idx = next((i for i in range(len(m.items) - 1, 1, -1) if "*" not in m.items[i]), None)
        if idx is None:
            raise ValueError(f"{uid} has no explicit column to remove")
        item = m.items.pop(idx)
        name = item.rpartition(" as ")[2].split(".")[-1].strip()
        m.columns = [c for c in m.columns if c.name != name]
        what = f"removes column `{name}`"
    elif kind == "expression":
        idx = next((i for i in range(2, len(m.items)) if "*" not in m.items[i]), None)
        if idx is None:
            tail = m.tail
            if "\nqualify" in tail:
                tail = tail.replace("\nqualify", "\nwhere entity_id > 0\nqualify", 1)
            elif tail.split("\n")[-1].startswith("where "):
                tail += " and entity_id > 0"
            else:
                tail += "\nwhere entity_id > 0"
            m.tail = tail
            what = "adds a filter `entity_id > 0`"
        else:
            expr, _, alias = m.items[idx].rpartition(" as ")
            if not expr:
                expr, alias = m.items[idx], m.items[idx].split(".")[-1]
            col = next((c for c in m.columns if c.name == alias), None)
            t = col.type if col else "varchar"
            new = (f"coalesce({expr}, 0)" if _is_num(t) else f"trim({expr})" if t == "varchar" else
                   f"coalesce({expr}, false)" if t == "boolean" else f"coalesce({expr}, {expr})")
            m.items[idx] = f"{new} as {alias}"
            what = f"changes the expression of `{alias}`"
    else:
        raise ValueError(f"unknown PR kind {kind!r}")
    models = dict(mesh.models)
    models[uid] = m
    out = dict(mesh.manifests)
    changed = dict(out[m.project])
    changed["nodes"] = {**changed["nodes"], uid: model_node(m, models, mesh.relations)}
    out[m.project] = changed
    return PullRequest(uid, kind, m, out, f"{m.project}.{m.name} ({m.kind}) {what}")


# -- files and a DuckDB check ----------------------------------------------------------------

def write_mesh(manifests: dict[str, dict], relations: dict[str, Relation], root: str) -> dict[str, str]:
    """Write ``<root>/<project>/target/manifest.json`` (and seed CSVs); project -> manifest path."""
    out = {}
    for project, manifest in manifests.items():
        target = os.path.join(root, project, "target")
        os.makedirs(target, exist_ok=True)
        path = os.path.join(target, "manifest.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle)
        out[project] = path
        for r in relations.values():
            if r.project == project and r.kind == "seed":
                os.makedirs(os.path.join(root, project, "seeds"), exist_ok=True)
                with open(os.path.join(root, project, "seeds", f"{r.name}.csv"), "w", encoding="utf-8") as handle:
                    handle.write(seed_csv(r))
    return out


def write_projects(mesh: SynthMesh, root: str) -> dict[str, str]:
    """Write each project's sources as a dbt project would hold them: ``dbt_project.yml``,
    ``dbt_loom.config.yml`` (its upstream projects), ``models/<folder>/<name>.sql`` (the
    Jinja ``raw_code``). meshdiff hashes these files to key its compile cache. Returns
    project -> directory (:func:`write_mesh` puts ``target/manifest.json`` and seeds there)."""
    out = {}
    for project in mesh.projects:
        path = os.path.join(root, project)
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "dbt_project.yml"), "w", encoding="utf-8") as handle:
            handle.write(f'name: {project}\nversion: "1.0.0"\nconfig-version: 2\nprofile: {project}\n'
                         f'model-paths: ["models"]\nseed-paths: ["seeds"]\n')
        ups = mesh.upstreams[project]
        if ups:
            with open(os.path.join(path, "dbt_loom.config.yml"), "w", encoding="utf-8") as handle:
                handle.write("manifests:\n" + "".join(
                    f"  - name: {u}\n    type: file\n    config:\n      path: ../{u}/target/manifest.json\n" for u in ups))
        for m in mesh.models.values():
            if m.project == project:
                write_model_file(m, mesh, path)
        out[project] = path
    return out


def write_model_file(m: Model, mesh: SynthMesh, project_dir: str) -> str:
    path = os.path.join(project_dir, "models", m.folder, f"{m.name}.sql")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    models = dict(mesh.models)
    models[m.uid] = m
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(model_node(m, models, mesh.relations)["raw_code"])
    return path


def check_with_duckdb(mesh: SynthMesh, pr: PullRequest | None = None) -> list[str]:
    """Create empty sources/seeds in an in-memory DuckDB and run every model's SQL as a view.

    Returns the errors (``[]``: every model is valid SQL over the columns it reads)."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute(f"attach ':memory:' as {DATABASE}")
    schemas = {f"analytics_{p}" for p in mesh.projects} | {f"raw_{p}" for p in mesh.projects} | {"seeds"}
    for s in sorted(schemas):
        con.execute(f'create schema if not exists {DATABASE}."{s}"')
    for r in mesh.relations.values():
        cols = ", ".join(f'"{c.name}" {c.type}' for c in r.columns)
        con.execute(f"create table {r.relation_name} ({cols})")
    errors = []
    manifests = pr.manifests if pr else mesh.manifests
    for uid, m in mesh.models.items():
        if pr is not None and uid == pr.uid:
            m = pr.model
        sql = manifests[m.project]["nodes"][uid]["compiled_code"]
        try:
            # empty tables, not views: DuckDB would re-bind the whole chain of views each time
            con.execute(f"create table {_q(*_rel_parts(m))} as select * from (\n{sql}\n) limit 0")
            got = [d[0] for d in con.execute(f"select * from {_q(*_rel_parts(m))} limit 0").description]
            node_cols = [c.name for c in m.columns]
            if got != node_cols:
                errors.append(f"{uid}: generator says {node_cols[:5]}... ({len(node_cols)}), duckdb {got[:5]}... ({len(got)})")
        except duckdb.Error as exc:
            errors.append(f"{uid}: {str(exc).splitlines()[0]}")
            con.execute(f"create table {_q(*_rel_parts(m))} as select {', '.join(repr(0) + ' as ' + c.name for c in m.columns)}")
    return errors


def summary(mesh: SynthMesh) -> dict:
    kinds: dict[str, int] = {}
    for m in mesh.models.values():
        kinds[m.kind] = kinds.get(m.kind, 0) + 1
    widths = [len(m.columns) for m in mesh.models.values()]
    cross = sum(1 for m in mesh.models.values() for p in m.parents if p.split(".")[1] != m.project and p in mesh.models)
    return {
        "projects": len(mesh.projects), "models": len(mesh.models), "sources": sum(r.kind == "source" for r in mesh.relations.values()),
        "seeds": sum(r.kind == "seed" for r in mesh.relations.values()), "kinds": dict(sorted(kinds.items())),
        "columns_mean": round(sum(widths) / len(widths), 1), "columns_max": max(widths),
        "wide_models": sum(w >= 100 for w in widths), "cross_project_refs": cross,
        "manifest_nodes": sum(len(m["nodes"]) for m in mesh.manifests.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate a synthetic dbt mesh (and check its SQL with DuckDB).")
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--projects", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", help="write <out>/<project>/target/manifest.json")
    parser.add_argument("--check", action="store_true", help="run every model in an in-memory DuckDB")
    args = parser.parse_args()
    mesh = generate(args.models, args.projects, args.seed)
    print(json.dumps(summary(mesh), indent=1))
    if args.out:
        for project, path in write_mesh(mesh.manifests, mesh.relations, args.out).items():
            print(f"{project}: {path} ({os.path.getsize(path) / 1e6:.1f} MB)")
    if args.check:
        errors = check_with_duckdb(mesh)
        for uid in list(mesh.models)[:: max(1, len(mesh.models) // 5)][:3]:
            for kind in PR_KINDS:
                try:
                    pr = pr_head(mesh, uid, kind)
                except ValueError:
                    continue
                errors += [f"PR {kind}: {e}" for e in check_with_duckdb(mesh, pr) if e.startswith(uid + ":")]
        print(f"DuckDB check: {len(errors)} errors")
        for e in errors[:30]:
            print("  " + e)
        raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
