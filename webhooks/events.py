"""From one webhook delivery to what to do: pure functions, no I/O.

Only the fields meshdiff uses are read, each checked for its type and, for ids, its form
(``bot.ids``: a 40-hex sha, an ``owner/name`` repository, a PR number in GitHub's range): a
signed payload of the wrong shape raises :class:`BadPayload` with the reason (the route answers
400), so nothing impossible is ever queued. Only ids go on the queue (installation id,
repository full name, PR number, head sha, delivery id): never a token, never the payload.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from bot.celeryapp import TASK_ANALYZE, TASK_COMMAND
from bot.commands import parse_command
from bot.ids import MAX_ID, InvalidId, check_number, check_repo, check_sha, parse_job_id

CHECK_NAME = "meshdiff / impact"
PR_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
RERUN_ACTION = "rerun"
_LOGIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_[]")


class BadPayload(ValueError):
    """A signed payload whose shape GitHub never sends; the message says which field and why."""


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


# -- typed reads ---------------------------------------------------------------------------

_MISSING = object()


def _field(obj: dict, key: str, where: str, kinds: tuple, *, required: bool = True, default=None):
    value = obj.get(key, _MISSING)
    if value is _MISSING or (value is None and type(None) not in kinds):
        if required:
            raise BadPayload(f"`{where}{key}` is missing")
        return default
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join("null" if k is type(None) else {"dict": "an object", "list": "an array",
                                                              "str": "a string", "int": "an integer",
                                                              "bool": "a boolean"}[k.__name__] for k in kinds)
        raise BadPayload(f"`{where}{key}` must be {names}, not {_kind(value)}")
    return value


def _kind(value) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _obj(obj: dict, key: str, where: str = "", *, required: bool = True) -> dict:
    return _field(obj, key, where, (dict,), required=required, default={})


def _str(obj: dict, key: str, where: str = "", *, required: bool = True) -> str | None:
    return _field(obj, key, where, (str,), required=required)


def _ids(check, *args):
    try:
        return check(*args)
    except InvalidId as exc:
        raise BadPayload(str(exc)) from None


def _installation_id(payload: dict) -> int:
    inst = _obj(payload, "installation")
    return _ids(check_number, _field(inst, "id", "installation.", (int,)), "installation.id", MAX_ID)


def _repo(payload: dict) -> str:
    repo = _obj(payload, "repository")
    return _ids(check_repo, _str(repo, "full_name", "repository."))


def _repo_names(payload: dict, key: str) -> list[str]:
    names = []
    for i, item in enumerate(_field(payload, key, "", (list,), required=False, default=[])):
        if not isinstance(item, dict):
            raise BadPayload(f"`{key}[{i}]` must be an object, not {_kind(item)}")
        names.append(_ids(check_repo, _str(item, "full_name", f"{key}[{i}]."), f"{key}[{i}].full_name"))
    return names


def _login(user: dict, where: str) -> str | None:
    login = _str(user, "login", where, required=False)
    if login is not None and not (0 < len(login) <= 100 and set(login) <= _LOGIN_CHARS):
        raise BadPayload(f"`{where}login` is not a GitHub login: {login[:60]!r}")
    return login


def _is_bot(user: dict, where: str) -> bool:
    kind = _str(user, "type", where, required=False)
    return kind == "Bot" or (_login(user, where) or "").endswith("[bot]")


# -- routing -------------------------------------------------------------------------------

def route(event: str, payload: dict, *, delivery: str = "") -> Decision:
    """What to do for ``event``; raises :class:`BadPayload` for a payload of the wrong shape."""
    if event == "ping":
        return Decision(ignored="ping")
    if event not in ("installation", "installation_repositories", "pull_request", "check_run", "issue_comment"):
        return Decision(ignored=f"event {event!r} is not handled")
    action = _str(payload, "action")
    if event == "installation":
        return _installation(payload, action)
    if event == "installation_repositories":
        inst = _installation_id(payload)
        access = [(inst, name, False) for name in _repo_names(payload, "repositories_added")]
        access += [(inst, name, True) for name in _repo_names(payload, "repositories_removed")]
        return Decision(access=access, ignored=f"installation_repositories.{action}")
    if event == "pull_request":
        return _pull_request(payload, action, delivery)
    if event == "check_run":
        return _check_run(payload, action, delivery)
    return _issue_comment(payload, action, delivery)


def _installation(payload: dict, action: str) -> Decision:
    inst = _installation_id(payload)
    # deleted / suspended: every queued or running job of the installation is dropped and its
    # events are ignored, until unsuspended (a re-installation gets a new id)
    if action in ("deleted", "suspend"):
        return Decision(installation=(inst, True), ignored=f"installation {action}")
    if action in ("created", "unsuspend", "new_permissions_accepted"):
        # a fresh installation (or the same one back) may list repositories removed earlier
        access = [(inst, name, False) for name in _repo_names(payload, "repositories")]
        return Decision(installation=(inst, False), access=access, ignored=f"installation {action}")
    return Decision(ignored=f"installation.{action}")


def _pull_request(payload: dict, action: str, delivery: str) -> Decision:
    if action not in PR_ACTIONS and action != "edited":
        return Decision(ignored=f"pull_request.{action}")
    inst, repo = _installation_id(payload), _repo(payload)
    pr = _obj(payload, "pull_request")
    if action == "edited" and not _obj(_obj(payload, "changes", required=False), "base", "changes.", required=False):
        return Decision(ignored="pull_request.edited without a base change")
    number = _ids(check_number, _field(payload, "number", "", (int,)), "number")
    sha = _ids(check_sha, _str(_obj(pr, "head", "pull_request."), "sha", "pull_request.head."),
               "pull_request.head.sha")
    if _str(pr, "state", "pull_request.") == "closed":
        return Decision(ignored="pull request is closed")
    if _field(pr, "draft", "pull_request.", (bool,), required=False, default=False) and action != "ready_for_review":
        return Decision(ignored="draft pull request (analysed when marked ready, or on /meshdiff rerun)")
    kwargs = dict(installation_id=inst, repo=repo, pr=number, head_sha=sha, delivery=delivery,
                  trigger=f"pull_request.{action}")
    return Decision(jobs=[(TASK_ANALYZE, kwargs)], head=(repo, number, sha), set_head=True)


def _check_run(payload: dict, action: str, delivery: str) -> Decision:
    if action == "requested_action":
        identifier = _str(_obj(payload, "requested_action"), "identifier", "requested_action.", required=False)
        if identifier != RERUN_ACTION:
            return Decision(ignored="unknown requested_action")
    elif action != "rerequested":
        return Decision(ignored=f"check_run.{action}")
    run = _obj(payload, "check_run")
    name = _str(run, "name", "check_run.")
    if name != CHECK_NAME:
        return Decision(ignored=f"check run {name[:80]!r} is not meshdiff's")
    inst, repo = _installation_id(payload), _repo(payload)
    sha = _ids(check_sha, _str(run, "head_sha", "check_run."), "check_run.head_sha")
    parsed = parse_job_id(_field(run, "external_id", "check_run.", (str, type(None)), required=False))
    number = parsed[1] if parsed and parsed[0] == repo else None
    if number is None:
        prs = _field(run, "pull_requests", "check_run.", (list,), required=False, default=[])
        if prs:
            if not isinstance(prs[0], dict):
                raise BadPayload(f"`check_run.pull_requests[0]` must be an object, not {_kind(prs[0])}")
            number = _field(prs[0], "number", "check_run.pull_requests[0].", (int,))
    if number is None:
        return Decision(ignored="check run without a pull request")
    number = _ids(check_number, number, "pull request number")
    # only users with write access can re-run a check: that is a maintainer's go-ahead for forks
    kwargs = dict(installation_id=inst, repo=repo, pr=number, head_sha=sha, delivery=delivery,
                  trigger=f"check_run.{action}", approved=True)
    return Decision(jobs=[(TASK_ANALYZE, kwargs)], head=(repo, number, sha))


def _issue_comment(payload: dict, action: str, delivery: str) -> Decision:
    if action != "created":
        return Decision(ignored=f"issue_comment.{action}")
    issue = _obj(payload, "issue")
    if not _field(issue, "pull_request", "issue.", (dict, type(None)), required=False):
        return Decision(ignored="comment on an issue, not a pull request")
    comment = _obj(payload, "comment")
    sender, author = _obj(payload, "sender", required=False), _obj(comment, "user", "comment.", required=False)
    if _is_bot(sender, "sender.") or _is_bot(author, "comment.user."):
        return Decision(ignored="comment by a bot")
    command = parse_command(_field(comment, "body", "comment.", (str, type(None)), required=False))
    if command is None:
        return Decision(ignored="not a meshdiff command")
    inst, repo = _installation_id(payload), _repo(payload)
    number = _ids(check_number, _field(issue, "number", "issue.", (int,)), "issue.number")
    comment_id = _ids(check_number, _field(comment, "id", "comment.", (int,)), "comment.id", MAX_ID)
    user = _login(author, "comment.user.") or _login(sender, "sender.")
    if not user:
        raise BadPayload("`comment.user.login` is missing")
    kwargs = dict(installation_id=inst, repo=repo, pr=number, comment_id=comment_id, user=user,
                  command=command.name, suggestion=command.suggestion, typed=command.raw, delivery=delivery)
    return Decision(jobs=[(TASK_COMMAND, kwargs)])
