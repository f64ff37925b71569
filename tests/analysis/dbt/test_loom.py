"""The generated dbt-loom config and profile (no dbt): mesh projects re-pointed at meshdiff's
manifests, local files inside the checkout kept, everything that would fetch or read outside
the checkout dropped with a warning; the DuckDB profile fenced in."""
import os

import pytest

from analysis.dbt import compile as dbt
from analysis.dbt import loom
from analysis.dbt.compile import CompileResult, DbtProjectFile, loom_config
from analysis.dbt.profile import duckdb_settings, profiles_yml


def project(tmp_path, entries=(), root=None) -> DbtProjectFile:
    path = tmp_path / "repo" / "finance"
    path.mkdir(parents=True, exist_ok=True)
    (path / "dbt_project.yml").write_text("name: finance\nprofile: finance\n")
    return DbtProjectFile(path=str(path), name="finance", profile="finance", loom_entries=tuple(entries),
                          root=str(root or tmp_path / "repo"))


def test_mesh_projects_are_repointed_and_local_files_inside_the_checkout_kept(tmp_path):
    repo = tmp_path / "repo"
    (repo / "vendored").mkdir(parents=True)
    (repo / "vendored" / "ops_manifest.json").write_text("{}")
    (repo / "marketing" / "target").mkdir(parents=True)
    (repo / "marketing" / "target" / "manifest.json").write_text("{}")
    entries = [
        {"name": "shop", "type": "file", "config": {"path": "../shop/target/manifest.json"}, "optional": True},
        {"name": "marketing", "type": "file", "config": {"path": "../marketing/target/manifest.json"},
         "excluded_packages": ["dbt_project_evaluator"], "unknown_key": "dropped"},
        {"name": "ops", "config": {"path": "file://" + str(repo / "vendored" / "ops_manifest.json")}},
        {"name": "sales", "type": "file", "config": {"path": "../sales/manifest.json"}, "included_packages": ["sales"]},
    ]
    proj = project(tmp_path, entries)
    upstream = {"shop": CompileResult("shop", "/x/shop", "k1", "relative/shop.json", True),
                "sales": CompileResult("sales", "/x/sales", "k2", "/abs/sales.json", True)}
    config = loom_config(proj, upstream)
    assert config["enable_telemetry"] is False
    by_name = {e["name"]: e for e in config["manifests"]}
    assert list(by_name) == ["shop", "marketing", "ops", "sales"]  # order kept
    assert by_name["shop"] == {"name": "shop", "type": "file", "config": {"path": os.path.abspath("relative/shop.json")},
                               "optional": False, "excluded_packages": ["finance"]}
    assert by_name["sales"]["included_packages"] == ["sales"] and "excluded_packages" not in by_name["sales"]
    assert by_name["marketing"] == {"name": "marketing", "type": "file", "excluded_packages": ["dbt_project_evaluator"],
                                    "config": {"path": str(repo / "marketing" / "target" / "manifest.json")}}
    assert by_name["ops"]["config"] == {"path": str(repo / "vendored" / "ops_manifest.json")}
    staged = loom.plan(proj, upstream, {"shop": "/in/upstream/0.json"}).config["manifests"][0]
    assert staged["config"] == {"path": "/in/upstream/0.json"}  # the copy among the sandbox's inputs


@pytest.mark.parametrize("entry, why", [
    ({"name": "crm", "type": "s3", "config": {"bucket_name": "b", "object_name": "m.json"}}, "type `s3`"),
    ({"name": "cloud", "type": "dbt_cloud", "config": {"account_id": 1, "job_id": 2}}, "type `dbt_cloud`"),
    ({"name": "web", "type": "file", "config": {"path": "http://127.0.0.1:8080/manifest.json"}}, "http:// URL"),
    ({"name": "bucket", "config": {"path": "gs://bucket/manifest.json"}}, "gs:// URL"),
    ({"name": "envy", "type": "file", "config": {"path": "$MANIFESTS/envy.json"}}, "environment variable"),
    ({"name": "outside", "type": "file", "config": {"path": "../../elsewhere/manifest.json"}}, "not a file inside"),
    ({"name": "linked", "type": "file", "config": {"path": "link.json"}}, "not a file inside"),
])
def test_what_would_fetch_or_leave_the_checkout_is_dropped_with_a_warning(tmp_path, entry, why):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "manifest.json").write_text("{}")  # exists, but outside the checkout
    proj = project(tmp_path, [entry])
    os.symlink(tmp_path / "elsewhere" / "manifest.json", os.path.join(proj.path, "link.json"))
    plan = loom.plan(proj, {})
    assert plan.config["manifests"] == [] and plan.absent == []
    (warning,) = plan.warnings
    assert f"`{entry['name']}` was dropped" in warning and why in warning and "--upstream DIR" in warning


def test_a_missing_upstream_manifest_is_named_before_dbt_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(dbt, "run_dbt", lambda *a, **k: pytest.fail("dbt must not run"))
    proj = project(tmp_path, [
        {"name": "shop", "type": "file", "config": {"path": "../shop/target/manifest.json"}},
        {"name": "crm", "type": "file", "config": {"path": "../crm/manifest.json"}, "optional": True},
    ])
    shop = os.path.join(os.path.dirname(proj.path), "shop", "target", "manifest.json")
    assert dbt.absent_manifests(proj, {}) == [("shop", shop)]
    result = dbt.compile_project(proj, {}, cache_dir=str(tmp_path / "cache"))
    assert not result.ok
    assert result.error.startswith("finance reads project(s) shop through dbt-loom, but no manifest of it is available")
    assert "`--upstream DIR`" in result.error
    assert not (tmp_path / "cache").exists()  # not cached: the manifest may exist on the next run
    upstream = {"shop": CompileResult("shop", "/x/shop", "k1", "/x/shop.json", True)}
    assert dbt.absent_manifests(proj, upstream) == []


def test_the_compile_key_follows_a_manifest_from_outside_the_mesh(tmp_path):
    """A consumer also reading a project outside the mesh (its manifest vendored in the checkout):
    a new version of that file is a new compile, not a stale cache hit; mesh upstreams count by key."""
    entries = [{"name": "shop", "type": "file", "config": {"path": "../shop/manifest.json"}},
               {"name": "ops", "type": "file", "config": {"path": "../ops/manifest.json"}}]
    proj = project(tmp_path, entries)
    (tmp_path / "repo" / "ops").mkdir()
    manifest = tmp_path / "repo" / "ops" / "manifest.json"
    manifest.write_text('{"metadata": {"project_name": "ops"}}')
    first = dbt.content_key(proj, {"shop": "k1"})
    assert dbt.content_key(proj, {"shop": "k1"}) == first
    assert dbt.content_key(proj, {"shop": "k2"}) != first
    manifest.write_text('{"metadata": {"project_name": "ops"}, "nodes": {}}')
    assert dbt.content_key(proj, {"shop": "k1"}) != first


def test_the_duckdb_profile_is_fenced_in_without_locking_the_configuration():
    settings = duckdb_settings(memory_mb=4096)
    assert settings["enable_external_access"] is False and settings["allow_community_extensions"] is False
    assert settings["autoinstall_known_extensions"] is False and settings["autoload_known_extensions"] is False
    assert settings["memory_limit"] == "2048MB" and settings["threads"] == 1
    assert "lock_configuration" not in settings  # it would break every run_query (SET per cursor)
    proj = DbtProjectFile(path="/p", name="tiny", profile="tiny_profile")
    output = profiles_yml(proj, "/out/mesh.duckdb", "prod")["tiny_profile"]["outputs"]["prod"]
    assert output["type"] == "duckdb" and output["path"] == "/out/mesh.duckdb"
    assert output["config_options"] == settings and output["settings"] == settings
