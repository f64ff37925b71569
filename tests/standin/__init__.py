"""A stand-in GitHub for meshdiff's tests (REST validated against GitHub's own
OpenAPI description + git smart HTTP), and real webhook payload examples.

    from tests.standin import StandInGitHub
    from tests.standin import webhooks

Fixtures (``standin_github``, ``standin_openapi``) live in ``tests.standin.fixtures``;
enable them with ``pytest_plugins = ["tests.standin.fixtures"]`` in the root conftest.
"""

from .server import StandInGitHub  # noqa: F401

__all__ = ["StandInGitHub"]
