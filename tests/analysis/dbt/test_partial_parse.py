"""dbt's partial parsing from the base compile to the head compile (:mod:`analysis.dbt.partialparse`).

Proof on real dbt compiles, for each kind of change a PR makes: the head compiled starting from
the base compile's parse state gives exactly what a full parse of the head gives: the same
snapshot meshdiff reads, and the same manifest nodes (but for what names the run itself: its
output folder, its time, the folder a seed was first read from). The test can fail: each head
is compiled twice, seeded and from nothing, in two cache folders, and compared field by field;
and dbt's own log must show that the seeded compile did not parse in full (else the proof
would prove nothing).
"""
import json
import os
import shutil
import textwrap
import threading

import pytest

from analysis.dbt import compile as dbt
from analysis.dbt import partialparse
from analysis.dbt.snapshot import ProjectLoader, snapshot_path

pytestmark = pytest.mark.dbt

HANG = 600

FULL_PARSE = "Unable to do partial parsing"

FILES = {
    "dbt_project.yml": """\
        name: pp
        profile: pp
        config-version: 2
        version: '1.0'
        vars:
          cutoff: 10
        models:
          pp:
            +materialized: view
        """,
    "macros/cents.sql": """\
        {% macro cents(column) %}({{ column }} * 100)::bigint{% endmacro %}
        """,
    "seeds/raw_orders.csv": "id,customer_id,amount\n1,1,10.5\n2,2,3.25\n",
    "models/stg_orders.sql": """\
        select id as order_id, customer_id, {{ cents('amount') }} as amount_cents
        from {{ ref('raw_orders') }}
        where id < {{ var('cutoff') }}
        """,
    "models/orders_v1.sql": "select order_id, customer_id, amount_cents from {{ ref('stg_orders') }}\n",
    "models/customers.sql": """\
        {{ config(materialized='table') }}
        select customer_id, sum(amount_cents) as lifetime_cents
        from {{ ref('orders', v=1) }}
        group by 1
        """,
    "models/schema.yml": """\
        version: 2
        models:
          - name: orders
            latest_version: 1
            access: public
            config:
              contract: {enforced: true}
            columns:
              - {name: order_id, data_type: integer, tests: [unique]}
              - {name: customer_id, data_type: integer}
              - {name: amount_cents, data_type: bigint}
            versions:
              - v: 1
          - name: customers
            description: one row per customer
            columns:
              - {name: customer_id, tests: [not_null]}
        """,
}

V2 = """\
    select order_id, customer_id, amount_cents, amount_cents / 100.0 as amount
    from {{ ref('stg_orders') }}
    """


def _edit(path: str, old: str, new: str) -> None:
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert old in text, f"{old!r} not in {path}"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text.replace(old, new))


def _write(root: str, rel: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
    with open(os.path.join(root, rel), "w", encoding="utf-8") as handle:
        handle.write(textwrap.dedent(text))


def _add_version(head: str) -> None:
    _write(head, "models/orders_v2.sql", V2)
    _edit(os.path.join(head, "models/schema.yml"), "    versions:\n      - v: 1\n",
          "    versions:\n      - v: 1\n      - v: 2\n        columns:\n"
          "          - include: all\n          - {name: amount, data_type: numeric(18, 3)}\n")


#: kind of change -> what the PR does to the head checkout
CHANGES = {
    "model SQL": lambda h: _edit(os.path.join(h, "models/stg_orders.sql"), "customer_id,", "customer_id + 0 as customer_id,"),
    "YAML columns and contract": lambda h: _edit(os.path.join(h, "models/schema.yml"),
                                                 "{name: customer_id, data_type: integer}",
                                                 "{name: customer_id, data_type: bigint}"),
    "YAML description and test": lambda h: _edit(os.path.join(h, "models/schema.yml"),
                                                 "description: one row per customer\n    columns:\n"
                                                 "      - {name: customer_id, tests: [not_null]}",
                                                 "description: a customer and what they spent\n    columns:\n"
                                                 "      - {name: customer_id, tests: [not_null, unique]}"),
    "a macro models call": lambda h: _edit(os.path.join(h, "macros/cents.sql"), "* 100)::bigint", "* 1000)::bigint"),
    "a new model": lambda h: _write(h, "models/big_orders.sql",
                                    "select * from {{ ref('orders', v=1) }} where amount_cents > 500\n"),
    "a deleted model": lambda h: os.remove(os.path.join(h, "models/customers.sql")),
    "a new model version": _add_version,
    "a config block": lambda h: _edit(os.path.join(h, "models/customers.sql"), "materialized='table'",
                                      "materialized='view'"),
    "a seed's rows": lambda h: _edit(os.path.join(h, "seeds/raw_orders.csv"), "2,2,3.25", "2,2,3.25\n3,1,7"),
    "dbt_project.yml (dbt parses in full)": lambda h: _edit(os.path.join(h, "dbt_project.yml"), "cutoff: 10",
                                                            "cutoff: 20"),
}

#: what names the run rather than the project: its own output folder, when it ran, and the
#: checkout a seed was first parsed in (meshdiff reads none of them)
VOLATILE = {"created_at", "compiled_path", "root_path", "generated_at", "invocation_id", "invocation_started_at",
            "run_started_at"}


def _norm(value):
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        items = [_norm(v) for v in value]
        return sorted(items, key=json.dumps) if all(isinstance(v, str) for v in value) else items
    return value


def _manifest(result) -> dict:
    with open(result.manifest_path, encoding="utf-8") as handle:
        data = json.load(handle)
    return {key: _norm(data[key]) for key in ("nodes", "sources", "macros", "exposures", "groups", "parent_map",
                                              "child_map", "group_map", "disabled", "docs")}


def _snapshot(result) -> tuple[dict, list[str]]:
    """The snapshot's header but for the manifest file's own stamp and the digest of the node
    lines in file order, and its node lines in order of id: after a partial parse dbt lists a
    reparsed node last, and what meshdiff makes of the nodes does not depend on their order."""
    loader = ProjectLoader()
    loader.load(result.manifest_path, project_dir=result.project_dir)  # writes the snapshot if missing
    with open(snapshot_path(result.manifest_path), encoding="utf-8") as handle:
        header, *lines = handle.read().splitlines()
    meta = {k: v for k, v in json.loads(header).items() if k not in ("manifest", "digest")}
    return meta, sorted(lines)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("partial-parse")
    project = str(root / "base" / "pp")
    for rel, text in FILES.items():
        _write(project, rel, text)
    cache = str(root / "cache")
    result = dbt.compile_project(dbt.read_project(project), {}, cache_dir=cache)
    assert result.ok, result.error
    assert FULL_PARSE in result.log  # nothing to start from: dbt says it parses in full
    return root, project, cache, result


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_head_compiled_from_the_base_parse_state_equals_a_full_parse(base, change):
    root, base_dir, cache, base_result = base
    slug = "".join(c if c.isalnum() else "-" for c in change)
    head_dir = str(root / slug / "pp")
    shutil.copytree(base_dir, head_dir, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    CHANGES[change](head_dir)
    head = dbt.read_project(head_dir)
    cached = dbt.compile_project(dbt.read_project(base_dir), {}, cache_dir=cache, cached_only=True)
    assert cached is not None and cached.cached and cached.partial_parse and cached.partial_parse_sha256
    results = {}

    def compile_(name, **kw):
        results[name] = dbt.compile_project(head, {}, cache_dir=str(root / slug / name), **kw)

    threads = [threading.Thread(target=compile_, args=("seeded",), kwargs={"seed": cached}),
               threading.Thread(target=compile_, args=("full",))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seeded, full = results["seeded"], results["full"]
    assert seeded.ok and full.ok, seeded.error or full.error
    assert seeded.seeded and not full.seeded
    assert FULL_PARSE in full.log
    if change.startswith("dbt_project.yml"):
        assert "a project config has changed" in seeded.log  # dbt's own check: parsed in full again
    else:
        assert FULL_PARSE not in seeded.log, seeded.log[:3000]
    assert seeded.key == full.key and seeded.interface == full.interface
    assert _snapshot(seeded) == _snapshot(full)
    assert _manifest(seeded) == _manifest(full)
    assert _manifest(seeded) != _manifest(base_result)  # the change is in the head, parsed


def test_a_head_started_ahead_takes_the_base_parse_state_copied_in_after_it_started(base):
    """The changed project's head is started ahead (held before it reads anything) while its base
    compiles; the base's parse state is copied into the held dbt's folder afterwards (already
    the sandbox uid's): dbt takes it (no full parse) and gives what a full parse gives."""
    import time

    from analysis.dbt.prepare import ahead_of
    from analysis.dbt.prestart import Prestarts

    root, base_dir, cache, _ = base
    head_dir = str(root / "started-ahead" / "pp")
    shutil.copytree(base_dir, head_dir, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    CHANGES["model SQL"](head_dir)
    head = dbt.read_project(head_dir)
    cached = dbt.compile_project(dbt.read_project(base_dir), {}, cache_dir=cache, cached_only=True)
    assert cached is not None and cached.partial_parse
    made = []

    def make(project_file):
        made.append(ahead_of(project_file, cache_dir=cache, seeded=True))
        return made[-1]

    prestarts = Prestarts(make, {"pp": [head]}, idle=lambda: 1)
    prestarts.started("pp")  # the base starts dbt: its head is started ahead
    deadline = time.monotonic() + HANG  # a bound against a hang only: a busy machine is slower, never wrong
    while not made and time.monotonic() < deadline:
        time.sleep(0.1)
    assert made and made[0] is not None
    try:
        seeded = dbt.compile_project(head, {}, cache_dir=str(root / "started-ahead" / "a"), seed=cached,
                                     prestarts=prestarts)
    finally:
        prestarts.close()
    full = dbt.compile_project(head, {}, cache_dir=str(root / "started-ahead" / "b"))
    assert seeded.ok and full.ok, seeded.error or full.error
    assert made[0].started.proc.returncode == 0  # the held dbt ran this compile
    assert seeded.seeded and FULL_PARSE not in seeded.log, seeded.log[:3000]
    assert FULL_PARSE in full.log
    assert seeded.key == full.key and _snapshot(seeded) == _snapshot(full)
    assert _manifest(seeded) == _manifest(full)


def test_a_parse_state_changed_in_the_cache_is_not_handed_to_dbt(base, tmp_path):
    _, base_dir, cache, _ = base
    cached = dbt.compile_project(dbt.read_project(base_dir), {}, cache_dir=cache, cached_only=True)
    target = str(tmp_path / "target")
    assert partialparse.seed(target, cached.partial_parse, cached.partial_parse_sha256)
    assert os.path.getsize(os.path.join(target, partialparse.FILE)) > 1000
    tampered = str(tmp_path / "tampered.msgpack")
    shutil.copyfile(cached.partial_parse, tampered)
    with open(tampered, "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)[0]
        handle.seek(100)
        handle.write(bytes([byte ^ 0xFF]))
    other = str(tmp_path / "other")
    assert not partialparse.seed(other, tampered, cached.partial_parse_sha256)
    assert not os.path.exists(os.path.join(other, partialparse.FILE))
    assert not partialparse.seed(other, cached.partial_parse, None)
    assert not partialparse.enabled({"MESHDIFF_PARTIAL_PARSE": "0"}) and partialparse.enabled({})


def test_cached_only_never_runs_dbt(tmp_path):
    project = str(tmp_path / "pp")
    for rel, text in FILES.items():
        _write(project, rel, text)
    assert dbt.compile_project(dbt.read_project(project), {}, cache_dir=str(tmp_path / "cache"),
                               cached_only=True) is None
    assert not os.path.exists(os.path.join(project, "target"))


def test_a_parse_state_is_never_written_through_a_link(tmp_path):
    """The folder a parse state is copied into may be a held dbt's (its sandbox uid's): a link
    there, as the file or as the folder itself, is replaced or refused, never written through."""
    import hashlib

    source = tmp_path / "slot.msgpack"
    source.write_bytes(b"parse state" * 100)
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(victim, target / partialparse.FILE)  # planted as the file
    assert partialparse.seed(str(target), str(source), sha)
    assert victim.read_text() == "keep me" and not os.path.islink(target / partialparse.FILE)
    assert (target / partialparse.FILE).read_bytes() == source.read_bytes()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, tmp_path / "linked")  # planted as the folder
    assert not partialparse.seed(str(tmp_path / "linked"), str(source), sha)
    assert os.listdir(elsewhere) == []
