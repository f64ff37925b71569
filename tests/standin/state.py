"""The test-side API of :class:`~tests.standin.server.StandInGitHub`: seed and read back
the in-memory state (installations, repos and commits, pulls, comments, check runs,
tokens), webhook payloads from that state, failure injection, request log."""

from __future__ import annotations

import copy
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from .model import (DEFAULT_APP_EVENTS, DEFAULT_APP_PERMISSIONS, TOKEN_LIFETIME, CheckRun, Comment, Failure,
                    Installation, Pull, Repo, Token, _iso, _now)


class StateMixin:
    """Seeding and inspection of the in-memory state (no HTTP)."""

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

    def add_team(self, full_name: str, slug: str, permission: str = "write") -> None:
        """Give a team of the repository's owner organisation access to it (it can then be asked
        for a review)."""
        if permission not in ("admin", "maintain", "write", "triage", "read"):
            raise ValueError(permission)
        with self._lock:
            self._repo(full_name).teams[slug] = permission

    def review_requests(self, full_name: str, number: int) -> tuple[list[str], list[str]]:
        """(user logins, team slugs) asked for a review on the PR."""
        with self._lock:
            pr = self._pull(full_name, number)
            return list(pr.requested_reviewers), list(pr.requested_teams)

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
