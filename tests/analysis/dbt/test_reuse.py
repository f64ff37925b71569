"""A downstream project's base compile is reused for the head exactly when it would compile the same.

Real dbt compiles of the example mesh's ``shop`` (the changed project) and ``finance`` (which
reads it through dbt-loom). For each kind of change to shop, the rule (finance keyed by shop's
interface, :mod:`analysis.dbt.interface`) either reuses finance's base compile or compiles it
again; the test then compiles finance for real in an empty cache and checks:

- a change outside the interface (SQL, a contracted column added, a description, the
  materialization): the compile is reused, and the real recompile gives the same manifest
  (every finance node, but timestamps and target paths);
- a change of the interface (relation name, ``latest_version``, a new version, access, a
  version removed): finance is compiled again; where it changes finance's rendering (relation
  name, ``latest_version``), the real recompile indeed differs from the base compile.

The compiles run as a graph on both cores (:mod:`analysis.dbt.schedule`).
"""
import json
import os
import shutil

import pytest

from analysis.dbt import compile as dbt
from analysis.dbt.schedule import Job, run_graph
from tests.paths import ROOT

pytestmark = pytest.mark.dbt

EXAMPLES = os.path.join(ROOT, "examples")
MARTS = "models/marts/_marts.yml"


def edit(rel: str, old: str, new: str):
    def apply(folder: str) -> None:
        path = os.path.join(folder, rel)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        assert old in text, f"{rel}: {old!r} not found"
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text.replace(old, new, 1))
    return apply


def cut(rel: str, start: str, end: str):
    """Remove ``rel``'s text from ``start`` up to (not including) ``end``."""
    def apply(folder: str) -> None:
        path = os.path.join(folder, rel)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        i = text.index(start)
        j = text.index(end, i)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text[:i] + text[j:])
    return apply


def remove_file(rel: str):
    return lambda folder: os.remove(os.path.join(folder, rel))


def both(*edits):
    def apply(folder: str) -> None:
        for one in edits:
            one(folder)
    return apply


def add_file(rel: str, text: str):
    def apply(folder: str) -> None:
        with open(os.path.join(folder, rel), "w", encoding="utf-8") as handle:
            handle.write(text)
    return apply


LTV = "    cast(coalesce(customer_ltv.lifetime_value_cents, 0) / 100 as decimal(18, 2)) as lifetime_value\n"
#: (kind, change to shop, in the interface, changes finance's rendering)
CHANGES = [
    ("sql-and-contracted-column", both(
        edit("models/marts/customers.sql", LTV, LTV.rstrip("\n") + ",\n    1 as loyalty_tier\n"),
        edit(MARTS, "        data_type: decimal(18,2)\n\n  - name: orders",
             "        data_type: decimal(18,2)\n      - name: loyalty_tier\n        data_type: integer\n\n"
             "  - name: orders")), False, False),
    ("description", edit(MARTS, "One row per customer account with order history",
                         "One row per customer account, with order history"), False, False),
    ("materialization", edit(MARTS, "    access: public\n    config:\n      contract:",
                             "    access: public\n    config:\n      materialized: view\n      contract:"), False, False),
    ("relation-name", edit(MARTS, "    access: public\n    config:\n      contract:",
                           "    access: public\n    config:\n      alias: customer_accounts\n      contract:"), True, True),
    ("latest-version", edit(MARTS, "    latest_version: 2", "    latest_version: 1"), True, True),
    ("new-version", both(edit(MARTS, "      - v: 2", "      - v: 3\n      - v: 2"),
                         add_file("models/marts/orders_v3.sql", "select * from {{ ref('orders', v=2) }}\n")),
     True, False),
    ("access", edit(MARTS, "    access: public\n    config:\n      contract:",
                    "    access: protected\n    config:\n      contract:"), True, None),
    ("version-removed", both(cut(MARTS, "      - v: 1\n", "      - v: 2"), remove_file("models/marts/orders_v1.sql")),
     True, None),
]


def own_nodes(result) -> dict:
    """finance's own nodes of a compile's manifest, without what differs between two runs of dbt."""
    assert result.ok, result.error
    with open(result.manifest_path, encoding="utf-8") as handle:
        manifest = json.load(handle)
    out = {}
    for uid, node in manifest["nodes"].items():
        if node.get("package_name") != "finance":
            continue
        out[uid] = {k: v for k, v in node.items() if k not in ("created_at", "compiled_path", "build_path")}
    assert out
    return out


def test_reuse_matches_a_real_recompile_for_each_kind_of_change(tmp_path):
    shared, root = str(tmp_path / "cache"), tmp_path / "mesh"
    for name in ("shop", "finance"):
        shutil.copytree(os.path.join(EXAMPLES, name), root / name,
                        ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb"))
    for kind, change, _, _ in CHANGES:
        shutil.copytree(root / "shop", tmp_path / kind / "shop")
        change(str(tmp_path / kind / "shop"))
    finance = dbt.read_project(str(root / "finance"))

    def shop_at(folder):
        return lambda done: dbt.compile_project(dbt.read_project(folder), {}, cache_dir=shared)

    def finance_against(shop_job, cache):
        return lambda done: dbt.compile_project(finance, {"shop": done[shop_job]}, cache_dir=cache)

    jobs = {("shop", "base"): Job(shop_at(str(root / "shop"))),
            ("finance", "base"): Job(finance_against(("shop", "base"), shared), after=(("shop", "base"),))}
    for kind, _, _, _ in CHANGES:
        jobs[("shop", kind)] = Job(shop_at(str(tmp_path / kind / "shop")))
    for kind, _, _, _ in CHANGES:  # the rule: after the base compile, so a reuse is a cache hit
        jobs[("finance", kind)] = Job(finance_against(("shop", kind), shared),
                                      after=(("shop", kind), ("finance", "base")))
        # the truth: dbt run again, in a cache of its own
        jobs[("real", kind)] = Job(finance_against(("shop", kind), str(tmp_path / kind / "cache")),
                                   after=(("shop", kind),))
    done = run_graph(jobs)

    base = done[("finance", "base")]
    assert base.ok and done[("shop", "base")].ok
    for kind, _, interface, renders_differently in CHANGES:
        shop, rule, real = done[("shop", kind)], done[("finance", kind)], done[("real", kind)]
        assert shop.ok, f"{kind}: {shop.error}"
        assert not real.cached
        if not interface:
            assert shop.interface == done[("shop", "base")].interface, kind
            assert rule.cached and rule.manifest_path == base.manifest_path, f"{kind}: not reused"
            assert own_nodes(real) == own_nodes(base), f"{kind}: the reused compile differs from a real one"
        else:
            assert shop.interface != done[("shop", "base")].interface, kind
            assert rule.key != base.key and rule.manifest_path != base.manifest_path, f"{kind}: reused"
            assert rule.ok == real.ok, kind
            if rule.ok:
                assert own_nodes(rule) == own_nodes(real), kind
            if renders_differently:
                assert own_nodes(real) != own_nodes(base), f"{kind}: renders the same (the case proves nothing)"
