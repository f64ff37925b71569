"""Which project each upstream declaration names (issue 9, items 1 and 2), without dbt: a dbt-loom
entry is bound to the project of the manifest it points at, whatever its label; dependencies.yml
``projects:`` are upstreams too. The scenario on real compiles: tests/analysis/test_never_silently_safe.py."""
import json
import os

import pytest

from analysis.dbt import loom
from analysis.dbt.compile import CompileResult
from analysis.dbt.project import read_project
from analysis.errors import AnalysisError


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    write(str(root / "platform" / "dbt_project.yml"), "name: platform\n")
    return root


def consumer(repo, loom_yml=None, dependencies=None):
    write(str(repo / "revenue" / "dbt_project.yml"), "name: revenue\n")
    if loom_yml is not None:
        write(str(repo / "revenue" / "dbt_loom.config.yml"), loom_yml)
    if dependencies is not None:
        write(str(repo / "revenue" / "dependencies.yml"), dependencies)
    return read_project(str(repo / "revenue"))


def entry(name, path):
    return f"manifests:\n  - name: {name}\n    type: file\n    config:\n      path: {path}\n"


def test_a_label_is_bound_to_the_project_folder_holding_its_manifest(repo):
    """dbt-loom's own test project: the entry `potato` points at ../revenue/target/manifest.json."""
    found = consumer(repo, entry("potato", "../platform/target/manifest.json"))
    assert found.upstream_names == ("platform",)


def test_a_committed_manifest_outside_any_project_is_bound_by_its_metadata(repo):
    write(str(repo / "manifests" / "upstream.json"),
          json.dumps({"metadata": {"dbt_version": "1.10.0", "project_name": "platform"}, "nodes": {}}))
    found = consumer(repo, entry("potato", "../manifests/upstream.json"))
    assert found.upstream_names == ("platform",)


def test_a_manifest_that_cannot_be_read_keeps_the_label(repo, tmp_path):
    assert consumer(repo, entry("potato", str(tmp_path / "elsewhere" / "manifest.json"))).upstream_names == ("potato",)
    assert consumer(repo, entry("platform", "https://example.com/manifest.json")).upstream_names == ("platform",)


def test_a_label_naming_another_project_follows_the_manifest_not_the_label(repo):
    write(str(repo / "ops" / "dbt_project.yml"), "name: ops\n")
    assert consumer(repo, entry("platform", "../ops/target/manifest.json")).upstream_names == ("ops",)


def test_dependencies_yml_projects_are_upstreams(repo):
    found = consumer(repo, dependencies="projects:\n  - name: platform\n  - name: ops\npackages: []\n")
    assert found.upstream_names == ("platform", "ops")
    assert not found.has_packages
    # a project both files name is one upstream
    both = consumer(repo, entry("potato", "../platform/target/manifest.json"), "projects:\n  - name: platform\n")
    assert both.upstream_names == ("platform",)


@pytest.mark.parametrize("text, message", [
    ("projects: platform\n", "`projects` must be a list, not a str"),
    ("projects:\n  - version: 1\n", "entry 1 of `projects` has no `name`"),
])
def test_a_dependencies_yml_dbt_cannot_read_is_an_error_naming_it(repo, text, message):
    with pytest.raises(AnalysisError) as exc:
        consumer(repo, dependencies=text)
    assert message in str(exc.value) and "dependencies.yml" in str(exc.value)


def test_the_generated_loom_config_repoints_a_bound_entry_and_wires_dependencies(repo):
    found = consumer(repo, entry("potato", "../platform/target/manifest.json"), "projects:\n  - name: finance\n")
    upstream = {"platform": CompileResult("platform", "/x", "k", "/cache/platform/manifest.json", True),
                "finance": CompileResult("finance", "/y", "k2", "/cache/finance/manifest.json", True)}
    plan = loom.plan(found, upstream)
    assert plan.warnings == []
    assert plan.config["manifests"] == [
        {"name": "potato", "type": "file", "config": {"path": "/cache/platform/manifest.json"}, "optional": False,
         "excluded_packages": ["revenue"]},
        {"name": "finance", "type": "file", "config": {"path": "/cache/finance/manifest.json"}, "optional": False,
         "excluded_packages": ["revenue"]},
    ]


def test_a_dependencies_yml_project_outside_the_analysis_is_a_warning_naming_it(repo):
    found = consumer(repo, dependencies="projects:\n  - name: ops\n")
    plan = loom.plan(found, {})
    assert plan.config["manifests"] == [] and plan.absent == []
    assert len(plan.warnings) == 1
    assert plan.warnings[0].startswith("revenue reads project `ops` (`projects:` of its dependencies.yml), which is "
                                       "not part of the analysis")
    assert "--upstream DIR" in plan.warnings[0]


def test_a_consumer_checked_out_apart_is_bound_by_the_folder_its_path_names(tmp_path):
    """The consumer's checkout does not hold ../platform (another repository): the entry `potato`
    is bound to the analysed project whose folder (or name) its path names, never to another."""
    from analysis.dbt import bind_by_folder

    alone = tmp_path / "finance-repo"
    (alone / ".git").mkdir(parents=True)
    found = consumer(alone, entry("potato", "../platform/target/manifest.json"))
    assert found.upstream_names == ("potato",)
    (bound,) = bind_by_folder([found], {"platform": "platform", "revenue": "revenue"})
    assert bound.upstream_names == ("platform",)
    (same,) = bind_by_folder([found], {"shop": "shop"})
    assert same.upstream_names == ("potato",)
    labelled = consumer(alone, entry("shop", "../platform/target/manifest.json"))
    (kept,) = bind_by_folder([labelled], {"platform": "platform", "shop": "shop"})
    assert kept.upstream_names == ("shop",)  # the label names an analysed project: dbt-loom's own match
