import os

from bot.config import MeshConfig, ProjectEntry
from bot.discovery import discover_projects, find_changed_projects


def test_find_changed_projects_deepest_owner_wins():
    cfg = MeshConfig(projects=[ProjectEntry("shop"), ProjectEntry("shop/nested"), ProjectEntry("finance")])
    got = find_changed_projects(cfg, ["shop/nested/models/a.sql", "README.md", "finance/dbt_project.yml"])
    assert [p.path for p in got] == ["shop/nested", "finance"]
    assert find_changed_projects(cfg, ["shopping/x.sql"]) == []
    root = MeshConfig(projects=[ProjectEntry("")])
    assert [p.path for p in find_changed_projects(root, ["models/x.sql"])] == [""]


def test_discovery_bounded_no_symlinks(tmp_path):
    for rel in ("shop", "finance/sub", "a/b/c/d/e/deep"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "dbt_project.yml").write_text("name: x\n")
    (tmp_path / "shop" / "dbt_packages" / "pkg").mkdir(parents=True)
    (tmp_path / "shop" / "dbt_packages" / "pkg" / "dbt_project.yml").write_text("name: pkg\n")
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "dbt_project.yml").write_text("name: y\n")
    outside = tmp_path.parent / (tmp_path.name + "-outside")
    outside.mkdir()
    (outside / "dbt_project.yml").write_text("name: evil\n")
    os.symlink(outside, tmp_path / "link")
    (tmp_path / "trap").mkdir()
    os.symlink(outside / "dbt_project.yml", tmp_path / "trap" / "dbt_project.yml")
    assert [p.path for p in discover_projects(str(tmp_path))] == ["finance/sub", "shop"]
