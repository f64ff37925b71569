"""`target`: the dbt target NAME a project is compiled with (``.meshdiff.yml`` ``target:``,
``--target PROJECT=NAME``). Real dbt compiles of one tiny project whose model branches on
``target.name``: the generated DuckDB profile's target carries that name, the compile cache
keeps one entry per name, and the CLI and ``mesh_at_rest`` pass it through."""
import json
import os
import subprocess
import sys

import pytest

from analysis.dbt import compile as dbt
from analysis.errors import AnalysisError
from analysis.dbt.manifest import load_manifest
from analysis.dbt.snapshot import ProjectLoader

pytestmark = pytest.mark.dbt

MODEL = """{% if target.name == 'prod' %}
select 1 as prod_only, '{{ target.name }}' as env
{% else %}
select 1 as other_only, '{{ target.name }}' as env
{% endif %}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("target")
    project = root / "tiny"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: tiny\nprofile: tiny\nconfig-version: 2\nversion: '1.0'\n")
    (project / "models" / "env.sql").write_text(MODEL)
    return str(project), str(root / "cache")


def _compiled(result) -> str:
    assert result.ok, result.error
    # the compile leaves its manifest's snapshot: analyses read it instead of the manifest
    loader = ProjectLoader()
    assert loader.load(result.manifest_path, project_dir=result.project_dir) and loader.parsed == []
    project = load_manifest(result.manifest_path, project_dir=result.project_dir)
    return " ".join(project.nodes["model.tiny.env"].compiled_sql.split())


def test_compile_names_the_target_and_caches_per_name(tiny):
    path, cache = tiny
    project = dbt.read_project(path)
    prod = dbt.compile_project(project, {}, cache_dir=cache, target="prod")
    assert "select 1 as prod_only, 'prod' as env" in _compiled(prod)
    default = dbt.compile_project(project, {}, cache_dir=cache)  # same files, same cache folder
    assert not default.cached and default.key != prod.key
    assert "select 1 as other_only, 'meshdiff' as env" in _compiled(default)
    again = dbt.compile_project(project, {}, cache_dir=cache, target="prod")
    assert again.cached and again.key == prod.key and "prod_only" in _compiled(again)
    profile = dbt.profiles_yml(project, "/tmp/x.duckdb", "prod")["tiny"]
    assert profile["target"] == "prod" and list(profile["outputs"]) == ["prod"]
    with pytest.raises(AnalysisError, match="not a dbt target name"):
        dbt.compile_project(project, {}, cache_dir=cache, target="--profiles-dir=/tmp")


def test_mesh_at_rest_uses_the_specs_target(tiny):
    from analysis.pipeline import ProjectSpec, mesh_at_rest

    path, cache = tiny
    state = mesh_at_rest(ProjectSpec(path=path, target="prod"), cache_dir=cache)
    assert "prod_only" in state.mesh.nodes["model.tiny.env"].compiled_sql
    assert list(state.lineage.schemas["model.tiny.env"]) == ["prod_only", "env"]


def _lineage(path, cache, *extra):
    proc = subprocess.run([sys.executable, "-m", "bot.cli", "lineage", "--project", path, "--format", "json",
                           "--cache-dir", cache, *extra], capture_output=True, text=True,
                          env={**os.environ, "MESHDIFF_CACHE_DIR": cache})
    return proc


def test_cli_target_flag(tiny):
    path, cache = tiny
    proc = _lineage(path, cache, "--target", "tiny=prod")
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout)["models"]["model.tiny.env"]["columns"]) == ["prod_only", "env"]
    proc = _lineage(path, cache)
    assert list(json.loads(proc.stdout)["models"]["model.tiny.env"]["columns"]) == ["other_only", "env"]
    proc = _lineage(path, cache, "--target", "tiny=-x")
    assert proc.returncode == 2 and "not a dbt target name" in proc.stderr and "Traceback" not in proc.stderr


def test_mesh_file_targets_reach_the_specs(tmp_path):
    """``target`` of ``--mesh`` entries (projects, downstream, upstream); command-line flags win."""
    from bot.cli.analyze import from_mesh as _from_mesh

    for name in ("shop", "finance", "core"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "dbt_project.yml").write_text(f"name: {name}\n")
    mesh = tmp_path / "mesh.yml"
    mesh.write_text("projects:\n  - {path: shop, target: prod}\ndownstream:\n  - {path: finance, target: ci}\n"
                    "upstream:\n  - {path: core, target: prod, dialect: snowflake}\n")
    dialects, targets = {}, {"finance": "from-flag"}
    project, down, up, _ = _from_mesh(str(mesh), None, [], [], dialects, targets)
    assert project.endswith("shop") and [os.path.basename(d) for d in down] == ["finance"]
    assert [os.path.basename(u) for u in up] == ["core"]
    assert targets == {"shop": "prod", "finance": "from-flag", "core": "prod"}
    assert dialects == {"core": "snowflake"}
