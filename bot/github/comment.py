"""The sticky pull request comment: exactly one per PR, found by a hidden marker on its first
line *and* the App's own author (``{slug}[bot]``), edited in place, untouched when unchanged.

Finding before creating makes publishing idempotent: a retried task (or a POST retried after a
5xx that GitHub had in fact processed) finds the comment it created and edits it.
"""
from __future__ import annotations

from dataclasses import dataclass

MARKER = "<!-- meshdiff:impact -->"
#: GitHub rejects bodies over 65,536 characters; keep a margin (see the reference notes)
MAX_COMMENT_CHARS = 60_000
MAX_COMMENT_BYTES = 262_144


class CommentTooLong(ValueError):
    pass


def sticky_body(markdown: str) -> str:
    """The comment body: the marker on the first line, then the rendered report."""
    body = f"{MARKER}\n{markdown.strip()}\n"
    if len(body) > MAX_COMMENT_CHARS or len(body.encode("utf-8")) > MAX_COMMENT_BYTES:
        raise CommentTooLong(f"comment body of {len(body)} chars exceeds {MAX_COMMENT_CHARS}")
    return body


def is_sticky(comment, bot_login: str) -> bool:
    user = getattr(comment, "user", None)
    login = getattr(user, "login", None)
    body = getattr(comment, "body", "") or ""
    first = body.lstrip().split("\n", 1)[0].strip()
    return login == bot_login and first == MARKER


def pr_thread(repo, number: int):
    """The PR's conversation (its issue) as a lazy PyGithub ``Issue``, addressed from the
    repository's URL: ``GET/POST {repo}/issues/{n}/comments``, ``{repo}/issues/comments/{id}``."""
    from github.Issue import Issue

    return Issue(repo._requester, url=f"{repo.url}/issues/{int(number)}", completed=False)


def find_sticky(thread, bot_login: str):
    """The oldest comment of the PR that is ours (author) and carries the marker, paging
    through all comments; ``None`` when there is none. ``thread``: :func:`pr_thread`."""
    for comment in thread.get_comments():
        if is_sticky(comment, bot_login):
            return comment
    return None


@dataclass
class UpsertResult:
    action: str  # created | updated | unchanged | skipped
    comment_id: int | None = None
    url: str | None = None


def upsert_sticky(thread, bot_login: str, body: str, *, create: bool = True) -> UpsertResult:
    """Edit the sticky comment in place (skip when the body is unchanged); create it when there
    is none and ``create`` is true."""
    if not body.startswith(MARKER):
        raise ValueError("the sticky comment body must start with the marker")
    if len(body) > MAX_COMMENT_CHARS:
        raise CommentTooLong(f"comment body of {len(body)} chars exceeds {MAX_COMMENT_CHARS}")
    existing = find_sticky(thread, bot_login)
    if existing is not None:
        if (existing.body or "").strip() == body.strip():
            return UpsertResult("unchanged", existing.id, getattr(existing, "html_url", None))
        existing.edit(body)
        return UpsertResult("updated", existing.id, getattr(existing, "html_url", None))
    if not create:
        return UpsertResult("skipped")
    created = thread.create_comment(body)
    return UpsertResult("created", created.id, getattr(created, "html_url", None))
