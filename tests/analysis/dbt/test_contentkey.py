"""The compile key covers every file dbt may read (:mod:`analysis.dbt.contentkey`).

A file dbt reads but the key misses would let a PR reuse an older compile with its change unseen
(a breaking change passing). dbt walks hidden folders and folders named ``logs`` or ``target``
below its paths, and follows links: proven on a real compile below, and each must change the key.
"""
import os

import pytest

from analysis.dbt import compile as dbt
from analysis.dbt.contentkey import content_key


def _project(root, extra_yml=""):
    os.makedirs(os.path.join(root, "models"), exist_ok=True)
    with open(os.path.join(root, "dbt_project.yml"), "w", encoding="utf-8") as handle:
        handle.write(f"name: ck\nprofile: ck\nconfig-version: 2\nversion: '1.0'\n{extra_yml}")
    with open(os.path.join(root, "models", "a.sql"), "w", encoding="utf-8") as handle:
        handle.write("select 1 as id\n")
    return root


def _key(root) -> str:
    return content_key(dbt.read_project(root), {})


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


@pytest.mark.parametrize("rel", ["models/.hidden/b.sql", "models/logs/b.sql", "models/target/b.sql",
                                 "models/node_modules/b.sql", "models/__pycache__/b.sql", ".hidden.sql",
                                 "macros/.m/x.sql"])
def test_a_file_dbt_may_read_changes_the_key(tmp_path, rel):
    root = _project(str(tmp_path / "p"))
    before = _key(root)
    _write(os.path.join(root, rel), "select 2 as id\n")
    after = _key(root)
    assert after != before
    _write(os.path.join(root, rel), "select 3 as id\n")
    assert _key(root) != after


def test_top_level_build_output_is_left_out_unless_a_path_setting_names_it(tmp_path):
    root = _project(str(tmp_path / "p"))
    before = _key(root)
    for rel in ("target/manifest.json", "logs/dbt.log", ".venv/lib/x.py", ".git/HEAD", "mesh.duckdb"):
        _write(os.path.join(root, rel), "anything")
    assert _key(root) == before
    read = _project(str(tmp_path / "q"), "model-paths: ['models', 'target/sql']\n")
    first = _key(read)
    _write(os.path.join(read, "target", "sql", "b.sql"), "select 2 as id\n")
    assert _key(read) != first  # dbt reads target/sql here: so does the key
    odd = _project(str(tmp_path / "r"), "model-paths: '{{ env_var(\"X\") }}'\n")
    first = _key(odd)
    _write(os.path.join(odd, "logs", "b.sql"), "select 2 as id\n")
    assert _key(odd) != first  # a setting meshdiff cannot read leaves nothing out


def test_a_link_counts_by_its_target_and_the_content_it_reaches(tmp_path):
    root = _project(str(tmp_path / "p"))
    _write(os.path.join(root, "target", "real.sql"), "select 2 as id\n")  # a folder left out of the key
    os.symlink("../target/real.sql", os.path.join(root, "models", "b.sql"))
    first = _key(root)
    _write(os.path.join(root, "target", "real.sql"), "select 3 as id\n")
    second = _key(root)
    assert second != first  # the linked file's content changed, though its folder is left out
    os.remove(os.path.join(root, "models", "b.sql"))
    os.symlink("/etc/hostname", os.path.join(root, "models", "b.sql"))
    assert _key(root) not in (first, second)


@pytest.mark.dbt
def test_dbt_compiles_models_in_hidden_and_logs_folders(tmp_path):
    """The premise: dbt's walk of model-paths reads these folders (so the key must)."""
    root = _project(str(tmp_path / "p"))
    _write(os.path.join(root, "models", ".hidden", "b.sql"), "select 2 as id\n")
    _write(os.path.join(root, "models", "logs", "c.sql"), "select 3 as id\n")
    result = dbt.compile_project(dbt.read_project(root), {}, cache_dir=str(tmp_path / "cache"))
    assert result.ok, result.error
    import json

    with open(result.manifest_path, encoding="utf-8") as handle:
        nodes = json.load(handle)["nodes"]
    assert {"model.ck.a", "model.ck.b", "model.ck.c"} <= set(nodes)


@pytest.mark.dbt
def test_a_pr_that_only_edits_a_model_in_a_logs_folder_is_analysed(tmp_path):
    """End to end: a PR whose only change is in `models/logs/` (a folder the key once skipped)
    must not be served its base's compile: the removed column is reported and blocks."""
    from analysis.pipeline import AnalysisRequest, ProjectSpec, analyze
    from analysis.report import GitRef

    base = _project(str(tmp_path / "base" / "ck"))
    _write(os.path.join(base, "models", "logs", "orders.sql"), "select 1 as id, 2 as amount\n")
    _write(os.path.join(base, "models", "totals.sql"), "select sum(amount) as total from {{ ref('orders') }}\n")
    head = str(tmp_path / "head" / "ck")
    import shutil

    shutil.copytree(base, head)
    _write(os.path.join(head, "models", "logs", "orders.sql"), "select 1 as id\n")
    cache = str(tmp_path / "cache")
    request = AnalysisRequest(changed=ProjectSpec(head), base_path=base, base=GitRef("main", "0" * 40),
                              head=GitRef("pr", "1" * 40), cache_dir=cache)
    report = analyze(request)
    assert not report.errors, report.errors
    changed = {c.node: c for c in report.changes}
    assert "model.ck.orders" in changed and changed["model.ck.orders"].category == "breaking"
    assert any(c.name == "amount" and c.change == "removed" for c in changed["model.ck.orders"].columns)
    assert report.conclusion == "failure"
