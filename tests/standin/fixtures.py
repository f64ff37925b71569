"""pytest fixtures for the stand-in GitHub.

Enable with ``pytest_plugins = ["tests.standin.fixtures"]`` in ``tests/conftest.py``
(or import the fixtures into a test module).
"""

from __future__ import annotations

import pytest

from . import openapi
from .server import StandInGitHub


@pytest.fixture(scope="session")
def standin_openapi():
    """The pruned GitHub OpenAPI as an ``openapi_core.OpenAPI`` (loaded once per session)."""
    return openapi.load()


@pytest.fixture
def standin_github(tmp_path_factory, standin_openapi):
    """A started :class:`StandInGitHub`; fails the test at teardown on contract violations.

    Tests that provoke violations on purpose should consume them with
    ``gh.take_violations()``.
    """
    gh = StandInGitHub(root=tmp_path_factory.mktemp("standin-github"))
    try:
        yield gh
    finally:
        gh.stop()
    assert gh.violations == [], "requests to the stand-in GitHub broke GitHub's contract:\n" + "\n".join(
        gh.violations
    )
    assert gh.response_errors == [], "the stand-in's own responses failed GitHub's spec (stand-in bug):\n" + "\n".join(
        gh.response_errors
    )
