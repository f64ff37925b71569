"""The "never silently safe" mesh (tests/meshes/never_safe) in a git repository, and one analysis
of a branch of its ``platform`` project with ``revenue`` and ``finance`` downstream, as on main."""
from __future__ import annotations

import os

from analysis.pipeline import AnalysisRequest, ProjectSpec, analyze
from analysis.report import GitRef, Report
from bot.demo import commit_change
from tests.lakemesh import fixture_repo
from tests.paths import ROOT

MESH = os.path.join(ROOT, "tests", "meshes", "never_safe")
DOWNSTREAM = ("revenue", "finance")


def init_repo(target: str) -> str:
    return fixture_repo(MESH, target, "never-safe mesh")


def analyze_change(repo: str, branch: str, edits, *, cache_dir: str, downstream=DOWNSTREAM) -> Report:
    """Commit ``edits`` (see :func:`bot.demo.commit_change`) on ``branch`` and analyse platform there."""
    from bot import worktree

    commit_change(repo, branch, edits, branch)
    checkout = worktree.locate(os.path.join(repo, "platform"))
    base_sha, head_sha = worktree.resolve(checkout, "main"), worktree.resolve(checkout, branch)
    with worktree.worktrees(checkout, {"base": base_sha, "head": head_sha}) as dirs:
        return analyze(AnalysisRequest(
            changed=ProjectSpec(dirs["head"], name="platform"), base_path=dirs["base"],
            base=GitRef("main", base_sha), head=GitRef(branch, head_sha),
            downstream=[ProjectSpec(os.path.join(repo, p), name=p) for p in downstream],
            repo_subdir="platform", cache_dir=cache_dir,
        ))
