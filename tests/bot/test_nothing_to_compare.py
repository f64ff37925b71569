"""Nothing to compare (issue 9, item 12): base and head the same commit, or uncommitted edits that
``--head HEAD`` leaves out, are said in the report and its verdict, never a bare "✅ No downstream
impact". The real CLI on a git repository of a tiny project (the mesh is still compiled: a
project that does not compile is an error whatever the refs), the verdict lines alone, and the
example mesh with a harmless commit and an uncommitted breaking rename."""
import json
import os
import subprocess
import sys

import pytest

from analysis.report import NOTHING_TO_COMPARE, UNCOMMITTED, GitRef, Report
from bot import worktree
from bot.demo import _git, commit_change, init_mesh_repo
from bot.render import verdict
from tests.scenarios import SCENARIOS


def meshdiff(*args, cache):
    env = {**os.environ, "MESHDIFF_CACHE_DIR": cache}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    project = root / "tiny"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: tiny\nprofile: tiny\nconfig-version: 2\nversion: '1.0'\n")
    (project / "models" / "one.sql").write_text("select 1 as id\n")
    (root / "README").write_text("not the project\n")
    _git(str(root), "init", "-q", "-b", "main")
    _git(str(root), "add", "-A")
    _git(str(root), "commit", "-q", "-m", "tiny")
    return root


@pytest.mark.dbt
def test_same_commit_says_nothing_to_compare(repo, tmp_path):
    out = tmp_path / "report.json"
    cache = str(tmp_path / "cache")
    proc = meshdiff("analyze", "--project", str(repo / "tiny"), "--base", "main", "--format", "json",
                    "--output", str(out), cache=cache)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["base"]["sha"] == report["head"]["sha"]
    assert report["conclusion"] == "success" and report["changes"] == [] and report["impacts"] == []
    assert len(report["warnings"]) == 1
    assert report["warnings"][0].startswith(NOTHING_TO_COMPARE) and "same commit" in report["warnings"][0]
    markdown = meshdiff("analyze", "--project", str(repo / "tiny"), "--base", "main", cache=cache)
    first = markdown.stdout.splitlines()[0]
    assert first == "### ➖ Nothing to compare: base and head are the same commit", markdown.stdout
    assert "No downstream impact" not in markdown.stdout


@pytest.mark.dbt
def test_uncommitted_edits_of_the_project_are_named(repo, tmp_path):
    (repo / "tiny" / "models" / "one.sql").write_text("select 2 as id\n")  # edited
    (repo / "tiny" / "models" / "two.sql").write_text("select 1 as x\n")  # new, not ignored
    (repo / "tiny" / "target").mkdir()
    (repo / "tiny" / "target" / "manifest.json").write_text("{}")  # dbt's output: not the project
    (repo / "tiny" / "local.duckdb").write_text("")
    (repo / "README").write_text("outside the project\n")
    checkout = worktree.locate(str(repo / "tiny"))
    head = worktree.resolve(checkout, "HEAD")
    assert worktree.uncommitted(checkout, head) == ["tiny/models/one.sql", "tiny/models/two.sql"]
    _git(str(repo), "checkout", "-q", "-b", "other")
    _git(str(repo), "commit", "-q", "--allow-empty", "-m", "other")
    assert worktree.uncommitted(checkout, head) == []  # --head names another commit than the working tree's

    _git(str(repo), "checkout", "-q", "main")
    out = tmp_path / "report.json"
    proc = meshdiff("analyze", "--project", str(repo / "tiny"), "--base", "main", "--format", "json",
                    "--output", str(out), cache=str(tmp_path / "cache"))
    assert proc.returncode == 0, proc.stderr
    warnings = json.loads(out.read_text())["warnings"]
    assert warnings[0].startswith(UNCOMMITTED + " 2 file(s) of tiny")
    assert "tiny/models/one.sql, tiny/models/two.sql" in warnings[0] and "manifest.json" not in warnings[0]
    assert warnings[1].startswith(NOTHING_TO_COMPARE)


def _report(**kw) -> Report:
    return Report(changed_project="shop", base=GitRef("main", "a" * 40), head=GitRef("x", kw.pop("head", "b" * 40)),
                  **kw)


def test_the_verdict_never_reads_bare_no_impact_when_it_covers_less():
    assert verdict.heading([_report()]) == "### ✅ No downstream impact"
    edits = [f"{UNCOMMITTED} 1 file(s) of shop differ from the commit --head HEAD names: shop/models/a.sql"]
    assert verdict.heading([_report(warnings=edits)]) == (
        "### ⚠️ No downstream impact of the committed changes (uncommitted edits not analysed)")
    assert verdict.title([_report(warnings=edits)]) == (
        "No downstream impact of the committed changes (uncommitted edits not analysed)")
    assert verdict.heading([_report(head="a" * 40)]) == "### ➖ Nothing to compare: base and head are the same commit"
    assert verdict.title([_report(head="a" * 40)]) == "Nothing to compare: base and head are the same commit"


@pytest.mark.dbt
def test_a_harmless_commit_with_an_uncommitted_breaking_edit(tmp_path, meshdiff_cache):
    """The committed change is harmless; the uncommitted one would break finance: the report says
    the edits were not analysed (and names the file) instead of a bare "no downstream impact"."""
    repo = init_mesh_repo(None, str(tmp_path / "repo"))
    commit_change(repo, "harmless", SCENARIOS["description-only"], "description")
    _git(repo, "checkout", "-q", "harmless")
    for rel, old, new in SCENARIOS["rename-public-column"]:  # edited, not committed
        path = os.path.join(repo, rel)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text.replace(old, new, 1))
    out = tmp_path / "report.json"
    proc = meshdiff("analyze", "--project", f"{repo}/shop", "--base", "main",
                    "--downstream", f"{repo}/finance", "--downstream", f"{repo}/exec_reporting",
                    "--format", "json", "--output", str(out), cache=meshdiff_cache)
    assert proc.returncode == 0, proc.stderr
    report = Report.from_dict(json.loads(out.read_text()))
    assert report.errors == [] and report.impacts == [] and report.conclusion == "success"
    assert {c.node: c.category for c in report.changes} == {"model.shop.customers": "metadata"}
    assert report.uncommitted() and "shop/models/marts/customers.sql" in report.uncommitted()[0]
    assert "shop/models/marts/_marts.yml" in report.uncommitted()[0]
    assert verdict.heading([report]) == (
        "### ⚠️ No downstream impact of the committed changes (uncommitted edits not analysed)")
