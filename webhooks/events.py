"""From one webhook delivery to what to do: pure functions, no I/O.

Only ids go on the queue (installation id, repository full name, PR number, head sha, delivery
id): never a token, never the payload.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bot.celeryapp import TASK_ANALYZE, TASK_COMMAND
from bot.commands import is_bot, parse_command
from bot.jobs import parse_job_id

CHECK_NAME = "meshdiff / impact"
PR_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
RERUN_ACTION = "rerun"


@dataclass
class Decision:
    """``jobs``: (task name, kwargs) to enqueue; ``ignored``: why nothing is done."""

    jobs: list[tuple[str, dict]] = field(default_factory=list)
    ignored: str | None = None
    #: (repo, pr, sha): bump the generation / record the head before enqueueing
    head: tuple[str, int, str] | None = None
    set_head: bool = False
    #: installation id -> suspended flag
    installation: tuple[int, bool] | None = None
    #: (installation id, repository full name, removed flag): the App's repository allow-list
    access: list[tuple[int, str, bool]] = field(default_factory=list)


def _installation_id(payload: dict) -> int | None:
    inst = payload.get("installation") or {}
    value = inst.get("id")
    return int(value) if isinstance(value, int) or (isinstance(value, str) and value.isdigit()) else None


def _repo(payload: dict) -> str | None:
    return (payload.get("repository") or {}).get("full_name")


def _repo_names(payload: dict, key: str) -> list[str]:
    return [r["full_name"] for r in payload.get(key) or [] if isinstance(r, dict) and isinstance(r.get("full_name"), str)]


def route(event: str, payload: dict, *, delivery: str = "") -> Decision:
    if event == "ping":
        return Decision(ignored="ping")
    if event == "installation":
        action = payload.get("action")
        inst = _installation_id(payload)
        if inst is None:
            return Decision(ignored="installation event without an installation id")
        # deleted / suspended: every queued or running job of the installation is dropped and its
        # events are ignored, until unsuspended (a re-installation gets a new id)
        if action in ("deleted", "suspend"):
            return Decision(installation=(inst, True), ignored=f"installation {action}")
        if action in ("created", "unsuspend", "new_permissions_accepted"):
            # a fresh installation (or the same one back) may list repositories removed earlier
            access = [(inst, name, False) for name in _repo_names(payload, "repositories")]
            return Decision(installation=(inst, False), access=access, ignored=f"installation {action}")
        return Decision(ignored=f"installation.{action}")
    if event == "installation_repositories":
        inst = _installation_id(payload)
        if inst is None:
            return Decision(ignored="installation_repositories event without an installation id")
        access = [(inst, name, False) for name in _repo_names(payload, "repositories_added")]
        access += [(inst, name, True) for name in _repo_names(payload, "repositories_removed")]
        return Decision(access=access, ignored=f"installation_repositories.{payload.get('action')}")

    inst = _installation_id(payload)
    repo = _repo(payload)
    if event in ("pull_request", "check_run", "issue_comment") and (inst is None or not repo):
        return Decision(ignored=f"{event} without installation or repository")

    if event == "pull_request":
        action = payload.get("action")
        pr = payload.get("pull_request") or {}
        if action == "edited" and not (payload.get("changes") or {}).get("base"):
            return Decision(ignored="pull_request.edited without a base change")
        if action not in PR_ACTIONS and action != "edited":
            return Decision(ignored=f"pull_request.{action}")
        if pr.get("state") == "closed":
            return Decision(ignored="pull request is closed")
        if pr.get("draft") and action != "ready_for_review":
            return Decision(ignored="draft pull request (analysed when marked ready, or on /meshdiff rerun)")
        number = int(payload.get("number") or pr.get("number"))
        sha = (pr.get("head") or {}).get("sha")
        if not sha:
            return Decision(ignored="pull request without head sha")
        kwargs = dict(installation_id=inst, repo=repo, pr=number, head_sha=sha, delivery=delivery,
                      trigger=f"pull_request.{action}")
        return Decision(jobs=[(TASK_ANALYZE, kwargs)], head=(repo, number, sha), set_head=True)

    if event == "check_run":
        action = payload.get("action")
        run = payload.get("check_run") or {}
        if action == "requested_action":
            if ((payload.get("requested_action") or {}).get("identifier")) != RERUN_ACTION:
                return Decision(ignored="unknown requested_action")
        elif action != "rerequested":
            return Decision(ignored=f"check_run.{action}")
        if run.get("name") != CHECK_NAME:
            return Decision(ignored=f"check run {run.get('name')!r} is not meshdiff's")
        sha = run.get("head_sha")
        parsed = parse_job_id(run.get("external_id"))
        number = parsed[1] if parsed and parsed[0] == repo else None
        if number is None:
            prs = run.get("pull_requests") or []
            number = prs[0].get("number") if prs else None
        if not sha or number is None:
            return Decision(ignored="check run without a pull request")
        # only users with write access can re-run a check: that is a maintainer's go-ahead for forks
        kwargs = dict(installation_id=inst, repo=repo, pr=int(number), head_sha=sha, delivery=delivery,
                      trigger=f"check_run.{action}", approved=True)
        return Decision(jobs=[(TASK_ANALYZE, kwargs)], head=(repo, int(number), sha))

    if event == "issue_comment":
        if payload.get("action") != "created":
            return Decision(ignored=f"issue_comment.{payload.get('action')}")
        issue = payload.get("issue") or {}
        if not issue.get("pull_request"):
            return Decision(ignored="comment on an issue, not a pull request")
        comment = payload.get("comment") or {}
        if is_bot(payload.get("sender")) or is_bot(comment.get("user")):
            return Decision(ignored="comment by a bot")
        command = parse_command(comment.get("body"))
        if command is None or not isinstance(comment.get("id"), int):
            return Decision(ignored="not a meshdiff command")
        kwargs = dict(installation_id=inst, repo=repo, pr=int(issue.get("number")), comment_id=int(comment["id"]),
                      user=str((comment.get("user") or {}).get("login") or (payload.get("sender") or {}).get("login")),
                      command=command.name, suggestion=command.suggestion, typed=command.raw, delivery=delivery)
        return Decision(jobs=[(TASK_COMMAND, kwargs)])

    return Decision(ignored=f"event {event!r} is not handled")
