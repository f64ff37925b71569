"""Reading untrusted trees from the trusted process (no dbt): nothing is read through a link
leaving the project (YAML, seeds, CSV headers), and what a sandbox wrote is read without
following links and within a size cap."""
import json
import os

import pytest

from analysis.dbt.manifest import parse_manifest
from analysis.dbt.paths import OutputError, location_file, read_inside, read_output, resolve_inside
from analysis.dbt.project import read_project
from analysis.dbt.snapshot import ProjectLoader, write_snapshot
from analysis.errors import AnalysisError
from analysis.lineage.schema import csv_header

KEY = "-----BEGIN RSA PRIVATE KEY-----\nPLANTED-KEY-LINE\n"


@pytest.fixture
def tree(tmp_path):
    secret = tmp_path / "secret.pem"
    secret.write_text(KEY)
    project = tmp_path / "repo" / "shop"
    (project / "seeds").mkdir(parents=True)
    (project / "seeds" / "ok.csv").write_text("id,name\n1,a\n")
    (project / "seeds" / "inner.csv").symlink_to(project / "seeds" / "ok.csv")  # stays inside: fine
    (project / "seeds" / "leak.csv").symlink_to(secret)
    return tmp_path, project, secret


def test_resolve_inside_refuses_links_and_paths_leaving_the_tree(tree):
    tmp_path, project, secret = tree
    assert resolve_inside(str(project), "seeds/ok.csv") == str(project / "seeds" / "ok.csv")
    assert resolve_inside(str(project), "seeds/inner.csv") == str(project / "seeds" / "inner.csv")
    assert resolve_inside(str(project), "seeds/leak.csv") is None
    assert resolve_inside(str(project), "../../secret.pem") is None
    assert resolve_inside(str(project), str(secret)) is None
    assert resolve_inside(str(project), "seeds") is None  # a folder
    assert resolve_inside(str(project), "/dev/zero") is None


def test_a_symlinked_project_file_is_refused_not_read(tree):
    tmp_path, project, secret = tree
    (project / "dbt_project.yml").symlink_to(secret)
    with pytest.raises(AnalysisError) as caught:
        read_project(str(project))
    assert "symbolic link" in str(caught.value) and "PLANTED-KEY-LINE" not in str(caught.value)
    os.unlink(project / "dbt_project.yml")
    (project / "dbt_project.yml").write_text("name: shop\n")
    (project / "packages.yml").symlink_to(secret)
    with pytest.raises(AnalysisError, match="symbolic link"):
        read_project(str(project))


def test_a_yaml_error_does_not_quote_the_file(tree):
    tmp_path, project, _ = tree
    (project / "dbt_project.yml").write_text("name: shop\nvars: {a: [SECRET-LOOKING-TEXT\n")
    with pytest.raises(AnalysisError) as caught:
        read_project(str(project))
    assert "not valid YAML" in str(caught.value) and "line 2" in str(caught.value)
    assert "SECRET-LOOKING-TEXT" not in str(caught.value)


def _manifest(seed_file: str) -> dict:
    seed = {"unique_id": "seed.shop.raw", "resource_type": "seed", "package_name": "shop", "name": "raw",
            "original_file_path": seed_file, "root_path": "/", "config": {}, "columns": {}}
    return {"metadata": {"project_name": "shop", "adapter_type": "duckdb"}, "nodes": {"seed.shop.raw": seed}}


@pytest.mark.parametrize("seed_file, kept", [("seeds/ok.csv", True), ("seeds/inner.csv", True),
                                              ("seeds/leak.csv", False), ("../../secret.pem", False)])
def test_a_seed_is_read_only_inside_the_project(tree, seed_file, kept):
    tmp_path, project, _ = tree
    node = parse_manifest(_manifest(seed_file), project_dir=str(project)).nodes["seed.shop.raw"]
    assert (node.seed_path is not None) == kept
    header = csv_header(node.seed_path) if node.seed_path else None
    assert "PLANTED-KEY-LINE" not in json.dumps(header)
    # the snapshot a compile leaves keeps the rule when it is loaded for another checkout
    manifest = tmp_path / f"m-{kept}.json"
    manifest.write_text(json.dumps(_manifest(seed_file)))
    write_snapshot(str(manifest), parse_manifest(_manifest(seed_file), project_dir=str(project)))
    loaded = ProjectLoader().load(str(manifest), project_dir=str(project)).nodes["seed.shop.raw"]
    assert (loaded.seed_path is not None) == kept


def test_without_a_project_folder_no_seed_path_comes_from_the_manifest(tree):
    node = parse_manifest(_manifest("etc/passwd")).nodes["seed.shop.raw"]
    assert node.seed_path is None  # root_path "/" of the manifest is not trusted


def test_read_inside_bounds_the_size(tree):
    tmp_path, project, _ = tree
    (project / "big.yml").write_text("x" * 5000)
    assert read_inside(str(project), "big.yml", limit=5000) == b"x" * 5000
    with pytest.raises(AnalysisError, match="larger than"):
        read_inside(str(project), "big.yml", limit=4999)


def test_read_output_never_follows_a_link(tmp_path, tree):
    _, _, secret = tree
    out = tmp_path / "out"
    (out / "target").mkdir(parents=True)
    (out / "target" / "manifest.json").write_text("{}")
    assert read_output(str(out), "target/manifest.json", limit=100) == b"{}"
    os.unlink(out / "target" / "manifest.json")
    (out / "target" / "manifest.json").symlink_to(secret)
    with pytest.raises(OutputError, match="link"):
        read_output(str(out), "target/manifest.json", limit=1000)
    os.unlink(out / "target" / "manifest.json")
    os.rmdir(out / "target")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "manifest.json").write_text(KEY)
    (out / "target").symlink_to(tmp_path / "elsewhere")  # a linked folder on the way
    with pytest.raises(OutputError, match="not a folder"):
        read_output(str(out), "target/manifest.json", limit=1000)
    os.unlink(out / "target")
    (out / "target").mkdir()
    os.mkfifo(out / "target" / "manifest.json")  # would block a plain open()
    with pytest.raises(OutputError, match="not a regular file"):
        read_output(str(out), "target/manifest.json", limit=1000)


def test_read_output_bounds_the_size(tmp_path):
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "manifest.json").write_bytes(b"x" * 2048)
    with pytest.raises(OutputError, match="limit"):
        read_output(str(tmp_path), "target/manifest.json", limit=1024)


def test_the_file_of_a_read_csv_source_is_found_only_inside_the_project(tree):
    tmp_path, project, secret = tree
    root = str(project)
    ok = str(project / "seeds" / "ok.csv")
    assert location_file(root, "read_csv('seeds/ok.csv', header = true)") == ok
    assert location_file(root, f"read_csv('{ok}')") == ok  # absolute, inside
    assert location_file(root, "'seeds/ok.csv'") == ok  # DuckDB's replacement scan
    assert location_file(root, "read_csv('seeds/inner.csv')") == str(project / "seeds" / "inner.csv")
    assert location_file(root, "read_csv('seeds/leak.csv')") is None  # a link leaving the project
    assert location_file(root, f"read_csv('{secret}')") is None
    assert location_file(root, "read_csv('../../secret.pem')") is None
    assert location_file(root, "read_csv('seeds/*.csv')") is None  # a glob: which header?
    assert location_file(root, "read_csv(['seeds/ok.csv', 'seeds/inner.csv'])") is None
    assert location_file(root, "read_csv('s3://bucket/x.csv')") is None
    assert location_file(root, "read_csv('seeds/missing.csv')") is None
    assert location_file("", "read_csv('seeds/ok.csv')") is None


def _source_manifest(location: str) -> dict:
    source = {"unique_id": "source.shop.raw.events", "resource_type": "source", "package_name": "shop",
              "source_name": "raw", "name": "events", "relation_name": location,
              "meta": {"external_location": location}, "columns": {}}
    return {"metadata": {"project_name": "shop", "adapter_type": "duckdb"}, "nodes": {},
            "sources": {"source.shop.raw.events": source}}


def test_a_source_file_path_comes_from_the_manifest_and_moves_with_the_checkout(tree, tmp_path):
    _, project, _ = tree
    location = "read_csv('seeds/ok.csv', header = true)"
    node = parse_manifest(_source_manifest(location), project_dir=str(project)).nodes["source.shop.raw.events"]
    assert node.location_path == str(project / "seeds" / "ok.csv")
    leak = parse_manifest(_source_manifest("read_csv('seeds/leak.csv')"), project_dir=str(project))
    assert leak.nodes["source.shop.raw.events"].location_path is None
    # the snapshot stores the path relative to the project; another checkout gets its own file
    manifest = tmp_path / "sources.json"
    manifest.write_text(json.dumps(_source_manifest(location)))
    write_snapshot(str(manifest), parse_manifest(_source_manifest(location), project_dir=str(project)))
    other = tmp_path / "other"
    (other / "seeds").mkdir(parents=True)
    (other / "seeds" / "ok.csv").write_text("x\n1\n")
    loader = ProjectLoader()
    first = loader.load(str(manifest), project_dir=str(project)).nodes["source.shop.raw.events"]
    second = loader.load(str(manifest), project_dir=str(other)).nodes["source.shop.raw.events"]
    assert first.location_path == str(project / "seeds" / "ok.csv")
    assert second.location_path == str(other / "seeds" / "ok.csv")
