"""ChatOps: ``/meshdiff rerun`` and ``/meshdiff help`` in a pull request comment.

Rules (after Atlantis): the command is the comment's first line; the prefix is ``/meshdiff``
(case-insensitive); a near miss (``/meshdiff rerunn``, ``/meshdif rerun``) gets a "did you mean";
only users with write, maintain or admin permission on the repository may run commands (asked
with the collaborator-permission API, never inferred from the comment); comments from bots are
ignored; every command is acknowledged with a reaction.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

PREFIX = "/meshdiff"
COMMANDS = ("rerun", "help")
#: permission levels of ``GET /repos/{o}/{r}/collaborators/{user}/permission`` that may run commands
ALLOWED_PERMISSIONS = frozenset({"admin", "maintain", "write"})
HELP_MARKER = "<!-- meshdiff:help -->"


@dataclass(frozen=True)
class Command:
    #: ``rerun`` | ``help`` | ``unknown``
    name: str
    #: what the user typed after the prefix (first line only)
    raw: str = ""
    #: for ``unknown``: the closest command, if any
    suggestion: str | None = None


def parse_command(body: str | None) -> Command | None:
    """The command in a comment, or ``None`` when the comment is not addressed to meshdiff."""
    if not body:
        return None
    first = body.strip().splitlines()[0].strip() if body.strip() else ""
    tokens = first.split()
    if not tokens:
        return None
    head = tokens[0].lower()
    rest = [t.lower() for t in tokens[1:]]
    if head != PREFIX:
        if head.startswith("/") and difflib.SequenceMatcher(None, head, PREFIX).ratio() >= 0.8:
            sub = rest[0] if rest else "help"
            sub = sub if sub in COMMANDS else (difflib.get_close_matches(sub, COMMANDS, n=1, cutoff=0.6) or ["help"])[0]
            return Command("unknown", first[:100], f"{PREFIX} {sub}")
        return None
    if not rest or rest[0] == "help":
        return Command("help", first[:100])
    if rest[0] == "rerun" and len(rest) == 1:
        return Command("rerun", first[:100])
    near = difflib.get_close_matches(rest[0], COMMANDS, n=1, cutoff=0.6)
    return Command("unknown", first[:100], f"{PREFIX} {near[0]}" if near else None)


def is_bot(sender: dict | None) -> bool:
    sender = sender or {}
    return sender.get("type") == "Bot" or str(sender.get("login", "")).endswith("[bot]")


def help_text(*, check_name: str, suggestion: str | None = None, typed: str | None = None) -> str:
    lines = [HELP_MARKER]
    if typed is not None:
        safe = typed.replace("`", "'")[:80]
        lines.append(f"meshdiff does not know the command `{safe}`."
                     + (f" Did you mean `{suggestion}`?" if suggestion else ""))
        lines.append("")
    lines += [
        "**meshdiff commands** (first line of a pull request comment; needs write access to the repository):",
        "",
        "| Command | What it does |",
        "|---|---|",
        f"| `{PREFIX} rerun` | analyse the pull request's current head commit again and update the impact comment and the `{check_name}` check |",
        f"| `{PREFIX} help` | show this help |",
        "",
        f"The **Re-run** button of the `{check_name}` check does the same as `{PREFIX} rerun`.",
    ]
    return "\n".join(lines)


def denied_text(user: str, permission: str) -> str:
    return (f"{HELP_MARKER}\n@{user} meshdiff commands need write access to this repository "
            f"(you have `{permission}`). Ask a maintainer to comment `{PREFIX} rerun`, "
            "or to click **Re-run** on the check.")


def user_permission(repo, login: str) -> str:
    """``admin``/``maintain``/``write``/``triage``/``read``/``none`` for ``login`` on ``repo``
    (a PyGithub Repository); ``none`` when GitHub does not know the user."""
    from github import GithubException

    try:
        perm = repo.get_collaborator_permission(login)
    except GithubException as exc:
        if exc.status == 404:
            return "none"
        raise
    return str(perm or "none")


def may_run(permission: str) -> bool:
    return permission in ALLOWED_PERMISSIONS


def run_command(repo, pr: int, comment_id: int, user: str, command: str, *, suggestion: str | None = None,
                typed: str = "", rerun, check_name: str = "meshdiff / impact") -> str:
    """Answer one command on ``repo``'s PR ``pr`` (a PyGithub Repository): check the author's
    permission, react, and for ``rerun`` call ``rerun(head_sha)``. Returns what was done."""
    from bot.github import pr_thread

    pull = repo.get_pull(pr)
    thread = pr_thread(repo, pr)
    comment = thread.get_comment(comment_id)
    permission = user_permission(repo, user)
    if not may_run(permission):
        comment.create_reaction("confused")
        thread.create_comment(denied_text(user, permission))
        return "denied"
    if command == "rerun":
        if pull.state == "closed":
            comment.create_reaction("confused")
            return "closed"
        comment.create_reaction("rocket")
        rerun(pull.head.sha)
        return "rerun"
    comment.create_reaction("+1" if command == "help" else "confused")
    thread.create_comment(help_text(check_name=check_name, suggestion=suggestion,
                                    typed=typed if command == "unknown" else None))
    return command
