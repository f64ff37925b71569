"""A source that reads a file of the checkout (dbt-duckdb ``external_location: read_csv(...)``):
its columns are the file's (issue 10), so a PR that changes the file changes the source. Real
dbt compiles of a one-project repository, the whole ``meshdiff analyze``."""
import json
import os

import pytest

from analysis.report import Report
from bot.demo import commit_change
from tests.lakemesh import init_project_repo, meshdiff

pytestmark = pytest.mark.dbt

SOURCES = """version: 2
sources:
  - name: raw
    tables:
      - name: events
        meta:
          external_location: "read_csv('data/events.csv', header = true)"
"""
CSV = "event_id,channel,amount\n1,web,10\n2,shop,20\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    files = {"dbt_project.yml": "name: files\nprofile: files\nconfig-version: 2\nversion: '1.0'\n",
             "models/_sources.yml": SOURCES, "data/events.csv": CSV,
             "models/stg_events.sql": "select event_id, channel from {{ source('raw', 'events') }}\n"}
    return init_project_repo(str(tmp_path_factory.mktemp("files") / "repo"), "files", files)


def analyze(repo, branch, edits, tmp_path, meshdiff_cache):
    commit_change(repo, branch, edits, branch)
    out = str(tmp_path / "report.json")
    proc = meshdiff("analyze", "--project", os.path.join(repo, "files"), "--base", "main", "--head", branch,
                    "--format", "json", "--output", out, cache=meshdiff_cache)
    assert os.path.isfile(out), proc.stderr
    report = Report.from_dict(json.loads(open(out, encoding="utf-8").read()))
    assert report.errors == [], report.errors
    return report


def test_a_column_removed_from_the_file_a_source_reads_breaks_its_reader(repo, tmp_path, meshdiff_cache):
    report = analyze(repo, "drop-channel", [("files/data/events.csv", None,
                                             "event_id,amount\n1,10\n2,20\n")], tmp_path, meshdiff_cache)
    assert {c.node: c.category for c in report.changes} == {"source.files.raw.events": "breaking"}
    # at head the reader reads a column its source no longer has: its lineage cannot be proven there
    (impact,) = report.impacts
    assert impact.node == "model.files.stg_events" and impact.severity in ("breaking", "unknown")
    assert "channel" in impact.columns
    assert report.conclusion == "failure"


def test_new_values_in_the_file_a_source_reads_change_its_reader(repo, tmp_path, meshdiff_cache):
    report = analyze(repo, "more-rows", [("files/data/events.csv", None, CSV + "3,app,30\n")],
                     tmp_path, meshdiff_cache)
    assert {c.node: c.category for c in report.changes} == {"source.files.raw.events": "partial"}
    assert {i.node: i.severity for i in report.impacts} == {"model.files.stg_events": "changed"}
