"""Materialise git refs of a local checkout as temporary worktrees (the CLI's checkout).

The user's working tree is never touched: each ref gets ``git worktree add --detach`` in a
temporary directory, removed (and pruned) afterwards.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Iterator

from analysis.errors import AnalysisError


@dataclass(frozen=True)
class Checkout:
    repo_root: str
    #: the project's folder relative to the repo root ("" at the root)
    subdir: str


def _git(args: list[str], cwd: str) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_LFS_SKIP_SMUDGE": "1"}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, ["git", *args], proc.stdout, proc.stderr)
    return proc.stdout.strip()


def locate(project_dir: str) -> Checkout:
    """The git checkout holding ``project_dir`` and the project's path inside it."""
    path = os.path.abspath(project_dir)
    if not os.path.isdir(path):
        raise AnalysisError(f"{project_dir} does not exist", hint="pass the folder of a dbt project")
    try:
        root = _git(["rev-parse", "--show-toplevel"], path)
    except (subprocess.CalledProcessError, FileNotFoundError):
        raise AnalysisError(
            f"{project_dir} is not inside a git checkout",
            hint="--base/--head are git refs: run meshdiff on a project inside a git repository",
        ) from None
    root = os.path.realpath(root)
    rel = os.path.relpath(os.path.realpath(path), root)
    return Checkout(root, "" if rel == "." else rel)


def resolve(checkout: Checkout, ref: str) -> str:
    """The commit sha of ``ref``; a clear error when the ref does not exist."""
    try:
        return _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], checkout.repo_root)
    except subprocess.CalledProcessError:
        raise AnalysisError(
            f"git ref {ref!r} does not exist in {checkout.repo_root}",
            hint="check the branch name (`git branch -a`), or fetch it first (`git fetch origin " + ref + "`)",
        ) from None


@contextlib.contextmanager
def worktrees(checkout: Checkout, shas: dict[str, str]) -> Iterator[dict[str, str]]:
    """Yield ``{label: project dir inside a fresh worktree at sha}``; always cleaned up."""
    parent = tempfile.mkdtemp(prefix="meshdiff-worktrees-")
    made: list[str] = []
    try:
        out: dict[str, str] = {}
        for label, sha in shas.items():
            target = os.path.join(parent, label)
            try:
                _git(["worktree", "add", "--detach", "--force", target, sha], checkout.repo_root)
            except subprocess.CalledProcessError as exc:
                raise AnalysisError(f"git could not check out {sha[:12]} into a worktree",
                                    detail=exc.stderr, hint="is the repository in a healthy state? try `git worktree prune`") from None
            made.append(target)
            out[label] = os.path.join(target, checkout.subdir) if checkout.subdir else target
        yield out
    finally:
        for target in made:
            with contextlib.suppress(subprocess.CalledProcessError):
                _git(["worktree", "remove", "--force", target], checkout.repo_root)
        with contextlib.suppress(subprocess.CalledProcessError):
            _git(["worktree", "prune"], checkout.repo_root)
        shutil.rmtree(parent, ignore_errors=True)


#: folders and files of a project that are not part of it (dbt's output, packages, local databases)
_NOT_PROJECT = ("target/", "logs/", "dbt_packages/", "dbt_modules/", "__pycache__/", ".venv/", "node_modules/")


def uncommitted(checkout: Checkout, head_sha: str) -> list[str]:
    """The project's files (relative to the repo root) whose working-tree state differs from
    ``head_sha``'s, when ``head_sha`` is the checked-out commit (``--head HEAD``): edits, new
    files not ignored by git, deletions. dbt's output, installed packages and DuckDB files do not
    count. Empty when the head is another commit (the working tree is not what it names)."""
    try:
        if _git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], checkout.repo_root) != head_sha:
            return []
        out = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--",
                              checkout.subdir or "."], cwd=checkout.repo_root, capture_output=True, text=True,
                             check=True).stdout  # not stripped: a status starts with a space
    except (subprocess.CalledProcessError, FileNotFoundError):
        return []
    paths, entries = [], out.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        if entry[0] in "RC":  # a rename: the next entry is the old path
            i += 1
        path = entry[3:]
        inside = os.path.relpath(path, checkout.subdir) if checkout.subdir else path
        parts = inside.split("/")
        if (inside + "/").startswith(_NOT_PROJECT) or any(p.startswith(".") for p in parts[:-1]) \
                or path.endswith((".duckdb", ".duckdb.wal")):
            continue
        paths.append(path)
    return sorted(paths)
