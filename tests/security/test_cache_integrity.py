"""Cache integrity (issue 8, item 7), on real compiles: a PR in repository A cannot change
repository B's verdict.

The App gives each installation its own cache folder and its own seal key (derived from the
App's private key): only the trusted process writes records, each is sealed, and a record that
is not validly sealed reads as missing and is rebuilt. Here:

- A's hostile PR (sandboxed) tries to overwrite B's compile record: it cannot even see it;
- B's cached compile of its consumer is rewritten on disk (the consumer no longer reading the
  producer): B's verdict stays "breaking", the record is rebuilt. The same rewrite sealed with
  B's key (what only the trusted process can do) does flip the verdict: the rewrite matters, the
  seal is what stops it;
- A's records copied into B's folder do not verify there (another installation's key);
- A's analysis writes nothing in B's folder.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil

import pytest

from analysis.dbt.sandbox import SandboxConfig
from analysis.pipeline import AnalysisRequest, ProjectSpec, analyze
from analysis.report import GitRef, Report
from analysis.store import file_sha256, sealer_for
from bot.demo import _git, commit_change
from bot.settings import Settings
from bot.worktree import locate, resolve, worktrees

pytestmark = pytest.mark.dbt

FILES = {
    "shop/dbt_project.yml": "name: shop\nprofile: shop\nconfig-version: 2\nversion: '1.0'\n",
    "shop/models/orders.sql": "select 1 as id, 10 as amount\n",
    "shop/models/_models.yml": "models:\n  - name: orders\n    access: public\n",
    "finance/dbt_project.yml": "name: finance\nprofile: finance\nconfig-version: 2\nversion: '1.0'\n",
    "finance/models/revenue.sql": "select id, amount * 2 as revenue from {{ ref('shop', 'orders') }}\n",
    "finance/dbt_loom.config.yml": "manifests:\n  - name: shop\n    type: file\n    config:\n"
                                   "      path: ../shop/target/manifest.json\n",
}
KEY = "-----BEGIN RSA PRIVATE KEY-----\nnot-a-real-key-but-a-secret\n-----END RSA PRIVATE KEY-----\n"
SETTINGS = Settings(private_key=KEY)


def _repo(path) -> str:
    for rel, text in FILES.items():
        os.makedirs(os.path.dirname(os.path.join(path, rel)), exist_ok=True)
        with open(os.path.join(path, rel), "w") as handle:
            handle.write(text)
    _git(str(path), "init", "-q", "-b", "main")
    _git(str(path), "add", "-A")
    _git(str(path), "commit", "-q", "-m", "mesh")
    return str(path)


def _analyze(repo: str, branch: str, cache: str, installation: int) -> Report:
    """What the App's runner does for one PR of ``installation`` (its cache folder, its key)."""
    checkout = locate(os.path.join(repo, "shop"))
    base_sha, head_sha = resolve(checkout, "main"), resolve(checkout, branch)
    with worktrees(checkout, {"base": base_sha, "head": head_sha}) as dirs:
        return analyze(AnalysisRequest(
            changed=ProjectSpec(dirs["head"], name="shop"), base_path=dirs["base"],
            base=GitRef("main", base_sha), head=GitRef(branch, head_sha), repo_subdir="shop",
            downstream=[ProjectSpec(os.path.join(repo, "finance"), name="finance")],
            cache_dir=os.path.join(cache, "installations", str(installation)),
            cache_key=SETTINGS.cache_key(installation), sandbox=SandboxConfig(policy="required"),
            compile_timeout_s=600))


def _slots(cache: str, installation: int, project: str) -> list[str]:
    out = []
    for status in glob.glob(os.path.join(cache, "installations", str(installation), "compile", "*", "*", "status.json")):
        manifest = os.path.join(os.path.dirname(status), "manifest.json")
        if os.path.exists(manifest) and json.load(open(manifest))["metadata"]["project_name"] == project:
            out.append(os.path.dirname(status))
    return out


def _rewrite_consumer(slot: str, *, reseal_with: int | None = None) -> None:
    """The consumer's compiled SQL no longer reads the producer (what an attacker wanting "no
    impact" writes); with ``reseal_with``, sealed again with that installation's key."""
    manifest = os.path.join(slot, "manifest.json")
    data = json.load(open(manifest))
    node = data["nodes"]["model.finance.revenue"]
    node["compiled_code"] = "select 1 as id, 2 as revenue"
    node["depends_on"]["nodes"] = []
    with open(manifest, "w") as handle:
        json.dump(data, handle)
    for extra in glob.glob(os.path.join(slot, "*snapshot*")):
        os.remove(extra)
    if reseal_with is not None:
        cache_dir = os.path.dirname(os.path.dirname(os.path.dirname(slot)))
        sealer = sealer_for(cache_dir, SETTINGS.cache_key(reseal_with))
        status_file = os.path.join(slot, "status.json")
        with open(status_file, "rb") as handle:  # read as an attacker would: its seal ignored
            status = json.loads(handle.read()[:-sealer.trailer_size])
        status["manifest_sha256"] = file_sha256(manifest)
        status.pop("snapshot_sha256", None)
        sealer.write(status_file, json.dumps(status).encode())


def _tree_digest(folder: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(folder, "**", "*"), recursive=True)):
        if os.path.isfile(path):
            digest.update(path.encode() + open(path, "rb").read())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cache-integrity")
    repo_a, repo_b = _repo(root / "a"), _repo(root / "b")
    breaking = [("shop/models/orders.sql", None, "select 1 as id, 10 as amount_usd\n")]
    commit_change(repo_b, "rename-amount", breaking, "rename amount")
    cache = str(root / "cache")
    first = _analyze(repo_b, "rename-amount", cache, installation=2)
    assert first.conclusion == "failure" and not first.errors, first.to_dict()
    assert any(i.node == "model.finance.revenue" and i.severity == "breaking" for i in first.impacts)
    return {"a": repo_a, "b": repo_b, "cache": cache}


def _b_blocks(world) -> Report:
    report = _analyze(world["b"], "rename-amount", world["cache"], installation=2)
    assert not report.errors, report.errors
    return report


def test_a_hostile_pr_in_a_cannot_reach_bs_cache(world):
    [slot, *_] = _slots(world["cache"], 2, "finance")
    target = os.path.join(slot, "status.json")
    before = _tree_digest(os.path.join(world["cache"], "installations", "2"))
    sql = ("{% do run_query(\"COPY (select 'ok' as x) TO '" + target + "' (FORMAT CSV, HEADER false)\") %}\n"
           "{% do run_query(\"COPY (select 'ok' as x) TO '" + os.path.join(world["cache"], "planted.txt") + "'\") %}\n"
           "select 1 as id, 10 as amount\n")
    commit_change(world["a"], "overwrite-b", [("shop/models/orders.sql", None, sql)], "overwrite b's cache")
    report = _analyze(world["a"], "overwrite-b", world["cache"], installation=1)
    assert report.conclusion == "failure" and "Permission Error" in "\n".join(report.errors)
    assert not os.path.exists(os.path.join(world["cache"], "planted.txt"))
    assert _tree_digest(os.path.join(world["cache"], "installations", "2")) == before  # A wrote nothing of B's
    assert os.path.isdir(os.path.join(world["cache"], "installations", "1", "compile"))  # A's records: A's folder
    report = _b_blocks(world)
    assert report.conclusion == "failure"


def test_a_rewritten_record_of_b_is_ignored_and_rebuilt(world):
    slots = _slots(world["cache"], 2, "finance")
    assert slots
    for slot in slots:
        _rewrite_consumer(slot)  # not sealed by meshdiff
    report = _b_blocks(world)
    assert report.conclusion == "failure"
    assert any(i.node == "model.finance.revenue" and i.severity == "breaking" for i in report.impacts)
    for slot in _slots(world["cache"], 2, "finance"):  # rebuilt: the consumer reads the producer again
        data = json.load(open(os.path.join(slot, "manifest.json")))
        assert data["nodes"]["model.finance.revenue"]["depends_on"]["nodes"] == ["model.shop.orders"]


def test_the_rewrite_matters_only_the_seal_stops_it(world):
    """Control: the same rewrite, sealed with B's own key (what only meshdiff can do), flips B's
    verdict; sealed with A's key (another installation) it is ignored like any forgery."""
    for slot in _slots(world["cache"], 2, "finance"):
        _rewrite_consumer(slot, reseal_with=1)
    assert _b_blocks(world).conclusion == "failure"  # A's key does not verify in B's folder
    for slot in _slots(world["cache"], 2, "finance"):
        _rewrite_consumer(slot, reseal_with=2)
    flipped = _b_blocks(world)
    assert flipped.conclusion == "success", flipped.to_dict()  # the rewrite, validly sealed, would pass B
    for slot in _slots(world["cache"], 2, "finance"):
        shutil.rmtree(slot)  # leave B's cache honest for any later test


def test_a_records_do_not_verify_in_bs_folder(world):
    a_dir = os.path.join(world["cache"], "installations", "1")
    b_dir = os.path.join(world["cache"], "installations", "2")
    [a_status, *_] = glob.glob(os.path.join(a_dir, "compile", "*", "*", "status.json"))
    rel = os.path.relpath(a_status, a_dir)
    moved = os.path.join(b_dir, rel)
    os.makedirs(os.path.dirname(moved), exist_ok=True)
    shutil.copyfile(a_status, moved)
    assert sealer_for(a_dir, SETTINGS.cache_key(1)).read(a_status) is not None
    assert sealer_for(b_dir, SETTINGS.cache_key(2)).read(moved) is None
