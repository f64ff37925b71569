"""``meshdiff demo``: the bundled example mesh, a breaking change, the impact report.

Copies the example mesh (``examples/`` of the repository, shipped inside the package as
``bot/examples``) into a temporary git repository (a monorepo of three dbt projects),
commits it on ``main``, makes a branch that renames a column of the public model
``shop.customers`` (SQL and contract), and analyses that branch against ``main``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

from analysis.errors import AnalysisError
from analysis.pipeline import AnalysisRequest, ProjectSpec, analyze
from analysis.progress import Observer, step
from analysis.report import GitRef, Report

PROJECTS = ("shop", "finance", "exec_reporting")
#: where the example mesh is: a wheel carries it inside the package (``bot/examples``, copied
#: there by ``setup.py`` at build time); a source checkout has it at the repository's root
_PACKAGED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "examples")
_SOURCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _holds_mesh(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, p, "dbt_project.yml")) for p in PROJECTS)


def examples_dir(folder: str | None = None) -> str:
    """The folder of the example mesh: ``folder`` if given (it must hold the three projects),
    else the copy bundled with meshdiff."""
    if folder is not None:
        full = os.path.abspath(os.path.expanduser(folder))
        if not _holds_mesh(full):
            missing = [p for p in PROJECTS if not os.path.isfile(os.path.join(full, p, "dbt_project.yml"))]
            raise AnalysisError(f"--examples {folder} does not hold the example mesh: no "
                                + ", ".join(f"{p}/dbt_project.yml" for p in missing),
                                hint="pass the folder that holds shop/, finance/ and exec_reporting/ "
                                     "(the repository's examples/), or leave --examples out to use the bundled one")
        return full
    for candidate in (_PACKAGED, _SOURCE):
        if _holds_mesh(candidate):
            return candidate
    raise AnalysisError(f"the example mesh is not bundled with this installation of meshdiff ({_PACKAGED})",
                        hint="reinstall meshdiff from its wheel or source (`pip install meshdiff`), "
                             "or pass --examples DIR (the repository's examples/ folder)")


EXAMPLES = _PACKAGED if _holds_mesh(_PACKAGED) else _SOURCE
BRANCH = "rename-lifetime-value"
#: the demo's change: (file inside examples/, old text, new text)
DEMO_EDITS = (
    ("shop/models/marts/customers.sql", "as lifetime_value\n", "as lifetime_value_usd\n"),
    ("shop/models/marts/_marts.yml", "- name: lifetime_value\n", "- name: lifetime_value_usd\n"),
)


def _git(repo: str, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "meshdiff demo", "GIT_AUTHOR_EMAIL": "demo@example.com",
           "GIT_COMMITTER_NAME": "meshdiff demo", "GIT_COMMITTER_EMAIL": "demo@example.com"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def init_mesh_repo(examples: str | None, target: str) -> str:
    """A git repo at ``target`` holding the example mesh on ``main``."""
    source = examples_dir(examples)
    ignore = shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb", "*.duckdb.wal")
    for project in PROJECTS:
        shutil.copytree(os.path.join(source, project), os.path.join(target, project), ignore=ignore)
    _git(target, "init", "-q", "-b", "main")
    _git(target, "add", "-A")
    _git(target, "commit", "-q", "-m", "example mesh")
    return target


def commit_change(repo: str, branch: str, edits, message: str, *, start: str = "main") -> str:
    """Commit ``edits`` on a new ``branch`` from ``start``; returns the head sha.

    ``edits``: ``(path, old, new)`` text replacements (``old`` must occur), or
    ``(path, None, text)`` to write a whole file, or ``(path, None, None)`` to delete it.
    """
    _git(repo, "checkout", "-q", "-B", branch, start)
    for rel, old, new in edits:
        path = os.path.join(repo, rel)
        if old is None:
            if new is None:
                os.remove(path)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(new)
            continue
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if old not in text:
            raise AnalysisError(f"{rel} does not contain {old.strip()!r}",
                                hint="the example mesh changed; update the edit")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text.replace(old, new, 1))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", message)
    sha = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", start)
    return sha


def analyze_branch(repo: str, branch: str, *, project: str = "shop", base: str = "main",
                   cache_dir: str | None = None, progress: Observer | None = None) -> Report:
    """Analyse ``project`` at ``branch`` against ``base``, its consumers as on ``base``."""
    from bot import worktree

    checkout = worktree.locate(os.path.join(repo, project))
    base_sha, head_sha = worktree.resolve(checkout, base), worktree.resolve(checkout, branch)
    downstream = [p for p in PROJECTS[PROJECTS.index(project) + 1:]]
    with worktree.worktrees(checkout, {"base": base_sha, "head": head_sha}) as dirs:
        req = AnalysisRequest(
            changed=ProjectSpec(dirs["head"], name=project),
            base_path=dirs["base"],
            base=GitRef(base, base_sha), head=GitRef(branch, head_sha),
            downstream=[ProjectSpec(os.path.join(repo, p), name=p) for p in downstream],
            upstream=[ProjectSpec(os.path.join(repo, p), name=p) for p in PROJECTS[:PROJECTS.index(project)]],
            repo_subdir=project, cache_dir=cache_dir, progress=progress,
        )
        return analyze(req)


def run_demo(examples: str | None = None, *, cache_dir: str | None = None,
             progress: Observer | None = None) -> Report:
    """The demo's report: the example mesh (``examples`` or the bundled one) in a temporary git
    repository, the rename committed on a branch, that branch analysed against ``main``."""
    with tempfile.TemporaryDirectory(prefix="meshdiff-demo-") as tmp:
        with step(progress, "prepare", "example mesh in a git repository"):
            repo = init_mesh_repo(examples, os.path.join(tmp, "repo"))
            commit_change(repo, BRANCH, DEMO_EDITS, "Rename customers.lifetime_value to lifetime_value_usd")
        return analyze_branch(repo, BRANCH, cache_dir=cache_dir, progress=progress)
