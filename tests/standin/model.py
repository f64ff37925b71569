"""In-memory state of the stand-in GitHub: records (installations, repos, pulls,
comments, check runs, tokens, injected failures), shared constants and helpers."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

PERMISSION_LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}
DEFAULT_APP_PERMISSIONS = {"metadata": "read", "contents": "read", "checks": "write", "pull_requests": "write"}
DEFAULT_APP_EVENTS = ["check_run", "check_suite", "issue_comment", "pull_request"]
TOKEN_LIFETIME = timedelta(hours=1)
RATE_LIMIT = 5000


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> datetime:
    v = value.replace("Z", "+00:00")
    dt = datetime.fromisoformat(v)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def _node_id(kind: str, ident: int | str) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def _b64_lines(data: bytes) -> str:
    """Base64 in 60-character lines with a trailing newline, as GitHub returns it."""
    enc = base64.b64encode(data).decode()
    return "".join(enc[i:i + 60] + "\n" for i in range(0, len(enc), 60))


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
    #: teams of the owner organisation with access to the repository: slug -> permission
    teams: dict[str, str] = field(default_factory=dict)

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
    #: review requests (logins, team slugs), in the order they were made
    requested_reviewers: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)


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
