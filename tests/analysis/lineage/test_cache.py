"""The content-addressed lineage cache: warm runs parse nothing, changes re-parse only what they touch."""
from __future__ import annotations

import json
import os

from analysis.lineage.cache import LineageCache, default_cache_dir, lineage_from_json, lineage_to_json
from analysis.lineage.trace import analyse
from analysis.dbt.nodes import DeclaredColumn, Node
from analysis.lineage.relations import TableResolver
from analysis.lineage.meshlineage import mesh_lineage

SRC = "source.shop.raw.customers"
STG = "model.shop.stg_customers"
DIM = "model.shop.dim_customers"
FACT = "model.finance.customer_facts"
OTHER = "model.finance.other"


def rel(name: str) -> str:
    return f'"db"."main"."{name}"'


def build(stg_sql: str | None = None) -> dict[str, Node]:
    stg_sql = stg_sql or f"select id as customer_id, name, email from {rel('raw_customers')}"
    nodes = [
        Node(SRC, "shop", "raw.customers", "source", relation_name=rel("raw_customers"),
             columns={c: DeclaredColumn(c, "varchar") for c in ("id", "name", "email")}),
        Node(STG, "shop", "stg_customers", "model", relation_name=rel("stg_customers"), compiled_sql=stg_sql),
        Node(DIM, "shop", "dim_customers", "model", relation_name=rel("dim_customers"),
             compiled_sql=f"select customer_id, name from {rel('stg_customers')}"),
        Node(FACT, "finance", "customer_facts", "model", relation_name=rel("customer_facts"),
             compiled_sql=f"select customer_id, upper(name) as shout from {rel('dim_customers')}"),
        Node(OTHER, "finance", "other", "model", relation_name=rel("other"),
             compiled_sql=f"select 1 as one from {rel('raw_customers')}"),
    ]
    return {n.unique_id: n for n in nodes}


ORDER = [SRC, STG, DIM, FACT, OTHER]


def run(nodes, cache):
    return mesh_lineage(nodes, ORDER, lambda n: "duckdb", cache=cache)


def cache_files(directory):
    """The cache's records (its seal key aside)."""
    return [os.path.join(d, f) for d, _, files in os.walk(directory) for f in files if f != ".meshdiff-mac-key"]


def test_warm_run_parses_nothing_from_memory_or_disk(tmp_path):
    cache = LineageCache(str(tmp_path))
    cold = run(build(), cache)
    assert cold.stats.parsed == 4 and cold.stats.cache_misses == 4
    warm = run(build(), cache)
    assert warm.stats.parsed == 0 and warm.stats.cache_hits == 4
    assert cache.stats.memory_hits == 4
    fresh = LineageCache(str(tmp_path))  # a new process: only the directory survives
    again = run(build(), fresh)
    assert again.stats.parsed == 0 and fresh.stats.disk_hits == 4
    assert again.models == cold.models and again.schemas == cold.schemas


def test_expression_change_reparses_only_that_model(tmp_path):
    cache = LineageCache(str(tmp_path))
    run(build(), cache)
    # same columns and types: nobody downstream sees a different schema
    changed = run(build(f"select id as customer_id, lower(name) as name, email from {rel('raw_customers')}"), cache)
    assert changed.stats.parsed == 1 and changed.stats.cache_hits == 3


def test_schema_change_reparses_the_readers_of_the_changed_schema(tmp_path):
    cache = LineageCache(str(tmp_path))
    run(build(), cache)
    # a new column in stg: dim (reads stg) is re-parsed; fact reads dim, whose schema is unchanged
    changed = run(build(f"select id as customer_id, name, email, 1 as flag from {rel('raw_customers')}"), cache)
    assert changed.stats.parsed == 2 and changed.stats.cache_hits == 2
    assert changed.stats.parsed + changed.stats.cache_hits == 4


def test_corrupt_files_are_ignored_and_rewritten(tmp_path):
    cold = run(build(), LineageCache(str(tmp_path)))
    files = cache_files(tmp_path)
    assert files
    for path in files:
        with open(path, "w") as handle:
            handle.write("{not json")
    cache = LineageCache(str(tmp_path))
    again = run(build(), cache)
    assert again.models == cold.models
    assert again.stats.parsed == 4 and cache.stats.corrupt >= 2  # both packs (unsealed pointers: absent)
    for path in cache_files(tmp_path):
        with open(path) as handle:
            text = handle.read()
        body, seal = text.rsplit("\n#meshdiff-mac:", 1)  # rewritten, sealed ...
        assert len(seal) == 65
        for line in body.split("\n") if path.endswith(".jsonl") else [body]:
            json.loads(line)  # ... and valid
    assert run(build(), LineageCache(str(tmp_path))).stats.parsed == 0


def test_malformed_record_is_a_miss_not_a_crash(tmp_path):
    """Files of one record per key (what earlier versions wrote) are still read; a malformed
    one, validly sealed, is a miss; so is a project's list of recent packs that is no list."""
    from analysis.lineage.cache import sql_key
    from analysis.store import sealer_for

    sealer = sealer_for(str(tmp_path))
    run(build(), LineageCache(str(tmp_path)))
    for path in cache_files(tmp_path):
        if os.sep + "recent" + os.sep in path:
            sealer.write(path, json.dumps({"not": "a list"}).encode())
        elif os.sep + "packs" + os.sep in path:
            os.unlink(path)
    for node in build().values():
        if node.compiled_sql:  # an old-style reads record per SQL text, malformed
            key = sql_key(node.compiled_sql, "duckdb")
            sealer.write(os.path.join(str(tmp_path), "reads", key[:2], key + ".json"),
                         json.dumps({"format": 1, "reads": "nope"}).encode())
    cache = LineageCache(str(tmp_path))
    out = run(build(), cache)
    assert out.stats.parsed == 4 and all(m.status == "ok" for m in out.models.values())


def _damage_packs(tmp_path, *, reseal: bool) -> None:
    """Every lineage line of every pack replaced by x's of the same length (per-key files
    removed); ``reseal``: sealed again with the cache's key, as if meshdiff had written it."""
    from analysis.store import sealer_for

    sealer = sealer_for(str(tmp_path))
    for path in cache_files(tmp_path):
        if os.sep + "packs" + os.sep in path:
            with open(path, "rb") as handle:
                body = handle.read()[:-sealer.trailer_size]
            lines = body.split(b"\n")
            lines[2::2] = [b"x" * len(line) for line in lines[2::2]]  # every lineage line, same length
            damaged = b"\n".join(lines)
            with open(path, "wb") as handle:
                handle.write(sealer.seal(path, damaged) if reseal else damaged + b"\n#meshdiff-mac:" + b"0" * 64 + b"\n")
        elif os.sep + "lineage" + os.sep in path:
            os.unlink(path)


def test_a_damaged_record_in_a_pack_is_traced_again(tmp_path):
    cold = run(build(), LineageCache(str(tmp_path)))
    _damage_packs(tmp_path, reseal=True)  # validly sealed, yet malformed records
    cache = LineageCache(str(tmp_path))
    again = run(build(), cache)
    assert again.stats.parsed == 0  # records are decoded lazily: the damage shows on use...
    assert again.models == cold.models and again.schemas == cold.schemas  # ...and is traced again
    assert cache.stats.corrupt == 4


def test_a_pack_changed_by_anything_but_meshdiff_is_ignored_whole(tmp_path):
    cold = run(build(), LineageCache(str(tmp_path)))
    _damage_packs(tmp_path, reseal=False)  # its seal no longer matches
    cache = LineageCache(str(tmp_path))
    again = run(build(), cache)
    assert again.stats.parsed == 4  # not one record of it is used
    assert again.models == cold.models and again.schemas == cold.schemas and cache.stats.corrupt >= 1
    assert run(build(), LineageCache(str(tmp_path))).stats.parsed == 0  # rewritten, sealed


def test_timeouts_are_not_cached(tmp_path):
    cache = LineageCache(str(tmp_path))
    tables = TableResolver.from_nodes(build().values())
    sql = "select 1 as a"
    result = analyse(STG, sql, "duckdb", tables, {}, timeout_s=10)
    result.timed_out = True
    cache.put(sql, "duckdb", tables, {}, result)
    assert cache.get(STG, sql, "duckdb", tables, {}) is None and not cache_files(tmp_path)


def test_same_sql_in_another_node_is_a_hit_under_its_own_id(tmp_path):
    cache = LineageCache(str(tmp_path))
    tables = TableResolver.from_nodes(build().values())
    sql = "select bad syntax from"
    cache.put(sql, "duckdb", tables, {}, analyse(STG, sql, "duckdb", tables, {}))
    hit = cache.get(DIM, sql, "duckdb", tables, {})
    assert hit.node == DIM and DIM in hit.reason and STG not in hit.reason


def test_rebinding_a_table_is_a_miss(tmp_path):
    cache = LineageCache(str(tmp_path))
    nodes = build()
    tables = TableResolver.from_nodes(nodes.values())
    sql = f"select name from {rel('stg_customers')}"
    cache.put(sql, "duckdb", tables, {}, analyse(FACT, sql, "duckdb", tables, {}))
    assert cache.get(FACT, sql, "duckdb", tables, {}) is not None
    nodes[STG].relation_name = rel("stg_customers_v2")
    nodes[DIM].relation_name = rel("stg_customers")  # the same relation now belongs to another node
    assert cache.get(FACT, sql, "duckdb", TableResolver.from_nodes(nodes.values()), {}) is None


def test_memory_only_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("MESHDIFF_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == os.path.join(str(tmp_path), "lineage")
    cache = LineageCache(persist=False)
    run(build(), cache)
    assert run(build(), cache).stats.parsed == 0 and not cache_files(tmp_path)


def test_json_round_trip_keeps_everything():
    out = run(build(), None)
    for lineage in out.models.values():
        assert lineage_from_json(json.loads(json.dumps(lineage_to_json(lineage)))) == lineage
        assert list(lineage_from_json(lineage_to_json(lineage)).columns) == list(lineage.columns)


def drop_per_model_files(directory):
    """Leave only the packs: what a run then finds came from them."""
    for path in cache_files(directory):
        if os.sep + "packs" + os.sep not in path:
            os.unlink(path)


def test_one_pack_per_project_serves_a_whole_warm_run(tmp_path):
    cold = run(build(), LineageCache(str(tmp_path)))
    packs = [p for p in cache_files(tmp_path) if p.endswith(".jsonl")]
    assert len(packs) == 2  # shop and finance
    drop_per_model_files(tmp_path)
    cache = LineageCache(str(tmp_path))
    warm = run(build(), cache)
    assert warm.stats.parsed == 0 and cache.stats.packs_read == 2 and cache.stats.disk_hits == 4
    assert warm.models == cold.models and warm.schemas == cold.schemas


def test_a_pack_keeps_the_records_of_both_worlds(tmp_path):
    """finance's nodes are the same in both worlds, but customer_facts reads dim, whose schema
    differs in the head: finance's one pack holds its records against both."""
    def head():
        nodes = build()
        nodes[DIM].compiled_sql = f"select customer_id, name, email from {rel('stg_customers')}"
        return nodes

    run(build(), LineageCache(str(tmp_path)))
    assert run(head(), LineageCache(str(tmp_path))).stats.parsed == 2  # dim, and fact which reads it
    drop_per_model_files(tmp_path)
    fresh = LineageCache(str(tmp_path))
    assert run(head(), fresh).stats.parsed == 0 and run(build(), fresh).stats.parsed == 0


def test_the_second_world_reuses_unchanged_nodes_without_looking_them_up(tmp_path):
    """The head world of an analysis shares the base's node objects where nothing changed: those
    are taken as they are, only the changed node and readers of a changed schema are redone."""
    cache = LineageCache(str(tmp_path))
    base = build()
    before = run(base, cache)
    hits = cache.stats.hits
    head = dict(base)
    head[STG] = build(f"select id as customer_id, name, email, 1 as flag from {rel('raw_customers')}")[STG]
    again = run(head, cache)
    assert again.stats.parsed == 2  # stg (new SQL) and dim (reads stg, whose schema changed)
    assert again.stats.cache_hits == 2 and cache.stats.hits == hits  # fact and other: taken, not looked up
    assert again.models[FACT] == before.models[FACT] and again.schemas[OTHER] == before.schemas[OTHER]


def test_readers_include_a_table_read_without_a_ref(tmp_path):
    """A model reading another's relation by name (no ref, so no graph edge) is still a reader."""
    nodes = build()
    out = run(nodes, LineageCache(persist=False))
    assert out.readers[DIM] == {FACT} and out.readers[STG] == {DIM}
    assert out.readers[SRC] == {STG, OTHER}  # every node here reads by relation name: no depends_on at all


def test_a_project_digest_names_its_pack(tmp_path):
    """With the projects' content digests (from their snapshots) a pack is found without hashing
    each node; its records still answer only for the inputs they were traced against."""
    digests = {"shop": "shop-1", "finance": "finance-1"}
    cold = mesh_lineage(build(), ORDER, lambda n: "duckdb", cache=LineageCache(str(tmp_path)), digests=digests)
    drop_per_model_files(tmp_path)
    cache = LineageCache(str(tmp_path))
    warm = mesh_lineage(build(), ORDER, lambda n: "duckdb", cache=cache, digests=digests)
    assert warm.stats.parsed == 0 and cache.stats.packs_read == 2 and warm.models == cold.models
    # shop changes (a new digest: its pack is not there); finance's pack is found, but
    # customer_facts reads dim, whose schema changed: traced again, other still from the pack
    nodes = build()
    nodes[DIM].compiled_sql = f"select customer_id, name, email from {rel('stg_customers')}"
    cache = LineageCache(str(tmp_path))
    head = mesh_lineage(nodes, ORDER, lambda n: "duckdb", cache=cache, digests={**digests, "shop": "shop-2"})
    # shop's pack under its new name is missing: its previous pack is read, and serves stg
    # (unchanged); dim (new SQL) and fact (reads dim) are traced
    assert cache.stats.packs_read == 2 and head.stats.parsed == 2
    assert head.models[OTHER] == cold.models[OTHER] and list(head.schemas[DIM]) == ["customer_id", "name", "email"]


def test_records_are_written_per_project_not_per_model(tmp_path):
    """A cold run writes one pack per project and one short list of recent packs per project,
    no file per model; a model change elsewhere in the project is served from the last pack."""
    run(build(), LineageCache(str(tmp_path)))
    files = [os.path.relpath(p, tmp_path).split(os.sep) for p in cache_files(tmp_path)]
    assert all(f[0] == "packs" for f in files) and len(files) == 4
    assert sum(f[1] == "recent" for f in files) == 2 and sum(f[-1].endswith(".jsonl") for f in files) == 2
    nodes = build()
    nodes[OTHER].compiled_sql = nodes[OTHER].compiled_sql.replace("select ", "select 1 as one, ", 1)
    cache = LineageCache(str(tmp_path))
    again = run(nodes, cache)
    assert again.stats.parsed == 1 and cache.stats.packs_read == 2  # shop's, and finance's last (its new one is missing)
