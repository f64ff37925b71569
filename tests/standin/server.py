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
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import openapi
from .gitrepo import GitStore

GITHUB_API = "https://api.github.com"
GITHUB_WEB = "https://github.com"

PERMISSION_LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}
DEFAULT_APP_PERMISSIONS = {"metadata": "read", "contents": "read", "checks": "write", "pull_requests": "write"}
DEFAULT_APP_EVENTS = ["check_run", "check_suite", "issue_comment", "pull_request"]
TOKEN_LIFETIME = timedelta(hours=1)
JWT_MAX_LIFETIME = 600  # seconds: exp - iat, and exp - now
JWT_CLOCK_SKEW = 60  # seconds of tolerated clock drift for iat in the future / exp in the past
RATE_LIMIT = 5000

#: Which installation permission each operation needs: (alternatives, level).
REQUIRED_PERMISSION: dict[str, tuple[tuple[str, ...], str]] = {
    "repos/get": (("metadata",), "read"),
    "pulls/get": (("pull_requests",), "read"),
    "pulls/list": (("pull_requests",), "read"),
    "pulls/list-files": (("pull_requests",), "read"),
    "repos/get-content": (("contents",), "read"),
    "checks/create": (("checks",), "write"),
    "checks/update": (("checks",), "write"),
    "checks/get": (("checks",), "read"),
    "checks/list-for-ref": (("checks",), "read"),
    "issues/get": (("issues", "pull_requests"), "read"),
    "issues/list-comments": (("issues", "pull_requests"), "read"),
    "issues/get-comment": (("issues", "pull_requests"), "read"),
    "issues/create-comment": (("issues", "pull_requests"), "write"),
    "issues/update-comment": (("issues", "pull_requests"), "write"),
    "reactions/create-for-issue-comment": (("issues", "pull_requests"), "write"),
    "repos/get-collaborator-permission-level": (("metadata",), "read"),
}

JWT_OPERATIONS = {
    "apps/create-installation-access-token",
    "apps/get-authenticated",
    "apps/get-repo-installation",
    "apps/get-installation",
}
ANY_AUTH_OPERATIONS = {"rate-limit/get"}
TOKEN_OPERATIONS_WITHOUT_REPO = {"apps/revoke-installation-access-token", "apps/list-repos-accessible-to-installation"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, ident: int | str) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def _b64_lines(data: bytes) -> str:
    """Base64 in 60-character lines with a trailing newline, as GitHub returns it."""
    enc = base64.b64encode(data).decode()
    return "".join(enc[i:i + 60] + "\n" for i in range(0, len(enc), 60))


def _rewrite(obj: Any, pairs: list[tuple[str, str]]) -> Any:
    """Replace substrings in every string of a JSON value, in one pass (longest match wins)."""
    pairs = [(a, b) for a, b in sorted(pairs, key=lambda p: -len(p[0])) if a]
    if not pairs:
        return obj
    table = dict(pairs)
    rx = re.compile("|".join(re.escape(a) for a, _ in pairs))

    def walk(o: Any) -> Any:
        if isinstance(o, str):
            return rx.sub(lambda m: table[m.group(0)], o)
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o

    return walk(obj)


class HTTPError(Exception):
    def __init__(self, status: int, message: str, *, errors: list | None = None, headers: dict | None = None,
                 docs: str = "https://docs.github.com/rest"):
        super().__init__(message)
        self.status = status
        self.body = {"message": message, "documentation_url": docs, "status": str(status)}
        if errors:
            self.body["errors"] = errors
        self.headers = headers or {}


# --------------------------------------------------------------------------- state


@dataclass
class Installation:
    id: int
    account: str
    account_type: str
    account_id: int
    permissions: dict[str, str]
    events: list[str]
    created_at: datetime
    repository_selection: str = "selected"


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    default_branch: str
    installation_id: int | None
    git_dir: Path
    private: bool
    created_at: datetime
    collaborators: dict[str, str] = field(default_factory=dict)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Pull:
    repo: str
    number: int
    id: int
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    title: str
    body: str | None
    user: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    draft: bool = False
    merged: bool = False
    closed_at: datetime | None = None
    merge_sha: str | None = None  # refs/pull/N/merge (None: conflicts)


@dataclass
class Comment:
    id: int
    repo: str
    number: int
    body: str
    user: str
    user_type: str
    created_at: datetime
    updated_at: datetime
    edit_count: int = 0
    via_app: bool = False
    reactions: list[dict] = field(default_factory=list)


@dataclass
class CheckRun:
    id: int
    repo: str
    head_sha: str
    name: str
    suite_id: int
    status: str
    conclusion: str | None
    started_at: datetime | None
    completed_at: datetime | None
    external_id: str
    details_url: str | None
    output: dict
    annotations: list[dict]
    images: list[dict]
    actions: list[dict]
    created_at: datetime
    update_count: int = 0


@dataclass
class Token:
    token: str
    installation_id: int
    expires_at: datetime
    permissions: dict[str, str]
    repo_ids: frozenset[int] | None  # None = every repo of the installation
    revoked: bool = False


@dataclass
class Failure:
    method: str
    regex: re.Pattern
    status: int
    headers: dict[str, str]
    body: Any
    times: int
    after: bool


@dataclass
class Caller:
    kind: str  # "jwt" | "installation" | "none" | "invalid"
    token: Token | None = None
    error: str | None = None


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # no per-request lines on stderr
        pass

    def log(self, type, message, *args):  # keep errors only
        if type == "error":
            super().log(type, message, *args)


# --------------------------------------------------------------------------- the server


class StandInGitHub:
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

    # ------------------------------------------------------------------ lifecycle
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

    def _next(self, kind: str) -> int:
        with self._lock:
            self._ids[kind] += 1
            return self._ids[kind]

    def _user_id(self, login: str) -> int:
        if login == self.bot_login:
            return self.bot_user_id
        with self._lock:
            if login not in self._user_ids:
                self._user_ids[login] = self._next("user")
            return self._user_ids[login]

    # ------------------------------------------------------------------ setup API (test side)
    def add_installation(self, installation_id: int, account: str, *, account_type: str = "Organization",
                         permissions: dict[str, str] | None = None, events: list[str] | None = None) -> None:
        with self._lock:
            self.installations[installation_id] = Installation(
                id=installation_id,
                account=account,
                account_type=account_type,
                account_id=self._user_id(account),
                permissions=dict(permissions or DEFAULT_APP_PERMISSIONS),
                events=list(events or DEFAULT_APP_EVENTS),
                created_at=_now() - timedelta(days=1),
            )

    def add_repo(self, full_name: str, files_dir_or_mapping: str | os.PathLike | dict | None = None, *,
                 default_branch: str = "main", installation_id: int | None = None, private: bool = True,
                 message: str = "Initial commit") -> str:
        """Create ``owner/name`` with one commit on ``default_branch``; returns its sha.

        ``installation_id`` defaults to the installation whose account is the owner.
        """
        owner, name = _split(full_name)
        files = _read_files(files_dir_or_mapping)
        with self._lock:
            if full_name in self.repos:
                raise ValueError(f"{full_name} exists")
            if installation_id is None:
                installation_id = next((i.id for i in self.installations.values() if i.account == owner), None)
            elif installation_id not in self.installations:
                raise ValueError(f"unknown installation {installation_id}; call add_installation first")
            git_dir = self.git.create(owner, name, default_branch)
            repo = Repo(self._next("repo"), owner, name, default_branch, installation_id, git_dir, private,
                        _now() - timedelta(hours=1))
            self.repos[full_name] = repo
        return self.git.commit(git_dir, f"refs/heads/{default_branch}", files, message, parent=None,
                               executable=_executables(files_dir_or_mapping))

    def commit(self, full_name: str, branch: str, changes: dict[str, str | bytes | None],
               message: str = "Update files") -> str:
        """Commit ``changes`` on ``branch`` (created from the default branch if missing)."""
        repo = self._repo(full_name)
        parent = self.git.rev_parse(repo.git_dir, f"refs/heads/{branch}")
        if parent is None:
            parent = self.git.rev_parse(repo.git_dir, f"refs/heads/{repo.default_branch}")
        return self.git.commit(repo.git_dir, f"refs/heads/{branch}", changes, message, parent=parent)

    def branch_sha(self, full_name: str, branch: str) -> str | None:
        repo = self._repo(full_name)
        return self.git.rev_parse(repo.git_dir, f"refs/heads/{branch}")

    def open_pull(self, full_name: str, number: int, *, head_branch: str, base_branch: str = "main",
                  title: str = "Update models", user: str = "octocat", body: str | None = None,
                  draft: bool = False) -> dict:
        repo = self._repo(full_name)
        head = self.git.rev_parse(repo.git_dir, f"refs/heads/{head_branch}")
        base = self.git.rev_parse(repo.git_dir, f"refs/heads/{base_branch}")
        if head is None or base is None:
            raise ValueError(f"branch missing: head={head_branch}:{head} base={base_branch}:{base}")
        with self._lock:
            if (full_name, number) in self.pulls:
                raise ValueError(f"{full_name}#{number} exists")
            now = _now()
            self.pulls[(full_name, number)] = Pull(full_name, number, self._next("pull"), head_branch, base_branch,
                                                   head, base, title, body, user, now, now, draft=draft)
        self.git.update_ref(repo.git_dir, f"refs/pull/{number}/head", head)
        self._refresh_merge_ref(repo, number)
        self._user_id(user)
        return self.pull(full_name, number)

    def _refresh_merge_ref(self, repo: Repo, number: int) -> None:
        with self._lock:
            pr = self._pull(repo.full_name, number)
            base, head = pr.base_sha, pr.head_sha
        merge = self.git.test_merge(repo.git_dir, base, head, f"Merge {head} into {base}")
        if merge is None:
            self.git.delete_ref(repo.git_dir, f"refs/pull/{number}/merge")
        else:
            self.git.update_ref(repo.git_dir, f"refs/pull/{number}/merge", merge)
        with self._lock:
            pr.merge_sha = merge

    def update_pull(self, full_name: str, number: int, *, base_branch: str | None = None) -> str:
        """Re-point ``refs/pull/N/head`` at the head branch tip (and refresh base); returns the head sha.

        ``base_branch`` changes the PR's base (what a ``pull_request.edited`` with
        ``changes.base`` reports).
        """
        repo = self._repo(full_name)
        with self._lock:
            pr = self._pull(full_name, number)
            if base_branch is not None:
                pr.base_ref = base_branch
            head = self.git.rev_parse(repo.git_dir, f"refs/heads/{pr.head_ref}")
            base = self.git.rev_parse(repo.git_dir, f"refs/heads/{pr.base_ref}")
            if head is None or base is None:
                raise ValueError("head or base branch missing")
            pr.head_sha, pr.base_sha, pr.updated_at = head, base, _now()
        self.git.update_ref(repo.git_dir, f"refs/pull/{number}/head", head)
        self._refresh_merge_ref(repo, number)
        return head

    def close_pull(self, full_name: str, number: int, *, merged: bool = False) -> None:
        with self._lock:
            pr = self._pull(full_name, number)
            pr.state, pr.merged, pr.closed_at, pr.updated_at = "closed", merged, _now(), _now()

    def pull(self, full_name: str, number: int) -> dict:
        with self._lock:
            pr = self._pull(full_name, number)
            return {
                "number": pr.number,
                "id": pr.id,
                "head_sha": pr.head_sha,
                "base_sha": pr.base_sha,
                "head_ref": pr.head_ref,
                "base_ref": pr.base_ref,
                "merge_sha": pr.merge_sha,
                "state": pr.state,
                "title": pr.title,
                "user": pr.user,
                "html_url": f"{self.web_url}/{full_name}/pull/{pr.number}",
                "url": f"{self.api_url}/repos/{full_name}/pulls/{pr.number}",
            }

    def set_permission(self, full_name: str, username: str, permission: str) -> None:
        if permission not in ("admin", "maintain", "write", "triage", "read", "none"):
            raise ValueError(permission)
        with self._lock:
            self._repo(full_name).collaborators[username] = permission
        self._user_id(username)

    def add_comment(self, full_name: str, number: int, body: str, *, user: str = "octocat") -> dict:
        """Seed a comment without HTTP (e.g. a human's ChatOps command, or an old bot comment)."""
        with self._lock:
            self._pull(full_name, number)
            c = self._new_comment(full_name, number, body, user)
            return self._comment_state(c)

    def comments(self, full_name: str, number: int) -> list[dict]:
        with self._lock:
            return [self._comment_state(c) for c in sorted(self._comments.values(), key=lambda c: c.id)
                    if c.repo == full_name and c.number == number]

    def check_runs(self, full_name: str, head_sha: str | None = None) -> list[dict]:
        with self._lock:
            return [self._check_run_state(r) for r in sorted(self._check_runs.values(), key=lambda r: r.id)
                    if r.repo == full_name and (head_sha is None or r.head_sha == head_sha)]

    def issue_token(self, installation_id: int, *, permissions: dict | None = None,
                    repositories: list[str] | None = None, expires_in: timedelta = TOKEN_LIFETIME) -> str:
        """Mint an installation token directly (test convenience; the App should use the API)."""
        with self._lock:
            inst = self.installations[installation_id]
            repo_ids = None
            if repositories is not None:
                repo_ids = frozenset(self._repo(f"{inst.account}/{r}" if "/" not in r else r).id for r in repositories)
            tok = Token("ghs_" + secrets.token_hex(18), installation_id, _now() + expires_in,
                        dict(permissions or inst.permissions), repo_ids)
            self._tokens[tok.token] = tok
            return tok.token

    def expire_token(self, token: str) -> None:
        with self._lock:
            self._tokens[token].expires_at = _now() - timedelta(seconds=1)

    def event_payload(self, event: str, action: str | None, full_name: str, *, number: int | None = None,
                      variant: int | str | None = None, sender: str | None = None,
                      comment_body: str | None = None, **kwargs) -> dict:
        """A real webhook example adapted to this stand-in's state (repo id, installation,
        PR shas/refs, stand-in URLs, app id).  For ``("pull_request", "edited")`` pass
        ``base_ref_from=``/``base_sha_from=`` (or ``title_from=``).  Extra ``kwargs`` go to
        :func:`tests.standin.webhooks.adapt`."""
        from . import webhooks

        repo = self._repo(full_name)
        args: dict[str, Any] = dict(repo_full_name=full_name, installation_id=repo.installation_id, repo_id=repo.id,
                                    api_url=self.api_url, web_url=self.web_url, app_id=self.app_id,
                                    app_slug=self.app_slug)
        if number is not None:
            pr = self.pull(full_name, number)
            args.update(pr_number=number, head_sha=pr["head_sha"], base_sha=pr["base_sha"],
                        head_ref=pr["head_ref"], base_ref=pr["base_ref"])
        if sender is not None:
            args["sender_login"] = sender
        if comment_body is not None:
            args["comment_body"] = comment_body
        edited = {k: kwargs.pop(k) for k in ("base_ref_from", "base_sha_from", "title_from", "body_from")
                  if k in kwargs}
        args.update(kwargs)
        if event == "pull_request" and action == "edited":
            return webhooks.pull_request_edited(**edited, **args)
        return webhooks.adapt(webhooks.load_example(event, action, variant=variant), **args)

    def fail_next(self, method: str, path_regex: str, status: int, *, headers: dict | None = None,
                  body: Any = None, times: int = 1, after: bool = False) -> None:
        """Answer the next ``times`` matching requests with ``status``.

        ``method`` is case-insensitive (``"*"`` matches any); ``path_regex`` is searched in
        the full path (``/api/v3/repos/...``) and in the API-relative path (``/repos/...``).
        ``after=True`` processes the request first (state changes!) and then fails it – the
        "POST succeeded but the client saw a 502" case.  Defaults for ``body``: GitHub's
        messages for 403/429 (secondary rate limit), 422, 5xx.
        """
        with self._lock:
            self._failures.append(Failure(method.upper(), re.compile(path_regex), status,
                                          {k: str(v) for k, v in (headers or {}).items()}, body, times, after))

    def take_violations(self) -> list[str]:
        """Return and clear :attr:`violations` (for tests that provoke them on purpose)."""
        with self._lock:
            out = list(self.violations)
            self.violations.clear()
            return out

    def requests_for(self, method: str | None = None, path_regex: str | None = None) -> list[dict]:
        with self._lock:
            return [r for r in self.requests
                    if (method is None or r["method"] == method.upper())
                    and (path_regex is None or re.search(path_regex, r["path"]))]

    # ------------------------------------------------------------------ lookups
    def _repo(self, full_name: str) -> Repo:
        try:
            return self.repos[full_name]
        except KeyError:
            raise KeyError(f"no repo {full_name}; call add_repo first") from None

    def _pull(self, full_name: str, number: int) -> Pull:
        try:
            return self.pulls[(full_name, number)]
        except KeyError:
            raise KeyError(f"no pull {full_name}#{number}; call open_pull first") from None

    # ------------------------------------------------------------------ object builders
    def _host_pairs(self) -> list[tuple[str, str]]:
        return [
            (GITHUB_API, self.api_url),
            ("https://uploads.github.com", f"{self.web_url}/api/uploads"),
            (GITHUB_WEB, self.web_url),
        ]

    def _user(self, login: str, *, kind: str | None = None) -> dict:
        u = openapi.example("issue-comment")["user"]  # a `simple-user` for octocat
        if login == self.bot_login:
            ident, typ = self.bot_user_id, "Bot"
            url_login = quote(login, safe="")
            html = f"{self.web_url}/apps/{self.app_slug}"
        else:
            ident = self._user_id(login)
            typ = kind or ("Organization" if any(i.account == login and i.account_type == "Organization"
                                                 for i in self.installations.values()) else "User")
            url_login, html = login, f"{self.web_url}/{login}"
        u = _rewrite(u, [(f"{GITHUB_API}/users/octocat", f"{self.api_url}/users/{url_login}")] + self._host_pairs())
        u.update(login=login, id=ident, node_id=_node_id("User", ident), type=typ, html_url=html,
                 avatar_url=f"https://avatars.githubusercontent.com/u/{ident}?v=4")
        return u

    def _integration(self) -> dict:
        app = openapi.example("integration")
        owner_login = next(iter(i.account for i in self.installations.values()), "meshdiff-dev")
        perms = dict(DEFAULT_APP_PERMISSIONS)
        for inst in self.installations.values():
            for k, v in inst.permissions.items():
                if PERMISSION_LEVELS[v] > PERMISSION_LEVELS.get(perms.get(k, "none"), 0):
                    perms[k] = v
        app.update(
            id=self.app_id,
            slug=self.app_slug,
            client_id=self.client_id,
            node_id=_node_id("Integration", self.app_id),
            owner=self._user(owner_login),
            name=self.app_name,
            description="Column-level impact analysis of dbt pull requests (stand-in)",
            external_url=f"{self.web_url}/apps/{self.app_slug}",
            html_url=f"{self.web_url}/apps/{self.app_slug}",
            created_at=_iso(self.app_created_at),
            updated_at=_iso(self.app_created_at),
            permissions=perms,
            events=list(DEFAULT_APP_EVENTS),
        )
        app["installations_count"] = len(self.installations)
        return app

    def _installation_obj(self, inst: Installation) -> dict:
        obj = openapi.example("installation")
        acct = self._user(inst.account, kind=inst.account_type)
        if inst.account_type == "Organization":
            acct["url"] = f"{self.api_url}/orgs/{inst.account}"
        obj.update(
            id=inst.id,
            account=acct,
            repository_selection=inst.repository_selection,
            access_tokens_url=f"{self.api_url}/app/installations/{inst.id}/access_tokens",
            repositories_url=f"{self.api_url}/installation/repositories",
            html_url=(f"{self.web_url}/organizations/{inst.account}/settings/installations/{inst.id}"
                      if inst.account_type == "Organization" else f"{self.web_url}/settings/installations/{inst.id}"),
            app_id=self.app_id,
            client_id=self.client_id,
            app_slug=self.app_slug,
            target_id=inst.account_id,
            target_type=inst.account_type,
            permissions=dict(inst.permissions),
            events=list(inst.events),
            created_at=_iso(inst.created_at),
            updated_at=_iso(inst.created_at),
            single_file_name=None,
            has_multiple_single_files=False,
            single_file_paths=[],
            suspended_at=None,
            suspended_by=None,
        )
        return obj

    def _repo_pairs(self, repo: Repo, template_full: str) -> list[tuple[str, str]]:
        t_owner = template_full.split("/")[0]
        return [
            (f"{GITHUB_API}/repos/{template_full}", f"{self.api_url}/repos/{repo.full_name}"),
            (f"{GITHUB_WEB}/{template_full}", f"{self.web_url}/{repo.full_name}"),
            (f"git@github.com:{template_full}", f"git@{self.host}:{repo.full_name}"),
            (f"git:github.com/{template_full}", f"git://{self.host}/{repo.full_name}"),
            (f"git://github.com/{template_full}", f"git://{self.host}/{repo.full_name}"),
            (f"https://svn.github.com/{template_full}", f"{self.web_url}/{repo.full_name}"),
            (f"{GITHUB_API}/users/{t_owner}", f"{self.api_url}/users/{repo.owner}"),
        ] + self._host_pairs()

    def _repo_obj(self, repo: Repo, template: dict | None = None, *, full: bool = False) -> dict:
        """A `repository` / `full-repository` object for ``repo`` from a spec example."""
        if template is None:
            template = openapi.example("full-repository-default-response")
        obj = _rewrite(copy.deepcopy(template), self._repo_pairs(repo, template["full_name"]))
        inst = self.installations.get(repo.installation_id) if repo.installation_id else None
        owner_type = "Organization" if inst is None or inst.account_type == "Organization" else "User"
        if inst and inst.account != repo.owner:
            owner_type = "Organization"
        pushed = self._last_push(repo)
        obj.update(
            id=repo.id,
            node_id=_node_id("Repository", repo.id),
            name=repo.name,
            full_name=repo.full_name,
            owner=self._user(repo.owner, kind=owner_type),
            private=repo.private,
            html_url=f"{self.web_url}/{repo.full_name}",
            url=f"{self.api_url}/repos/{repo.full_name}",
            clone_url=f"{self.web_url}/{repo.full_name}.git",
            default_branch=repo.default_branch,
            fork=False,
            mirror_url=None,
            homepage=None,
            description=f"{repo.name} (stand-in)",
            archived=False,
            disabled=False,
            created_at=_iso(repo.created_at),
            updated_at=_iso(pushed),
            pushed_at=_iso(pushed),
        )
        obj.setdefault("language", None)  # required by `full-repository`, missing from the spec's example
        if "visibility" in obj:
            obj["visibility"] = "private" if repo.private else "public"
        if "permissions" in obj:
            obj["permissions"] = {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True}
        for k in ("temp_clone_token",):
            obj.pop(k, None)
        if full:
            for k in ("parent", "source", "template_repository"):
                obj.pop(k, None)
            if owner_type == "Organization":
                obj["organization"] = self._user(repo.owner, kind="Organization")
            else:
                obj.pop("organization", None)
            obj["open_issues_count"] = obj["open_issues"] = sum(
                1 for p in self.pulls.values() if p.repo == repo.full_name and p.state == "open")
        return obj

    def _last_push(self, repo: Repo) -> datetime:
        return repo.created_at

    def _pull_obj(self, pr: Pull) -> dict:
        repo = self._repo(pr.repo)
        obj = openapi.example("pull-request")
        tmpl_repo = obj["head"]["repo"]
        pairs = self._repo_pairs(repo, tmpl_repo["full_name"])
        t_full, t_num = tmpl_repo["full_name"], obj["number"]
        api_repo, web_repo = f"{self.api_url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        pairs += [
            (f"{GITHUB_API}/repos/{t_full}/pulls/{t_num}", f"{api_repo}/pulls/{pr.number}"),
            (f"{GITHUB_API}/repos/{t_full}/issues/{t_num}", f"{api_repo}/issues/{pr.number}"),
            (f"{GITHUB_WEB}/{t_full}/pull/{t_num}", f"{web_repo}/pull/{pr.number}"),
            (f"{GITHUB_API}/repos/{t_full}/statuses/{obj['head']['sha']}", f"{api_repo}/statuses/{pr.head_sha}"),
        ]
        obj = _rewrite(obj, pairs)
        repo_obj = self._repo_obj(repo, tmpl_repo)
        files = self.git.diff(repo.git_dir, pr.base_sha, pr.head_sha)
        owner_user = self._user(repo.owner)
        obj.update(
            id=pr.id,
            node_id=_node_id("PullRequest", pr.id),
            number=pr.number,
            state=pr.state,
            locked=False,
            active_lock_reason=None,
            title=pr.title,
            body=pr.body,
            user=self._user(pr.user),
            labels=[],
            milestone=None,
            created_at=_iso(pr.created_at),
            updated_at=_iso(pr.updated_at),
            closed_at=_iso(pr.closed_at) if pr.closed_at else None,
            merged_at=_iso(pr.closed_at) if pr.merged and pr.closed_at else None,
            merge_commit_sha=pr.merge_sha,
            assignee=None,
            assignees=[],
            requested_reviewers=[],
            requested_teams=[],
            author_association=self._association(repo, pr.user),
            auto_merge=None,
            draft=pr.draft,
            merged=pr.merged,
            mergeable=(pr.merge_sha is not None) if pr.state == "open" else None,
            rebaseable=None,
            mergeable_state=("clean" if pr.merge_sha else "dirty") if pr.state == "open" else "unknown",
            merged_by=None,
            comments=sum(1 for c in self._comments.values() if c.repo == pr.repo and c.number == pr.number),
            review_comments=0,
            commits=self.git.count_commits(repo.git_dir, self.git.merge_base(repo.git_dir, pr.base_sha, pr.head_sha),
                                           pr.head_sha),
            additions=sum(f["additions"] for f in files),
            deletions=sum(f["deletions"] for f in files),
            changed_files=len(files),
        )
        for side, ref, sha in (("head", pr.head_ref, pr.head_sha), ("base", pr.base_ref, pr.base_sha)):
            obj[side].update(label=f"{repo.owner}:{ref}", ref=ref, sha=sha, user=owner_user, repo=repo_obj)
        return obj

    def _association(self, repo: Repo, login: str) -> str:
        if login == self.bot_login:
            return "NONE"
        if login == repo.owner:
            return "OWNER"
        perm = repo.collaborators.get(login)
        if perm in ("admin", "maintain", "write"):
            return "MEMBER"
        if perm in ("triage", "read"):
            return "COLLABORATOR"
        return "CONTRIBUTOR"

    def _new_comment(self, full_name: str, number: int, body: str, user: str) -> Comment:
        now = _now()
        is_bot = user == self.bot_login
        c = Comment(self._next("comment"), full_name, number, body, user, "Bot" if is_bot else "User", now, now,
                    via_app=is_bot)
        self._comments[c.id] = c
        return c

    def _comment_state(self, c: Comment) -> dict:
        return {
            "id": c.id,
            "body": c.body,
            "user": c.user,
            "user_type": c.user_type,
            "created_at": _iso(c.created_at),
            "updated_at": _iso(c.updated_at),
            "edit_count": c.edit_count,
            "reactions": [r["content"] for r in c.reactions],
            "html_url": f"{self.web_url}/{c.repo}/pull/{c.number}#issuecomment-{c.id}",
        }

    def _comment_obj(self, c: Comment) -> dict:
        repo = self._repo(c.repo)
        obj = openapi.example("issue-comment")
        obj.update(
            id=c.id,
            node_id=_node_id("IssueComment", c.id),
            url=f"{self.api_url}/repos/{c.repo}/issues/comments/{c.id}",
            html_url=f"{self.web_url}/{c.repo}/pull/{c.number}#issuecomment-{c.id}",
            body=c.body,
            user=self._user(c.user),
            created_at=_iso(c.created_at),
            updated_at=_iso(c.updated_at),
            issue_url=f"{self.api_url}/repos/{c.repo}/issues/{c.number}",
            author_association=self._association(repo, c.user),
            performed_via_github_app=self._integration() if c.via_app else None,
            reactions=self._reaction_rollup(c),
        )
        obj.pop("pin", None)
        obj.pop("minimized", None)
        return obj

    def _reaction_rollup(self, c: Comment) -> dict:
        counts = {k: 0 for k in ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")}
        for r in c.reactions:
            counts[r["content"]] += 1
        return {"url": f"{self.api_url}/repos/{c.repo}/issues/comments/{c.id}/reactions",
                "total_count": len(c.reactions), **counts}

    def _check_run_state(self, r: CheckRun) -> dict:
        return {
            "id": r.id,
            "name": r.name,
            "head_sha": r.head_sha,
            "status": r.status,
            "conclusion": r.conclusion,
            "started_at": _iso(r.started_at) if r.started_at else None,
            "completed_at": _iso(r.completed_at) if r.completed_at else None,
            "external_id": r.external_id,
            "details_url": r.details_url,
            "output": {**copy.deepcopy(r.output), "annotations_count": len(r.annotations)},
            "annotations": copy.deepcopy(r.annotations),
            "images": copy.deepcopy(r.images),
            "actions": copy.deepcopy(r.actions),
            "app_id": self.app_id,
            "check_suite_id": r.suite_id,
            "update_count": r.update_count,
            "html_url": f"{self.web_url}/{r.repo}/runs/{r.id}",
        }

    def _check_run_obj(self, r: CheckRun) -> dict:
        repo = self._repo(r.repo)
        obj = openapi.example("check-run")
        obj.update(
            id=r.id,
            head_sha=r.head_sha,
            node_id=_node_id("CheckRun", r.id),
            external_id=r.external_id,
            url=f"{self.api_url}/repos/{r.repo}/check-runs/{r.id}",
            html_url=f"{self.web_url}/{r.repo}/runs/{r.id}",
            details_url=r.details_url or f"{self.web_url}/apps/{self.app_slug}",
            status=r.status,
            conclusion=r.conclusion,
            started_at=_iso(r.started_at) if r.started_at else None,
            completed_at=_iso(r.completed_at) if r.completed_at else None,
            output={
                "title": r.output.get("title"),
                "summary": r.output.get("summary"),
                "text": r.output.get("text"),
                "annotations_count": len(r.annotations),
                "annotations_url": f"{self.api_url}/repos/{r.repo}/check-runs/{r.id}/annotations",
            },
            name=r.name,
            check_suite={"id": r.suite_id},
            app=self._integration(),
            pull_requests=[self._pull_minimal(p, repo) for p in self.pulls.values()
                           if p.repo == r.repo and p.state == "open" and p.head_sha == r.head_sha],
        )
        return obj

    def _pull_minimal(self, p: Pull, repo: Repo) -> dict:
        mini_repo = {"id": repo.id, "url": f"{self.api_url}/repos/{repo.full_name}", "name": repo.name}
        return {"url": f"{self.api_url}/repos/{repo.full_name}/pulls/{p.number}", "id": p.id, "number": p.number,
                "head": {"ref": p.head_ref, "sha": p.head_sha, "repo": mini_repo},
                "base": {"ref": p.base_ref, "sha": p.base_sha, "repo": mini_repo}}

    # ------------------------------------------------------------------ WSGI
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

    def _record(self, rec: dict) -> dict:
        with self._lock:
            self.requests.append(rec)
        return rec

    def _violation(self, msg: str) -> None:
        with self._lock:
            self.violations.append(msg)

    def _take_failure(self, method: str, full_path: str, rel_path: str) -> Failure | None:
        with self._lock:
            for f in self._failures:
                if f.method not in ("*", method) or f.times <= 0:
                    continue
                if f.regex.search(full_path) or f.regex.search(rel_path):
                    f.times -= 1
                    if f.times <= 0:
                        self._failures.remove(f)
                    return f
        return None

    def _failure_response(self, f: Failure, route: openapi.Route | None) -> Response:
        body = f.body
        if body is None:
            docs = route.docs_url if route else "https://docs.github.com/rest"
            if f.status in (403, 429):
                body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                                   "try again. If you reach out to GitHub Support for help, please include the "
                                   f"request ID {uuid.uuid4().hex[:8].upper()}.",
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                                             "#about-secondary-rate-limits",
                        "status": str(f.status)}
            elif f.status == 422:
                body = {"message": "Validation Failed", "errors": [{"resource": "Unknown", "code": "custom",
                                                                     "message": "injected by fail_next"}],
                        "documentation_url": docs, "status": "422"}
            elif f.status >= 500:
                body = {"message": {502: "Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}
                        .get(f.status, "Server Error"), "status": str(f.status)}
            else:
                body = {"message": "injected failure", "documentation_url": docs, "status": str(f.status)}
        resp = _json_response(f.status, body) if not isinstance(body, (str, bytes)) else Response(
            body, status=f.status, content_type="text/html; charset=utf-8")
        for k, v in f.headers.items():
            resp.headers[k] = v
        return resp

    # ------------------------------------------------------------------ REST
    def _api(self, req: Request) -> Response:
        full_path = req.path
        rel = full_path[len(openapi.API_PREFIX):] or "/"
        raw = req.get_data(cache=True)
        json_body = None
        json_error = None
        if raw:
            try:
                json_body = json.loads(raw)
            except ValueError as e:
                json_error = str(e)
        rec = self._record({
            "kind": "api",
            "method": req.method,
            "path": rel,
            "full_path": full_path,
            "query": dict(req.args),
            "json": json_body,
            "status": None,
            "auth": None,
            "operation": None,
            "injected": False,
            "api_version": req.headers.get("X-GitHub-Api-Version"),
            "user_agent": req.headers.get("User-Agent"),
            "time": time.time(),
        })
        caller = self._authenticate(req)
        rec["auth"] = caller.kind
        if caller.token is not None:
            rec["installation_id"] = caller.token.installation_id

        # match on the raw (still percent-encoded) path: `commits/feature%2Forders/check-runs`
        # is one `{ref}` segment although werkzeug decodes req.path to `feature/orders`
        raw_path = (req.environ.get("RAW_URI") or req.environ.get("REQUEST_URI") or quote(full_path)).split("?", 1)[0]
        if "://" in raw_path:  # absolute-form request target
            raw_path = "/" + raw_path.split("://", 1)[1].split("/", 1)[-1]
        raw_rel = raw_path[len(openapi.API_PREFIX):] if raw_path.startswith(openapi.API_PREFIX) else rel
        route, params, other_method = openapi.match(req.method, raw_rel)
        params = {k: unquote(v) for k, v in params.items()}
        if route is None:
            hint = "" if other_method else self._spec_hint(req.method.lower(), rel)
            msg = f"{req.method} {rel}: {'method not allowed here' if other_method else 'no such route'}{hint}"
            self._violation(msg)
            resp = _json_response(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest",
                                        "status": "404"})
            return self._finish(rec, resp, req, None, {})
        rec["operation"] = route.operation_id

        if json_error is not None:
            self._violation(f"{route.operation_id}: body is not JSON: {json_error}")
            return self._finish(rec, _json_response(400, {"message": "Problems parsing JSON",
                                                          "documentation_url": route.docs_url, "status": "400"}),
                                req, route, params)
        version = req.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in openapi.SUPPORTED_API_VERSIONS:
            self._violation(f"{route.operation_id}: unsupported X-GitHub-Api-Version {version!r}")
            return self._finish(rec, _json_response(400, {"message": f"API version {version} is not supported.",
                                                          "documentation_url": route.docs_url, "status": "400"}),
                                req, route, params)

        check = openapi.validate_request(
            route, params, host_url=req.host_url, method=req.method, body=raw,
            content_type=req.headers.get("Content-Type"), query=req.args, headers=req.headers, json_body=json_body)
        if check.errors:
            for e in check.errors:
                self._violation(f"{req.method} {rel} ({route.operation_id}): {e}")
            body = {"message": check.message, "documentation_url": route.docs_url, "status": "422"}
            if check.github_errors:
                body["errors"] = check.github_errors
            return self._finish(rec, _json_response(422, body), req, route, params)

        failure = self._take_failure(req.method, full_path, rel)
        if failure is not None and not failure.after:
            rec["injected"] = True
            return self._finish(rec, self._failure_response(failure, route), req, route, params, validate=False)

        try:
            self._authorize(route, params, caller)
            handler = getattr(self, "_op_" + re.sub(r"\W", "_", route.operation_id))
            status, body, headers = handler(req, params, json_body or {}, caller)
            resp = _json_response(status, body) if not isinstance(body, Response) else body
            for k, v in (headers or {}).items():
                resp.headers[k] = v
        except HTTPError as e:
            if e.body.get("documentation_url") == "https://docs.github.com/rest":
                e.body["documentation_url"] = route.docs_url
            resp = _json_response(e.status, e.body)
            for k, v in e.headers.items():
                resp.headers[k] = v
        if failure is not None:  # after=True: processed, then the client sees the failure
            rec["injected"] = True
            return self._finish(rec, self._failure_response(failure, route), req, route, params, validate=False)
        return self._finish(rec, resp, req, route, params)

    def _spec_hint(self, method: str, rel: str) -> str:
        try:
            for m, p in openapi.full_paths():
                if m == method and openapi._compile(p).match(rel):
                    return (f" (GitHub has {method.upper()} {p}, but the stand-in does not serve it: "
                            "add it to tests/standin/openapi.py OPERATIONS and a handler)")
        except Exception:
            pass
        return " (not an operation of GitHub's REST API)"

    def _finish(self, rec: dict, resp: Response, req: Request, route, params, *, validate: bool = True) -> Response:
        resp.headers.setdefault("X-GitHub-Request-Id", uuid.uuid4().hex[:20].upper())
        resp.headers.setdefault("X-GitHub-Media-Type", "github.v3; format=json")
        resp.headers.setdefault("X-GitHub-Api-Version-Selected",
                                req.headers.get("X-GitHub-Api-Version") or "2022-11-28")
        if rec.get("auth") in ("jwt", "installation"):
            self._rate_headers(resp, rec)
        if req.method == "GET" and resp.status_code == 200 and resp.mimetype == "application/json":
            data = resp.get_data()
            etag = 'W/"' + hashlib.sha256(data).hexdigest()[:32] + '"'
            resp.headers["ETag"] = etag
            if etag in [t.strip() for t in (req.headers.get("If-None-Match") or "").split(",")]:
                rec["status"] = 304
                not_modified = Response(status=304)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-type", "content-length"):
                        not_modified.headers[k] = v
                return not_modified
        rec["status"] = resp.status_code
        if validate and self.validate_responses and route is not None and resp.mimetype == "application/json" \
                and resp.status_code < 300:
            errs = openapi.validate_response(
                route, params, host_url=req.host_url, method=req.method, query=req.args, headers=req.headers,
                status=resp.status_code, resp_headers=dict(resp.headers), data=resp.get_data(),
                content_type=resp.headers.get("Content-Type", "application/json"))
            if errs:
                with self._lock:
                    self.response_errors.extend(f"{route.operation_id} {resp.status_code}: {e}" for e in errs)
        return resp

    def _rate_headers(self, resp: Response, rec: dict) -> None:
        key = "app" if rec["auth"] == "jwt" else f"installation:{rec.get('installation_id')}"
        with self._lock:
            self._rate_used[key] = used = self._rate_used.get(key, 0) + 1
        reset = int(time.time()) // 3600 * 3600 + 3600
        resp.headers["X-RateLimit-Limit"] = str(RATE_LIMIT)
        resp.headers["X-RateLimit-Remaining"] = str(max(RATE_LIMIT - used, 0))
        resp.headers["X-RateLimit-Reset"] = str(reset)
        resp.headers["X-RateLimit-Used"] = str(used)
        resp.headers["X-RateLimit-Resource"] = "core"

    # ------------------------------------------------------------------ auth
    def _authenticate(self, req: Request) -> Caller:
        header = req.headers.get("Authorization")
        if not header:
            return Caller("none")
        scheme, _, cred = header.partition(" ")
        scheme, cred = scheme.lower(), cred.strip()
        if scheme == "basic":
            try:
                user, _, pw = base64.b64decode(cred).decode().partition(":")
            except Exception:
                return Caller("invalid", error="Bad credentials")
            cred, scheme = pw, "token"
        if scheme not in ("bearer", "token"):
            return Caller("invalid", error="Bad credentials")
        if cred.count(".") == 2 and cred.startswith("eyJ"):
            err = self._verify_jwt(cred)
            return Caller("invalid", error=err) if err else Caller("jwt")
        with self._lock:
            tok = self._tokens.get(cred)
        if tok is None or tok.revoked:
            return Caller("invalid", error="Bad credentials")
        if tok.expires_at <= _now():
            return Caller("invalid", token=None, error="Bad credentials")
        return Caller("installation", token=tok)

    def _verify_jwt(self, token: str) -> str | None:
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.PyJWTError:
            return "A JSON web token could not be decoded"
        if header.get("alg") != "RS256":
            return "A JSON web token could not be decoded"
        try:
            claims = pyjwt.decode(token, self._public_key, algorithms=["RS256"],
                                  options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                           "require": ["iat", "exp", "iss"]})
        except pyjwt.InvalidSignatureError:
            return "A JSON web token could not be decoded"
        except pyjwt.PyJWTError as e:
            return f"A JSON web token could not be decoded ({e})"
        iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
        now = time.time()
        if not isinstance(iat, (int, float)) or iat > now + JWT_CLOCK_SKEW:
            return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
        if not isinstance(exp, (int, float)) or exp <= now - JWT_CLOCK_SKEW:
            return ("'Expiration time' claim ('exp') must be a numeric value representing the future time at "
                    "which the assertion expires")
        if exp - iat > JWT_MAX_LIFETIME or exp - now > JWT_MAX_LIFETIME + JWT_CLOCK_SKEW:
            return "'Expiration time' claim ('exp') is too far in the future"
        if str(iss) not in (str(self.app_id), self.client_id):
            return "'Issuer' claim ('iss') must be the app's id or client id"
        return None

    def _authorize(self, route: openapi.Route, params: dict, caller: Caller) -> None:
        op = route.operation_id
        if caller.kind == "none":
            raise HTTPError(401, "Requires authentication")
        if caller.kind == "invalid":
            if caller.error and caller.error != "Bad credentials":
                self._violation(f"{op}: JWT refused: {caller.error}")
            raise HTTPError(401, caller.error or "Bad credentials")
        if op in ANY_AUTH_OPERATIONS:
            return
        if op in JWT_OPERATIONS:
            if caller.kind != "jwt":
                self._violation(f"{op}: needs a JWT (Authorization: Bearer <jwt>), got an installation token")
                raise HTTPError(401, "A JSON web token could not be decoded")
            return
        if caller.kind == "jwt":
            self._violation(f"{op}: called with the App JWT; this endpoint needs an installation token")
            raise HTTPError(401, "Bad credentials")
        tok = caller.token
        assert tok is not None
        if op in TOKEN_OPERATIONS_WITHOUT_REPO:
            return
        full_name = f"{params['owner']}/{params['repo']}"
        with self._lock:
            repo = self.repos.get(full_name)
            if repo is None or repo.installation_id != tok.installation_id or (
                    tok.repo_ids is not None and repo.id not in tok.repo_ids):
                raise HTTPError(404, "Not Found")
            need = REQUIRED_PERMISSION.get(op)
        if need:
            names, level = need
            if not any(PERMISSION_LEVELS.get(tok.permissions.get(n, "none"), 0) >= PERMISSION_LEVELS[level]
                       for n in names):
                raise HTTPError(403, "Resource not accessible by integration",
                                headers={"X-Accepted-GitHub-Permissions": ",".join(f"{n}={level}" for n in names)})

    def _repo_for(self, params: dict) -> Repo:
        repo = self.repos.get(f"{params['owner']}/{params['repo']}")
        if repo is None:
            raise HTTPError(404, "Not Found")
        return repo

    # ------------------------------------------------------------------ operations: apps
    def _op_apps_create_installation_access_token(self, req, params, body, caller):
        inst_id = int(params["installation_id"])
        with self._lock:
            inst = self.installations.get(inst_id)
            if inst is None:
                raise HTTPError(404, "Not Found")
            perms = dict(inst.permissions)
            if body.get("permissions"):
                for k, v in body["permissions"].items():
                    if PERMISSION_LEVELS.get(v, 99) > PERMISSION_LEVELS.get(inst.permissions.get(k, "none"), 0):
                        raise HTTPError(422, "The permissions requested are not granted to this installation.")
                perms = dict(body["permissions"])
                perms.setdefault("metadata", "read")
            inst_repos = {r.name: r for r in self.repos.values() if r.installation_id == inst_id}
            repo_ids: set[int] | None = None
            if "repositories" in body or "repository_ids" in body:
                repo_ids = set()
                for name in body.get("repositories") or []:
                    if name not in inst_repos:
                        raise HTTPError(422, "There is at least one repository that does not exist or is not "
                                             "accessible to the parent installation.")
                    repo_ids.add(inst_repos[name].id)
                by_id = {r.id: r for r in inst_repos.values()}
                for rid in body.get("repository_ids") or []:
                    if rid not in by_id:
                        raise HTTPError(422, "There is at least one repository that does not exist or is not "
                                             "accessible to the parent installation.")
                    repo_ids.add(rid)
                if len(repo_ids) > 500:
                    raise HTTPError(422, "Too many repositories (maximum is 500)")
            token = "ghs_" + secrets.token_hex(18)
            tok = Token(token, inst_id, _now() + TOKEN_LIFETIME, perms,
                        frozenset(repo_ids) if repo_ids is not None else None)
            self._tokens[token] = tok
            obj = openapi.example("installation-token")
            obj.update(token=token, expires_at=_iso(tok.expires_at), permissions=perms,
                       repository_selection="selected")
            if repo_ids is not None:
                obj["repositories"] = [self._repo_obj(r, obj["repositories"][0])
                                       for r in inst_repos.values() if r.id in repo_ids]
            else:
                obj.pop("repositories", None)
        return 201, obj, None

    def _op_apps_get_authenticated(self, req, params, body, caller):
        with self._lock:
            return 200, self._integration(), None

    def _op_apps_get_installation(self, req, params, body, caller):
        with self._lock:
            inst = self.installations.get(int(params["installation_id"]))
            if inst is None:
                raise HTTPError(404, "Not Found")
            return 200, self._installation_obj(inst), None

    def _op_apps_get_repo_installation(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            if repo.installation_id is None:
                raise HTTPError(404, "Not Found")
            return 200, self._installation_obj(self.installations[repo.installation_id]), None

    def _op_apps_revoke_installation_access_token(self, req, params, body, caller):
        with self._lock:
            caller.token.revoked = True
        return 204, None, None

    def _op_apps_list_repos_accessible_to_installation(self, req, params, body, caller):
        tok = caller.token
        with self._lock:
            repos = [r for r in sorted(self.repos.values(), key=lambda r: r.id)
                     if r.installation_id == tok.installation_id and (tok.repo_ids is None or r.id in tok.repo_ids)]
            tmpl = openapi.example("installation-token")["repositories"][0]
            objs = [self._repo_obj(r, tmpl) for r in repos]
        page, link = self._paginate(req, objs)
        return 200, {"total_count": len(objs), "repository_selection": "selected", "repositories": page}, link

    def _op_rate_limit_get(self, req, params, body, caller):
        obj = openapi.example("rate-limit-overview")
        reset = int(time.time()) // 3600 * 3600 + 3600
        for res in list(obj["resources"].values()) + [obj["rate"]]:
            res["reset"] = reset
        core = obj["resources"]["core"]
        core.update(limit=RATE_LIMIT, used=0, remaining=RATE_LIMIT)
        obj["rate"] = dict(core)
        return 200, obj, None

    # ------------------------------------------------------------------ operations: repo data
    def _op_repos_get(self, req, params, body, caller):
        with self._lock:
            return 200, self._repo_obj(self._repo_for(params), full=True), None

    def _op_pulls_get(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            pr = self.pulls.get((repo.full_name, int(params["pull_number"])))
            if pr is None:
                raise HTTPError(404, "Not Found")
            return 200, self._pull_obj(pr), None

    def _op_pulls_list(self, req, params, body, caller):
        state = req.args.get("state", "open")
        with self._lock:
            repo = self._repo_for(params)
            prs = [p for p in sorted(self.pulls.values(), key=lambda p: -p.number)
                   if p.repo == repo.full_name and (state == "all" or p.state == state)
                   and (not req.args.get("base") or p.base_ref == req.args["base"])
                   and (not req.args.get("head") or f"{repo.owner}:{p.head_ref}" == req.args["head"])]
            objs = [self._pull_obj(p) for p in prs]
        for o in objs:  # the list returns `pull-request-simple`
            for k in ("merged", "mergeable", "rebaseable", "mergeable_state", "merged_by", "comments",
                      "review_comments", "maintainer_can_modify", "commits", "additions", "deletions",
                      "changed_files"):
                o.pop(k, None)
        page, link = self._paginate(req, objs)
        return 200, page, link

    def _op_pulls_list_files(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            pr = self.pulls.get((repo.full_name, int(params["pull_number"])))
            if pr is None:
                raise HTTPError(404, "Not Found")
            head = pr.head_sha
            base = pr.base_sha
        files = self.git.diff(repo.git_dir, base, head)[:3000]
        for f in files:
            path = quote(f["filename"])
            f["blob_url"] = f"{self.web_url}/{repo.full_name}/blob/{head}/{path}"
            f["raw_url"] = f"{self.web_url}/{repo.full_name}/raw/{head}/{path}"
            f["contents_url"] = f"{self.api_url}/repos/{repo.full_name}/contents/{path}?ref={head}"
            # keep the spec's key order: sha, filename, status, additions, deletions, changes, blob_url, ...
        page, link = self._paginate(req, files)
        return 200, page, link

    def _op_repos_get_content(self, req, params, body, caller):
        repo = self._repo_for(params)
        path = params["path"].strip("/")
        ref = req.args.get("ref") or repo.default_branch
        commit = self.git.resolve_ref(repo.git_dir, ref)
        if commit is None:
            raise HTTPError(404, f"No commit found for the ref {ref}")
        if any(p in ("", ".", "..") for p in path.split("/")):
            raise HTTPError(404, "Not Found")
        entry = self.git.ls(repo.git_dir, commit, path)
        if entry is None:
            raise HTTPError(404, "Not Found")
        accept = req.headers.get("Accept", "")
        mode, typ, sha, size = entry
        if typ == "tree":
            items = [self._content_item(repo, ref, *row) for row in self.git.ls_dir(repo.git_dir, commit, path)]
            if "application/vnd.github.object" in accept:
                obj = self._content_item(repo, ref, mode, typ, sha, size, path)
                obj["entries"] = items
                return 200, obj, None
            return 200, items, None
        data = self.git.blob(repo.git_dir, sha) if typ == "blob" else b""
        if "application/vnd.github.raw" in accept and typ == "blob":
            return 200, Response(data, status=200, content_type="application/vnd.github.raw"), None
        obj = self._content_item(repo, ref, mode, typ, sha, size, path)
        if obj["type"] == "file":
            obj["content"] = _b64_lines(data) if size <= 1024 * 1024 else ""
            obj["encoding"] = "base64" if size <= 1024 * 1024 else "none"
            ordered = {k: obj[k] for k in ("type", "encoding", "size", "name", "path", "content", "sha", "url",
                                           "git_url", "html_url", "download_url", "_links")}
            return 200, ordered, None
        if obj["type"] == "symlink":
            obj["target"] = data.decode(errors="replace")
        return 200, obj, None

    def _content_item(self, repo: Repo, ref: str, mode: str, typ: str, sha: str, size: int, path: str) -> dict:
        kind = {"tree": "dir", "commit": "submodule"}.get(typ, "symlink" if mode == "120000" else "file")
        qpath = quote(path)
        self_url = f"{self.api_url}/repos/{repo.full_name}/contents/{qpath}?ref={quote(ref, safe='')}"
        git_url = (f"{self.api_url}/repos/{repo.full_name}/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}"
                   if kind != "submodule" else None)
        html_url = f"{self.web_url}/{repo.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{qpath}"
        download = f"{self.web_url}/{repo.full_name}/raw/{ref}/{qpath}" if kind == "file" else None
        return {
            "type": kind,
            "size": size if kind == "file" else 0,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": self_url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": download,
            "_links": {"self": self_url, "git": git_url, "html": html_url},
        }

    # ------------------------------------------------------------------ operations: checks
    def _suite(self, full_name: str, head_sha: str) -> int:
        key = (full_name, head_sha)
        if key not in self._suites:
            self._suites[key] = self._next("check_suite")
        return self._suites[key]

    def _apply_check_fields(self, r: CheckRun, body: dict, *, creating: bool) -> None:
        now = _now()
        for k in ("name", "details_url", "external_id"):
            if k in body:
                setattr(r, k, body[k])
        if "started_at" in body:
            r.started_at = _parse_time(body["started_at"])
        if "status" in body:
            r.status = body["status"]
        if "conclusion" in body:
            r.conclusion = body["conclusion"]
            r.status = "completed"
        if "completed_at" in body:
            r.completed_at = _parse_time(body["completed_at"])
        if r.status == "completed":
            r.completed_at = r.completed_at or now
        elif not creating and "status" in body:
            r.conclusion, r.completed_at = None, None
        out = body.get("output")
        if out:
            for k in ("title", "summary", "text"):
                if k in out:
                    r.output[k] = out[k]
            r.annotations.extend(copy.deepcopy(out.get("annotations") or []))
            r.images.extend(copy.deepcopy(out.get("images") or []))
        if "actions" in body:
            r.actions = copy.deepcopy(body["actions"])

    def _op_checks_create(self, req, params, body, caller):
        repo = self._repo_for(params)
        if self.git.rev_parse(repo.git_dir, body["head_sha"]) is None or len(body["head_sha"]) != 40:
            raise HTTPError(422, f"No commit found for SHA: {body['head_sha']}",
                            errors=[{"resource": "CheckRun", "code": "invalid", "field": "head_sha"}])
        with self._lock:
            now = _now()
            r = CheckRun(self._next("check_run"), repo.full_name, body["head_sha"], body["name"],
                         self._suite(repo.full_name, body["head_sha"]), "queued", None, now, None, "", None,
                         {"title": None, "summary": None, "text": None}, [], [], [], now)
            self._apply_check_fields(r, body, creating=True)
            self._check_runs[r.id] = r
            return 201, self._check_run_obj(r), None

    def _get_run(self, params) -> CheckRun:
        repo = self._repo_for(params)
        r = self._check_runs.get(int(params["check_run_id"]))
        if r is None or r.repo != repo.full_name:
            raise HTTPError(404, "Not Found")
        return r

    def _op_checks_update(self, req, params, body, caller):
        with self._lock:
            r = self._get_run(params)
            self._apply_check_fields(r, body, creating=False)
            r.update_count += 1
            return 200, self._check_run_obj(r), None

    def _op_checks_get(self, req, params, body, caller):
        with self._lock:
            return 200, self._check_run_obj(self._get_run(params)), None

    def _op_checks_list_for_ref(self, req, params, body, caller):
        repo = self._repo_for(params)
        sha = self.git.resolve_ref(repo.git_dir, params["ref"])
        if sha is None:
            raise HTTPError(422, f"No commit found for SHA: {params['ref']}")
        with self._lock:
            runs = [r for r in sorted(self._check_runs.values(), key=lambda r: -r.id)
                    if r.repo == repo.full_name and r.head_sha == sha]
            if req.args.get("check_name"):
                runs = [r for r in runs if r.name == req.args["check_name"]]
            if req.args.get("status"):
                runs = [r for r in runs if r.status == req.args["status"]]
            if req.args.get("app_id") and int(req.args["app_id"]) != self.app_id:
                runs = []
            if req.args.get("filter", "latest") == "latest":
                seen: set[str] = set()
                latest = []
                for r in runs:
                    if r.name not in seen:
                        seen.add(r.name)
                        latest.append(r)
                runs = latest
            objs = [self._check_run_obj(r) for r in runs]
        page, link = self._paginate(req, objs)
        return 200, {"total_count": len(objs), "check_runs": page}, link

    # ------------------------------------------------------------------ operations: comments
    def _op_issues_get(self, req, params, body, caller):
        """A PR seen through the Issues API (PyGithub's ``repo.get_issue(n)``)."""
        with self._lock:
            repo = self._repo_for(params)
            pr = self.pulls.get((repo.full_name, int(params["issue_number"])))
            if pr is None:
                raise HTTPError(404, "Not Found")
            obj = openapi.example("issue")
            api_repo, web_repo = f"{self.api_url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
            obj.update(
                id=pr.id + 1_000_000_000,
                node_id=_node_id("PullRequest", pr.id),
                url=f"{api_repo}/issues/{pr.number}",
                repository_url=api_repo,
                labels_url=f"{api_repo}/issues/{pr.number}/labels{{/name}}",
                comments_url=f"{api_repo}/issues/{pr.number}/comments",
                events_url=f"{api_repo}/issues/{pr.number}/events",
                html_url=f"{web_repo}/pull/{pr.number}",
                number=pr.number,
                state=pr.state,
                title=pr.title,
                body=pr.body,
                user=self._user(pr.user),
                labels=[],
                assignee=None,
                assignees=[],
                milestone=None,
                locked=False,
                active_lock_reason=None,
                comments=sum(1 for c in self._comments.values() if c.repo == pr.repo and c.number == pr.number),
                pull_request={"url": f"{api_repo}/pulls/{pr.number}", "html_url": f"{web_repo}/pull/{pr.number}",
                              "diff_url": f"{web_repo}/pull/{pr.number}.diff",
                              "patch_url": f"{web_repo}/pull/{pr.number}.patch",
                              "merged_at": _iso(pr.closed_at) if pr.merged and pr.closed_at else None},
                closed_at=_iso(pr.closed_at) if pr.closed_at else None,
                created_at=_iso(pr.created_at),
                updated_at=_iso(pr.updated_at),
                closed_by=None,
                author_association=self._association(repo, pr.user),
                state_reason=None,
            )
            obj.pop("pinned_comment", None)
            return 200, obj, None

    def _op_issues_list_comments(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            number = int(params["issue_number"])
            if (repo.full_name, number) not in self.pulls:
                raise HTTPError(404, "Not Found")
            since = _parse_time(req.args["since"]) if req.args.get("since") else None
            objs = [self._comment_obj(c) for c in sorted(self._comments.values(), key=lambda c: c.id)
                    if c.repo == repo.full_name and c.number == number and (since is None or c.updated_at >= since)]
        page, link = self._paginate(req, objs)
        return 200, page, link

    def _op_issues_create_comment(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            number = int(params["issue_number"])
            pr = self.pulls.get((repo.full_name, number))
            if pr is None:
                raise HTTPError(404, "Not Found")
            c = self._new_comment(repo.full_name, number, body["body"], self.bot_login)
            obj = self._comment_obj(c)
        return 201, obj, {"Location": obj["url"]}

    def _get_comment(self, params) -> Comment:
        repo = self._repo_for(params)
        c = self._comments.get(int(params["comment_id"]))
        if c is None or c.repo != repo.full_name:
            raise HTTPError(404, "Not Found")
        return c

    def _op_issues_get_comment(self, req, params, body, caller):
        with self._lock:
            return 200, self._comment_obj(self._get_comment(params)), None

    def _op_issues_update_comment(self, req, params, body, caller):
        with self._lock:
            c = self._get_comment(params)
            if c.user != self.bot_login:
                self._violation(f"issues/update-comment: the App edited comment {c.id} written by {c.user!r}")
                raise HTTPError(403, "Resource not accessible by integration")
            if c.body != body["body"]:
                c.body = body["body"]
                c.edit_count += 1
                c.updated_at = _now()
            return 200, self._comment_obj(c), None

    def _op_reactions_create_for_issue_comment(self, req, params, body, caller):
        with self._lock:
            c = self._get_comment(params)
            for r in c.reactions:
                if r["user"] == self.bot_login and r["content"] == body["content"]:
                    return 200, self._reaction_obj(r), None
            r = {"id": self._next("reaction"), "user": self.bot_login, "content": body["content"], "created_at": _now()}
            c.reactions.append(r)
            return 201, self._reaction_obj(r), None

    def _reaction_obj(self, r: dict) -> dict:
        obj = openapi.example("reaction")
        obj.update(id=r["id"], node_id=_node_id("Reaction", r["id"]), user=self._user(r["user"]),
                   content=r["content"], created_at=_iso(r["created_at"]))
        return obj

    def _op_repos_get_collaborator_permission_level(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            username = params["username"]
            role = repo.collaborators.get(username, "none")
            if username == repo.owner:
                role = "admin"
            permission = {"maintain": "write", "triage": "read"}.get(role, role)
            obj = openapi.example("repository-collaborator-permission-response-if-user-has-admin-permissions")
            user = self._user(username)
            user["permissions"] = {"admin": role == "admin", "maintain": role in ("admin", "maintain"),
                                   "push": permission in ("admin", "write"),
                                   "triage": role in ("admin", "maintain", "write", "triage"),
                                   "pull": permission != "none"}
            user["role_name"] = role
            obj.update(permission=permission, role_name=role, user=user)
            return 200, obj, None

    # ------------------------------------------------------------------ pagination
    def _paginate(self, req: Request, items: list) -> tuple[list, dict | None]:
        try:
            per_page = max(1, min(int(req.args.get("per_page", 30)), 100))
            page = max(1, int(req.args.get("page", 1)))
        except ValueError:
            raise HTTPError(422, "Invalid pagination parameters")
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        if last == 1 and page == 1:
            return chunk, None
        base = f"{self.web_url}{req.path}"

        def url(p: int) -> str:
            q = {k: v for k, v in req.args.items() if k not in ("page",)}
            q["per_page"] = str(per_page) if "per_page" in req.args else q.get("per_page")
            q = {k: v for k, v in q.items() if v is not None}
            q["page"] = str(p)
            return f"{base}?{urlencode(q)}"

        links = []
        if page > 1:
            links.append(f'<{url(min(page - 1, last))}>; rel="prev"')
        if page < last:
            links.append(f'<{url(page + 1)}>; rel="next"')
            links.append(f'<{url(last)}>; rel="last"')
        if page > 1:
            links.append(f'<{url(1)}>; rel="first"')
        return chunk, {"Link": ", ".join(links)}

    # ------------------------------------------------------------------ git smart HTTP
    def _git_http(self, req: Request) -> Response:
        m = _GIT_PATH.match(req.path)
        owner, name, rest = m.group("owner"), m.group("repo"), m.group("rest")
        full_name = f"{owner}/{name}"
        rec = self._record({"kind": "git", "method": req.method, "path": req.path, "full_path": req.path,
                            "query": dict(req.args), "json": None, "status": None, "auth": "none",
                            "operation": f"git/{rest}", "injected": False,
                            "git_protocol": req.headers.get("Git-Protocol"),
                            "user_agent": req.headers.get("User-Agent"), "time": time.time()})

        def done(resp: Response) -> Response:
            rec["status"] = resp.status_code
            return resp

        failure = self._take_failure(req.method, req.path, req.path)
        if failure is not None:
            rec["injected"] = True
            return done(self._failure_response(failure, None))
        service = req.args.get("service") if rest == "info/refs" else rest
        if service != "git-upload-pack":
            return done(Response("Service not enabled\n" if service == "git-receive-pack" else "Not Found\n",
                                 status=403 if service == "git-receive-pack" else 404, content_type="text/plain"))
        challenge = {"WWW-Authenticate": 'Basic realm="GitHub"'}
        header = req.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return done(Response("Unauthorized\n", status=401, headers=challenge, content_type="text/plain"))
        rec["auth"] = "basic"
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except Exception:
            user, password = "", ""
        with self._lock:
            tok = self._tokens.get(password)
            ok = (user == "x-access-token" and tok is not None and not tok.revoked and tok.expires_at > _now())
            repo = self.repos.get(full_name)
            if ok:
                rec["installation_id"] = tok.installation_id
        if not ok:
            if tok is not None and user != "x-access-token":
                self._violation(f"git {rest} {full_name}: Basic user must be 'x-access-token', got {user!r}")
            return done(Response("remote: Invalid username or token. Password authentication is not supported "
                                 "for Git operations.\n", status=401, headers=challenge, content_type="text/plain"))
        if repo is None or repo.installation_id != tok.installation_id or (
                tok.repo_ids is not None and repo.id not in tok.repo_ids):
            return done(Response("Repository not found.\n", status=404, content_type="text/plain"))
        if PERMISSION_LEVELS.get(tok.permissions.get("contents", "none"), 0) < 1:
            return done(Response("remote: Permission to %s denied.\n" % full_name, status=403,
                                 content_type="text/plain"))
        body = req.get_data()
        status, headers, out = self.git.http_backend(
            path_info=f"/{owner}/{name}.git/{rest}", method=req.method,
            query=req.query_string.decode(), content_type=req.headers.get("Content-Type"), body=body,
            git_protocol=req.headers.get("Git-Protocol"), content_encoding=req.headers.get("Content-Encoding"),
            remote_user="x-access-token")
        resp = Response(out, status=status)
        for k, v in headers:
            resp.headers[k] = v
        return done(resp)


_GIT_PATH = re.compile(r"^/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+?)(?:\.git)?/"
                       r"(?P<rest>info/refs|git-upload-pack|git-receive-pack)$")


def _json_response(status: int, body: Any) -> Response:
    if status == 204 or body is None:
        return Response(status=status)
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")


def _parse_time(value: str) -> datetime:
    v = value.replace("Z", "+00:00")
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def _split(full_name: str) -> tuple[str, str]:
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"expected owner/name, got {full_name!r}")
    return owner, name


def _read_files(src) -> dict[str, bytes | str]:
    if src is None:
        return {"README.md": "# stand-in repository\n"}
    if isinstance(src, dict):
        return {k: v for k, v in src.items() if v is not None}
    root = Path(src)
    out: dict[str, bytes] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if ".git" in rel.parts or p.is_dir():
            continue
        out[rel.as_posix()] = p.read_bytes()
    return out


def _executables(src) -> frozenset[str]:
    if src is None or isinstance(src, dict):
        return frozenset()
    root = Path(src)
    return frozenset(p.relative_to(root).as_posix() for p in root.rglob("*")
                     if p.is_file() and ".git" not in p.relative_to(root).parts and os.access(p, os.X_OK))
