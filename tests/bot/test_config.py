import os

import pytest

from analysis.impact.policy import Policy
from bot.config import (ConfigError, DownstreamEntry, MeshConfig, ProjectEntry, merge_config, parse_mesh_config,
                        read_config_file)
from tests.paths import ROOT

FULL = """
version: 1
projects:
  - path: shop
    name: shop
    dialect: snowflake
    target: prod
downstream:
  - repo: octo-org/finance-dbt
    path: finance
    branch: main
    dialect: null
    target: ci
policy:
  fail_on: [breaking, unknown]
  governance: true
"""


def test_full_example_parses():
    cfg = parse_mesh_config(FULL, source=".meshdiff.yml")
    assert cfg.projects == [ProjectEntry(path="shop", name="shop", dialect="snowflake", target="prod")]
    assert cfg.downstream == [DownstreamEntry(path="finance", repo="octo-org/finance-dbt", branch="main",
                                              target="ci")]
    assert cfg.policy == Policy(fail_on=frozenset({"breaking", "unknown"}), governance=True)
    assert {"projects", "downstream", "policy", "policy.fail_on", "policy.governance"} <= cfg.present


def test_empty_file_is_defaults():
    cfg = parse_mesh_config("", source="x")
    assert cfg.projects == [] and cfg.downstream == [] and cfg.policy == Policy()


@pytest.mark.parametrize("text, needles", [
    ("projects:\n  - paht: shop\n", ["x.yml", "projects[0].paht", "did you mean `path`"]),
    ("polcy: {}\n", ["`polcy`", "did you mean `policy`"]),
    ("projects:\n  - path: ../elsewhere\n", ["projects[0].path", "inside the repository"]),
    ("projects:\n  - path: /etc\n", ["projects[0].path"]),
    ("projects:\n  - name: shop\n", ["projects[0].path", "is required"]),
    ("policy:\n  fail_on: [breaking, nope]\n", ["policy.fail_on", "breaking, changed, unknown"]),
    ("policy:\n  governance: maybe\n", ["policy.governance", "true or false"]),
    ("downstream:\n  - repo: not a repo\n    path: f\n", ["downstream[0].repo", "owner/name"]),
    ("version: 2\n", ["version", "version 1"]),
    ("projects:\n  - path: shop\n    targte: prod\n", ["projects[0].targte", "did you mean `target`",
                                                        "path, name, dialect, target"]),
    ("projects:\n  - path: shop\n    target: --profiles-dir=/tmp\n", ["projects[0].target",
                                                                     "not a dbt target name"]),
    ("upstream:\n  - {path: shop, target: [prod]}\n", ["upstream[0].target", "non-empty string"]),
    ("projects: [\n", ["not valid YAML"]),
    ("projects:\n  - path: shop\n    dialect: snowflak\n", ["projects[0].dialect", "'snowflak' is not a sqlglot dialect",
                                                         "did you mean snowflake?", "bigquery, clickhouse"]),
    ("downstream:\n  - path: f\n    dialect: oracel\n", ["downstream[0].dialect", "valid dialects: athena"]),
    ("- a\n- b\n", ["must be a mapping"]),
    ("projects:\n  - path: shop\n  - path: ./shop\n", ["projects[1].path", "repeats"]),
])
def test_errors_name_file_key_and_fix(text, needles):
    with pytest.raises(ConfigError) as err:
        parse_mesh_config(text, source="x.yml")
    for needle in needles:
        assert needle in str(err.value)


def test_paths_are_normalised():
    cfg = parse_mesh_config("projects:\n  - ./shop/\n  - path: .\n", source="x")
    assert [p.path for p in cfg.projects] == ["shop", ""]


def test_merge_repo_keys_win_lists_replace():
    org = parse_mesh_config("downstream:\n  - {repo: o/a, path: a}\n  - {repo: o/b, path: b}\n"
                            "policy: {fail_on: [breaking], governance: false}\n", source="org")
    repo = parse_mesh_config("projects: [shop]\ndownstream:\n  - {repo: o/c, path: c}\n"
                             "policy: {fail_on: [breaking, changed]}\n", source="repo")
    merged = merge_config(org, repo)
    assert [d.repo for d in merged.downstream] == ["o/c"]
    assert merged.policy.fail_on == frozenset({"breaking", "changed"})
    assert merged.policy.governance is False  # not set by the repo: from the org
    assert [p.path for p in merged.projects] == ["shop"]
    only_org = merge_config(org, parse_mesh_config("projects: [shop]\n", source="repo"))
    assert [d.repo for d in only_org.downstream] == ["o/a", "o/b"]
    assert merge_config(None, None) == MeshConfig()
    assert merge_config(org, None) is org and merge_config(None, repo) is repo


def test_read_config_file(tmp_path):
    assert read_config_file(str(tmp_path), source="r") is None
    (tmp_path / ".meshdiff.yml").write_text(FULL)
    assert read_config_file(str(tmp_path), source="r").projects[0].path == "shop"
    (tmp_path / ".meshdiff.yml").unlink()
    os.symlink("/etc/hostname", tmp_path / ".meshdiff.yml")
    with pytest.raises(ConfigError, match="symbolic link"):
        read_config_file(str(tmp_path), source="r")


def test_readme_full_example_parses_with_targets():
    """The full example of README's "Mesh configuration" section is valid and sets targets."""
    import re

    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme.split("## Mesh configuration", 1)[1]
    text = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    cfg = parse_mesh_config(text, source="README.md")
    assert cfg.projects[0].target == "prod" and all(e.target is None or e.target for e in cfg.downstream)
    assert any(e.target for e in cfg.downstream) and cfg.upstream


def test_dialect_names_are_checked_and_lower_cased():
    cfg = parse_mesh_config("projects:\n  - path: shop\n    dialect: Snowflake\n", source="x")
    assert cfg.projects[0].dialect == "snowflake"
