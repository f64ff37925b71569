"""The command line reads a PR's files as the App does (issue 8, item 9): a ``dbt_project.yml``,
``packages.yml``, or ``dbt_loom.config.yml`` committed as a link to a key outside the
checkout is refused with a message saying so, never read: no line of the key reaches stdout,
stderr or the report. No dbt runs (each is refused before a compile). CODEOWNERS: tests/analysis/impact/test_codeowners.py."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.demo import _git, init_mesh_repo

KEY_LINE = "PLANTED-KEY-LINE-9c1f"


@pytest.fixture
def repo(tmp_path):
    key = tmp_path / "app.pem"
    key.write_text(f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_LINE}\n-----END RSA PRIVATE KEY-----\n")
    return init_mesh_repo(None, str(tmp_path / "repo")), str(key)


def _branch_with_link(repo: str, branch: str, rel: str, target: str) -> None:
    _git(repo, "checkout", "-q", "-b", branch)
    path = os.path.join(repo, rel)
    if os.path.lexists(path):
        os.remove(path)
    os.symlink(target, path)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", f"link {rel}")
    _git(repo, "checkout", "-q", "main")


def _cli(*args, cache, cwd):
    env = {**os.environ, "MESHDIFF_CACHE_DIR": cache, "MESHDIFF_SANDBOX": "off"}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env, cwd=cwd)


@pytest.mark.parametrize("rel, project", [
    ("shop/dbt_project.yml", "shop"),
    ("shop/packages.yml", "shop"),
    ("finance/dbt_loom.config.yml", "finance"),
])
def test_a_project_file_linked_to_a_key_is_refused(repo, tmp_path, rel, project):
    repo, key = repo
    _branch_with_link(repo, "link", rel, key)
    out = tmp_path / "report.json"
    proc = _cli("analyze", "--project", os.path.join(repo, project), "--base", "main", "--head", "link",
                "--format", "json", "--output", str(out), cache=str(tmp_path / "cache"), cwd=repo)
    everything = proc.stdout + proc.stderr + (out.read_text() if out.exists() else "")
    assert KEY_LINE not in everything and "Traceback" not in everything
    assert proc.returncode == 2, everything
    assert "symbolic link" in everything and os.path.basename(rel) in everything

