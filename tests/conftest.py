"""Shared fixtures: one git repository of the example mesh and one meshdiff cache per session.

The cache is content-addressed, so the base compiles of the example mesh run once per
session and every scenario only compiles what its change touches.
"""
from __future__ import annotations

import os

import pytest

from bot.demo import analyze_branch, commit_change, init_mesh_repo


@pytest.fixture(scope="session")
def meshdiff_cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("meshdiff-cache"))


@pytest.fixture(scope="session")
def mesh_repo(tmp_path_factory) -> str:
    return init_mesh_repo(None, os.path.join(str(tmp_path_factory.mktemp("mesh")), "repo"))


@pytest.fixture(scope="session")
def scenario(mesh_repo, meshdiff_cache):
    """``scenario(name, edits, project="shop")`` -> Report of that branch against main (memoised)."""
    done: dict = {}

    def run(name: str, edits, *, project: str = "shop"):
        if name not in done:
            commit_change(mesh_repo, name, edits, name)
            done[name] = analyze_branch(mesh_repo, name, project=project, cache_dir=meshdiff_cache)
        return done[name]

    return run
