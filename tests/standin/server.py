"""A loopback stand-in for GitHub (REST + git smart HTTP) for meshdiff's tests.

See ``tests/standin/README.md`` for the interface.  In short::

    gh = StandInGitHub(root=tmp_path)
    gh.add_installation(1, "acme")
    sha = gh.add_repo("acme/warehouse", {"README.md": "hi"})
    ...
    gh.stop()

State lives in this object (in the pytest process); other processes (the
Celery worker) reach it over HTTP.  Every request is validated against
GitHub's pinned OpenAPI description (``openapi.py``); contract violations are
answered with a GitHub-shaped 422/404 and recorded in :attr:`violations`.

The class is assembled from mixins, one module each:

* ``state.py``  – the test-side API (seed/read state, tokens, payloads, ``fail_next``);
* ``objects.py`` – GitHub-shaped JSON built from the spec's examples;
* ``rest.py``   – the ``/api/v3`` front (validation, failures, dispatch, headers, paging);
* ``auth.py``   – JWT / installation-token authentication and authorization;
* ``routes_apps.py``, ``routes_repos.py``, ``routes_checks.py``, ``routes_comments.py``
  – the ``_op_*`` handlers per area;
* ``githttp.py`` – git smart HTTP; ``model.py`` – the state records and shared helpers.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import openapi
from .auth import AuthMixin
from .githttp import _GIT_PATH, GitHttpMixin
from .gitrepo import GitStore
from .model import CheckRun, Comment, Failure, Installation, Pull, Repo, Token, _now
from .objects import ObjectsMixin
from .rest import RestMixin, _json_response
from .routes_apps import AppRoutesMixin
from .routes_checks import CheckRoutesMixin
from .routes_comments import CommentRoutesMixin
from .routes_repos import RepoRoutesMixin
from .state import StateMixin


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # no per-request lines on stderr
        pass

    def log(self, type, message, *args):  # keep errors only
        if type == "error":
            super().log(type, message, *args)


class StandInGitHub(StateMixin, ObjectsMixin, RestMixin, AuthMixin, AppRoutesMixin, RepoRoutesMixin,
                    CheckRoutesMixin, CommentRoutesMixin, GitHttpMixin):
    """A GitHub stand-in on ``127.0.0.1:<free port>`` (see module docstring)."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        app_id: int = 4242,
        app_slug: str = "meshdiff",
        app_name: str = "meshdiff",
        client_id: str = "Iv23liMeshdiffStandIn",
        host: str = "127.0.0.1",
        port: int = 0,
        validate_responses: bool = True,
        start: bool = True,
    ):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.git = GitStore(self.root / "git")
        self.app_id = app_id
        self.app_slug = app_slug
        self.app_name = app_name
        self.client_id = client_id
        self.bot_login = f"{app_slug}[bot]"
        self.bot_user_id = 140000000 + app_id
        self.app_created_at = _now() - timedelta(days=30)
        self.validate_responses = validate_responses

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_pem: str = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode()
        self.public_key_pem: str = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        self._public_key = key.public_key()

        self._lock = threading.RLock()
        self._ids: dict[str, int] = {
            "repo": 700000000,
            "pull": 1800000000,
            "comment": 2300000000,
            "check_run": 31000000000,
            "check_suite": 29000000000,
            "reaction": 250000000,
            "user": 9000000,
            "account": 120000000,
        }
        self.installations: dict[int, Installation] = {}
        self.repos: dict[str, Repo] = {}
        self.pulls: dict[tuple[str, int], Pull] = {}
        self._comments: dict[int, Comment] = {}
        self._check_runs: dict[int, CheckRun] = {}
        self._suites: dict[tuple[str, str], int] = {}
        self._tokens: dict[str, Token] = {}
        self._user_ids: dict[str, int] = {}
        self._failures: list[Failure] = []
        self._rate_used: dict[str, int] = {}
        #: every request: {method, path, full_path, query, json, status, auth, operation, kind, injected, ...}
        self.requests: list[dict] = []
        #: contract violations by the client (bad paths, bodies, auth...): assert it stays []
        self.violations: list[str] = []
        #: the stand-in's own responses that fail the spec (bugs in the stand-in)
        self.response_errors: list[str] = []

        openapi.load()  # once per process; fails early if the npm artifacts are missing
        self._server = None
        self._thread = None
        self.host = host
        self.port = port
        if start:
            self.start()

    def start(self) -> None:
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"standin-github-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.web_url}{openapi.API_PREFIX}"

    def clone_url(self, full_name: str, token: str | None = None) -> str:
        """``http://[x-access-token:TOKEN@]127.0.0.1:PORT/owner/repo.git``."""
        auth = f"x-access-token:{token}@" if token else ""
        return f"http://{auth}{self.host}:{self.port}/{full_name}.git"

    def _wsgi(self, environ, start_response):
        req = Request(environ)
        try:
            if req.path == openapi.API_PREFIX or req.path.startswith(openapi.API_PREFIX + "/"):
                resp = self._api(req)
            elif _GIT_PATH.match(req.path):
                resp = self._git_http(req)
            else:
                resp = Response("Not Found\n", status=404, content_type="text/plain")
        except Exception as exc:  # never let a stand-in bug look like a hang
            import traceback

            traceback.print_exc()
            with self._lock:
                self.response_errors.append(f"stand-in crashed on {req.method} {req.path}: {exc!r}")
            resp = _json_response(500, {"message": "Server Error (stand-in crashed)", "status": "500"})
        return resp(environ, start_response)
