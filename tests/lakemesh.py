"""The lakemesh fixture (tests/fixtures/lakemesh: ``lake`` and its reader ``dock``) in a git
repository, and the ``meshdiff`` command run on it: shared by issue 9's scenario tests."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from analysis.report import Report
from bot.demo import _git, commit_change
from tests.paths import ROOT

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "lakemesh")


def commit_all(root: str, message: str) -> str:
    """``root`` made a git repository whose ``main`` holds everything in it, in one commit."""
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", message)
    return root


def fixture_repo(source: str, target: str, message: str) -> str:
    """A git repository at ``target`` holding a copy of the fixture folder ``source`` on ``main``
    (without dbt's output or DuckDB files a local run left there)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb"))
    return commit_all(target, message)


def init_lake_repo(target: str) -> str:
    """A git repository at ``target`` holding the fixture on ``main``."""
    return fixture_repo(FIXTURE, target, "lakemesh")


def init_project_repo(root: str, project: str, files: dict[str, str]) -> str:
    """A git repository at ``root`` holding one project folder ``project`` made of ``files``
    (path in the project -> text), committed on ``main``."""
    for rel, text in files.items():
        path = os.path.join(root, project, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    return commit_all(root, project)


def meshdiff(*args: str, cache: str) -> subprocess.CompletedProcess:
    """``meshdiff ARGS`` (no time limit: each dbt invocation has its own)."""
    env = {**os.environ, "MESHDIFF_CACHE_DIR": cache}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env)


def analyze_lake(repo: str, branch: str, edits, *, cache: str, out: str, project: str = "lake",
                 extra: tuple[str, ...] = ()) -> tuple[subprocess.CompletedProcess, Report | None]:
    """Commit ``edits`` on ``branch`` and analyse ``project`` there against ``main`` with the
    repository's ``.meshdiff.yml``; (the process, its JSON report if one was written)."""
    commit_change(repo, branch, edits, branch)
    args = ["analyze", "--base", "main", "--head", branch, "--format", "json", "--output", out, *extra]
    if project == "lake":
        args += ["--mesh", os.path.join(repo, ".meshdiff.yml")]
    proc = meshdiff(*args, cache=cache)
    report = Report.from_dict(json.loads(open(out, encoding="utf-8").read())) if os.path.isfile(out) else None
    return proc, report


def lake_runner(tmp_path_factory, cache: str):
    """``run(branch, edits)`` -> the Report of ``lake`` at ``branch`` (edits committed on a fresh
    repository of the fixture), checked to have no errors."""
    repo = init_lake_repo(str(tmp_path_factory.mktemp("lake") / "repo"))
    out = str(tmp_path_factory.mktemp("out"))

    def run(branch, edits):
        proc, report = analyze_lake(repo, branch, edits, cache=cache, out=f"{out}/{branch}.json")
        assert report is not None and report.errors == [], proc.stderr
        return report
    return run
