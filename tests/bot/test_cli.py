"""The `meshdiff` command on real compiles: exit codes, formats, what dbt says when a project does
not compile. Bad input of every flag is in test_cli_inputs.py (no dbt needed there)."""
import json
import os
import subprocess
import sys

import pytest

from bot.demo import commit_change
from tests.scenarios import SCENARIOS

pytestmark = pytest.mark.dbt


def meshdiff(*args, cache, cwd=None):
    env = {**os.environ, "MESHDIFF_CACHE_DIR": cache}
    # no time limit: each dbt invocation has its own (--compile-timeout), a busy machine is only slower
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True,
                          env=env, cwd=cwd)


def no_traceback(proc):
    assert "Traceback" not in proc.stderr + proc.stdout


def test_breaking_change_exits_1_with_json_report(mesh_repo, meshdiff_cache, tmp_path):
    commit_change(mesh_repo, "cli-rename", SCENARIOS["rename-public-column"], "rename")
    out = tmp_path / "report.json"
    proc = meshdiff("analyze", "--project", f"{mesh_repo}/shop", "--base", "main", "--head", "cli-rename",
                    "--downstream", f"{mesh_repo}/finance", "--downstream", f"{mesh_repo}/exec_reporting",
                    "--format", "json", "--output", str(out), cache=meshdiff_cache)
    no_traceback(proc)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(out.read_text())
    assert report["conclusion"] == "failure"
    assert report["changed_project"] == "shop" and report["head"]["ref"] == "cli-rename"
    assert len(report["base"]["sha"]) == 40
    assert {i["node"] for i in report["impacts"] if i["severity"] == "breaking"} == {
        "model.finance.customer_segments", "exposure.finance.churn_model",
        "test.finance.accepted_values_customer_segments_value_segment__gold__silver__bronze.e82fb21627"}
    assert report["changes"][0]["file"] == "shop/models/marts/customers.sql"
    assert set(report) >= {"changed_project", "base", "head", "conclusion", "changes", "impacts", "warnings", "errors"}


def test_safe_change_exits_0_with_markdown(mesh_repo, meshdiff_cache, tmp_path):
    commit_change(mesh_repo, "cli-reformat", SCENARIOS["reformat-only"], "reformat")
    mesh_file = os.path.join(mesh_repo, "cli-mesh.yml")  # paths are relative to the file
    with open(mesh_file, "w") as handle:
        handle.write("projects:\n  - path: shop\ndownstream:\n  - path: finance\n  - path: exec_reporting\n")
    try:
        proc = meshdiff("analyze", "--mesh", mesh_file, "--base", "main", "--head", "cli-reformat",
                        cache=meshdiff_cache)
    finally:
        os.remove(mesh_file)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    verdict, where = proc.stdout.splitlines()[:2]  # the comment's markdown, as a PR would get it
    assert verdict.startswith("### ✅") and "No downstream impact" in verdict
    assert "`cli-reformat`" in where and "3 projects analysed" in where


def test_project_that_does_not_compile_shows_dbts_message(mesh_repo, meshdiff_cache):
    commit_change(mesh_repo, "cli-broken", [("shop/models/marts/customers.sql", "{{ ref('stg_customers') }}",
                                             "{{ ref('stg_customerz') }}")], "broken")
    proc = meshdiff("analyze", "--project", f"{mesh_repo}/shop", "--base", "main", "--head", "cli-broken",
                    "--format", "json", cache=meshdiff_cache)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "shop does not compile at cli-broken" in proc.stderr
    assert "depends on a node named 'stg_customerz'" in proc.stderr
    assert json.loads(proc.stdout)["conclusion"] == "failure"


def test_missing_upstream(mesh_repo, meshdiff_cache):
    # finance reads shop through dbt-loom; without --upstream shop there is no manifest to read
    proc = meshdiff("analyze", "--project", f"{mesh_repo}/finance", "--base", "main", cache=meshdiff_cache)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "finance does not compile" in proc.stderr
    # what is missing, and what to do
    assert "finance reads project(s) shop through dbt-loom, but no manifest of it is available" in proc.stderr
    assert "shop/target/manifest.json does not exist (entry `shop` of dbt_loom.config.yml)" in proc.stderr
    assert "give meshdiff that project too: `--upstream DIR`" in proc.stderr


def lineage_of_two_columns(mesh_repo, cache, fmt):
    """``meshdiff lineage`` of customers.lifetime_value and customers.email over the three projects."""
    return meshdiff("lineage", "--project", f"{mesh_repo}/shop", "--downstream", f"{mesh_repo}/finance",
                    "--downstream", f"{mesh_repo}/exec_reporting", "--column", "model.shop.customers.lifetime_value",
                    "--column", "model.shop.customers.email", "--format", fmt, cache=cache)


def test_lineage_of_one_column_across_projects(mesh_repo, meshdiff_cache):
    proc = lineage_of_two_columns(mesh_repo, meshdiff_cache, "json")
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["model.shop.customers.lifetime_value"] == [
        "exposure.exec_reporting.board_dashboard",
        "exposure.finance.churn_model",
        "model.exec_reporting.top_customers.value_segment",
        "model.finance.customer_segments.lifetime_value",
        "model.finance.customer_segments.value_segment",
    ]
    # read through `select *` in a CTE but never selected: it reaches nothing
    assert result["model.shop.customers.email"] == []


def test_lineage_dump_and_bad_column(mesh_repo, meshdiff_cache):
    proc = meshdiff("lineage", "--project", f"{mesh_repo}/shop", "--format", "json", cache=meshdiff_cache)
    assert proc.returncode == 0, proc.stderr
    models = json.loads(proc.stdout)["models"]
    ltv = models["model.shop.customers"]["columns"]["lifetime_value"]
    # customers LEFT JOINs customer_ltv_private on customer_id, on which that model is declared
    # unique: both keys decide which ltv row each customer gets (so its columns' values), not
    # which customers come out (no row shaping)
    assert ltv == [{"from": "model.shop.customer_ltv_private.customer_id", "kind": "derived"},
                   {"from": "model.shop.customer_ltv_private.lifetime_value_cents", "kind": "derived"},
                   {"from": "model.shop.stg_customers.customer_id", "kind": "derived"}]
    assert models["model.shop.customers"]["row_shaping"] == []
    bad = meshdiff("lineage", "--project", f"{mesh_repo}/shop", "--column", "model.shop.customers.nope",
                   cache=meshdiff_cache)
    no_traceback(bad)
    assert bad.returncode == 2 and "has no column 'nope'" in bad.stderr


@pytest.mark.parametrize("command", ["analyze", "lineage"])
def test_unknown_dialect_is_refused_before_any_compile(mesh_repo, meshdiff_cache, command):
    args = ["--project", f"{mesh_repo}/shop", "--dialect", "shop=snowflak"] + (["--base", "main"] if command == "analyze" else [])
    proc = meshdiff(command, *args, cache=meshdiff_cache)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "--dialect shop=snowflak: 'snowflak' is not a sqlglot dialect" in proc.stderr
    assert "did you mean snowflake?" in proc.stderr and "valid dialects: athena, bigquery" in proc.stderr
    assert "internal error" not in proc.stdout + proc.stderr


def test_unknown_dialect_in_mesh_file(mesh_repo, meshdiff_cache, tmp_path):
    mesh_file = tmp_path / "bad.yml"
    mesh_file.write_text("projects:\n  - path: shop\n    dialect: nope\n")
    proc = meshdiff("analyze", "--mesh", str(mesh_file), "--base", "main", cache=meshdiff_cache)
    no_traceback(proc)
    assert proc.returncode == 2
    assert "projects[0].dialect` 'nope' is not a sqlglot dialect" in proc.stderr and "valid dialects:" in proc.stderr


def test_bad_catalog_is_refused_before_any_compile(mesh_repo, meshdiff_cache, tmp_path):
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    proc = meshdiff("analyze", "--project", f"{mesh_repo}/shop", "--base", "main", "--catalog", f"shop={listed}",
                    cache=meshdiff_cache)
    no_traceback(proc)
    assert proc.returncode == 2
    assert f"{listed} (--catalog shop) is not a dbt catalog" in proc.stderr and "dbt docs generate" in proc.stderr
    proc = meshdiff("analyze", "--project", f"{mesh_repo}/shop", "--base", "main", "--catalog", f"shopp={listed}",
                    cache=meshdiff_cache)
    no_traceback(proc)
    assert proc.returncode == 2 and "no project named 'shopp' is analysed" in proc.stderr and "one of: shop" in proc.stderr


def test_lineage_timeout_flag_reaches_the_lineage(mesh_repo, meshdiff_cache, tmp_path):
    # a fresh lineage cache (time-outs are never cached, but results are), the session's compiles
    import shutil
    assert meshdiff("lineage", "--project", f"{mesh_repo}/shop", cache=meshdiff_cache).returncode == 0
    shutil.copytree(os.path.join(meshdiff_cache, "compile"), tmp_path / "cache" / "compile")
    proc = meshdiff("lineage", "--project", f"{mesh_repo}/shop", "--lineage-timeout", "0.000001", "--format", "json",
                    "--cache-dir", str(tmp_path / "cache"), cache=meshdiff_cache)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    models = json.loads(proc.stdout)["models"]
    assert models and all(m["status"] == "unknown" for m in models.values())
    reason = models["model.shop.customers"]["reason"]
    assert "exceeded 1e-06 s" in reason and "--lineage-timeout SECONDS" in reason
    bad = meshdiff("analyze", "--project", f"{mesh_repo}/shop", "--base", "main", "--lineage-timeout", "-1",
                   cache=meshdiff_cache)
    no_traceback(bad)
    assert bad.returncode == 2 and "'-1' is not a positive number of seconds" in bad.stderr


def test_analyze_passes_the_lineage_timeout(mesh_repo, monkeypatch):
    import analysis.pipeline
    from analysis.report import GitRef, Report
    from bot.cli import main

    seen = []

    def fake(req):
        seen.append(req.lineage_timeout_s)
        return Report("shop", GitRef("main", ""), GitRef("HEAD", ""))

    monkeypatch.setattr(analysis.pipeline, "analyze", fake)
    assert main(["analyze", "--project", f"{mesh_repo}/shop", "--base", "main", "--lineage-timeout", "42"]) == 0
    assert main(["analyze", "--project", f"{mesh_repo}/shop", "--base", "main"]) == 0
    assert seen == [42.0, 10.0]


def test_lineage_takes_a_catalog(mesh_repo, meshdiff_cache, tmp_path):
    """``meshdiff lineage --catalog``: the catalog's column list and types replace the inferred ones
    (here a column only the warehouse knows becomes a column of the mesh that ``--column`` can name)."""
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"nodes": {"model.shop.customers": {"columns": {
        "customer_id": {"name": "CUSTOMER_ID", "type": "BIGINT", "index": 1},
        "lifetime_value": {"name": "LIFETIME_VALUE", "type": "DECIMAL(18,2)", "index": 2},
        "warehouse_only": {"name": "WAREHOUSE_ONLY", "type": "VARCHAR", "index": 3}}}}, "sources": {}}))
    column = ["--column", "model.shop.customers.warehouse_only", "--format", "json"]
    without = meshdiff("lineage", "--project", f"{mesh_repo}/shop", *column, cache=meshdiff_cache)
    no_traceback(without)
    assert without.returncode == 2 and "has no column 'warehouse_only'" in without.stderr
    proc = meshdiff("lineage", "--project", f"{mesh_repo}/shop", *column, "--catalog", f"shop={catalog}",
                    cache=meshdiff_cache)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"model.shop.customers.warehouse_only": []}


def test_lineage_passes_the_catalogs(mesh_repo, monkeypatch, tmp_path):
    import analysis.pipeline
    from bot.cli import main

    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"nodes": {"model.shop.customers": {"columns": {
        "customer_id": {"name": "customer_id", "type": "BIGINT", "index": 1}}}}, "sources": {}}))
    seen = []

    def fake(*args, **kwargs):
        seen.append(kwargs.get("catalogs"))
        raise analysis.pipeline.AnalysisError("stop here")

    monkeypatch.setattr(analysis.pipeline, "mesh_at_rest", fake)
    assert main(["lineage", "--project", f"{mesh_repo}/shop", "--catalog", f"shop={catalog}"]) == 2
    assert seen == [{"shop": str(catalog)}]


def test_demo_prints_the_blocking_report_and_exits_0(meshdiff_cache):
    # the demo's edits are the rename-public-column scenario's: the session cache has its compiles
    proc = meshdiff("demo", cache=meshdiff_cache)
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr  # the report was shown; it is the report that blocks
    out = proc.stdout
    assert ("### ❌ Blocks the merge: 2 breaking nodes in `finance` · makes `finance`'s "
            "`accepted_values_customer_segments_value_segment__gold__silver__bronze` fail") in out  # the test by name
    assert "`main` ← `rename-lifetime-value`" in out
    for node in ("`customer_segments`<br><sub>finance</sub>", "`churn_model` <sub>exposure</sub><br><sub>finance</sub>",
                 "| 🟡 changed | `top_customers` |"):
        assert node in out
    assert "`lifetime_value` renamed to `lifetime_value_usd`" in out
    data = meshdiff("demo", "--format", "json", cache=meshdiff_cache)
    assert data.returncode == 0
    report = json.loads(data.stdout)
    assert {i["node"] for i in report["impacts"] if i["project"] == "finance"} == {
        "model.finance.customer_segments", "exposure.finance.churn_model",
        "test.finance.accepted_values_customer_segments_value_segment__gold__silver__bronze.e82fb21627"}


def test_lineage_markdown_of_columns_and_of_the_whole_mesh(mesh_repo, meshdiff_cache):
    proc = lineage_of_two_columns(mesh_repo, meshdiff_cache, "markdown")
    no_traceback(proc)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (
        "- `model.shop.customers.lifetime_value` reaches 5 column(s)\n"
        "  - `exposure.exec_reporting.board_dashboard`\n"
        "  - `exposure.finance.churn_model`\n"
        "  - `model.exec_reporting.top_customers.value_segment`\n"
        "  - `model.finance.customer_segments.lifetime_value`\n"
        "  - `model.finance.customer_segments.value_segment`\n"
        "- `model.shop.customers.email` reaches 0 column(s)\n"
    )
    dump = meshdiff("lineage", "--project", f"{mesh_repo}/shop", "--format", "markdown", cache=meshdiff_cache)
    no_traceback(dump)
    assert dump.returncode == 0, dump.stderr
    lines = dump.stdout.splitlines()
    start = lines.index("- `model.shop.customers`")
    block = lines[start + 1:next(i for i in range(start + 1, len(lines)) if lines[i].startswith("- "))]
    assert ("  - `lifetime_value` ← `model.shop.customer_ltv_private.customer_id` (derived), "
            "`model.shop.customer_ltv_private.lifetime_value_cents` (derived), "
            "`model.shop.stg_customers.customer_id` (derived)") in block
    assert "  - `customer_id` ← `model.shop.stg_customers.customer_id` (passthrough)" in block
    assert not any(line.startswith("  - rows shaped by: ") for line in block)  # a LEFT JOIN on a unique key
    # every model of the project is listed, upstream first
    models = [line[3:-1] for line in lines if line.startswith("- `")]
    assert models.index("model.shop.stg_customers") < models.index("model.shop.customers")


def test_analyze_leaves_the_working_tree_untouched(mesh_repo, meshdiff_cache):
    commit_change(mesh_repo, "cli-untouched", SCENARIOS["reformat-only"], "reformat")
    sql = os.path.join(mesh_repo, "shop", "models", "marts", "customers.sql")
    notes = os.path.join(mesh_repo, "shop", "notes.txt")
    with open(sql, encoding="utf-8") as handle:
        committed = handle.read()
    with open(sql, "a", encoding="utf-8") as handle:  # the user's uncommitted edit
        handle.write("-- work in progress\n")
    with open(notes, "w", encoding="utf-8") as handle:  # and an untracked file
        handle.write("todo\n")

    def git(*args):
        return subprocess.run(["git", *args], cwd=mesh_repo, capture_output=True, text=True, check=True).stdout

    def state():
        return (git("status", "--porcelain", "--ignored", "--untracked-files=all"), git("worktree", "list", "--porcelain"),
                git("rev-parse", "HEAD"), git("branch", "--show-current"), git("stash", "list"), git("diff"))

    before = state()
    try:
        assert sorted(before[0].splitlines()) == [" M shop/models/marts/customers.sql", "?? shop/notes.txt"]
        proc = meshdiff("analyze", "--project", f"{mesh_repo}/shop", "--base", "main", "--head", "cli-untouched",
                        "--downstream", f"{mesh_repo}/finance", "--downstream", f"{mesh_repo}/exec_reporting",
                        "--format", "json", cache=meshdiff_cache)
        no_traceback(proc)
        assert proc.returncode == 0, proc.stderr
        assert state() == before  # same status (no target/, no logs/), same HEAD and branch, no stash
        assert git("worktree", "list", "--porcelain").count("worktree ") == 1  # no worktree left registered
        assert git("worktree", "prune", "--dry-run", "--verbose") == ""
        with open(sql, encoding="utf-8") as handle:
            assert handle.read() == committed + "-- work in progress\n"
        # the uncommitted edit is not analysed: head is the branch's commit
        assert json.loads(proc.stdout)["head"]["sha"] == git("rev-parse", "cli-untouched").strip()
    finally:
        with open(sql, "w", encoding="utf-8") as handle:
            handle.write(committed)
        os.remove(notes)
    assert git("status", "--porcelain", "--ignored") == ""
