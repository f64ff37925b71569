"""Fuzzed webhook deliveries, validly signed: real payloads (@octokit/webhooks-examples) with
one to three fields replaced by values of the wrong type or form, or removed, sent under their own
event or another one, and bodies that are not payloads at all. Used by
``tests/webhooks/test_fuzz.py`` and the drills (``python -m bench.drills``).

The rules it checks: no answer is 5xx, and every job that reaches the queue carries valid ids.
"""
from __future__ import annotations

import copy
import json
import random
import uuid
from typing import Iterator

from bot.celeryapp import TASK_ANALYZE, TASK_COMMAND
from bot.ids import MAX_ID, is_number, is_repo, is_sha

REPO = "octo-org/shop-dbt"
SHA = "1" * 40
_EVENTS = ("pull_request", "check_run", "issue_comment", "installation", "installation_repositories")
#: fields meshdiff reads, broken more often than others
_HOT = ["action", "number", "installation", "installation.id", "repository", "repository.full_name",
        "pull_request", "pull_request.head", "pull_request.head.sha", "pull_request.state", "pull_request.draft",
        "pull_request.number", "changes", "check_run", "check_run.name", "check_run.head_sha",
        "check_run.external_id", "check_run.pull_requests", "requested_action", "issue", "issue.number",
        "issue.pull_request", "comment", "comment.id", "comment.body", "comment.user", "comment.user.login",
        "sender", "sender.type", "repositories", "repositories_added", "repositories_removed"]


def _deep(n: int):
    value: object = 1
    for _ in range(n):
        value = [value]
    return value


def _bad_values(rng: random.Random) -> list:
    return [None, True, False, 0, -1, -5, 2**31, 2**70, 1.5, float("1e300"), "", "12", "../../etc/passwd",
            "a/b/c", "owner/na me", "x" * rng.choice([41, 5000]), "G" * 40, "é☃\u0000", [], {}, [1, [2]],
            {"id": "1"}, {"full_name": 5}, [{"number": "5"}], _deep(rng.choice([30, 200])), "/meshdiff rerun",
            "meshdiff / impact", "opened", "rerequested", "created", {"sha": "zz"}]


def _paths(value, prefix: str = "", depth: int = 0) -> list[str]:
    out = []
    if depth > 5:
        return out
    if isinstance(value, dict):
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else key
            out.append(path)
            out += _paths(child, path, depth + 1)
    elif isinstance(value, list):
        for i, child in enumerate(value[:3]):
            path = f"{prefix}[{i}]"
            out.append(path)
            out += _paths(child, path, depth + 1)
    return out


def _split(path: str) -> list:
    parts: list = []
    for chunk in path.split("."):
        while "[" in chunk:
            head, rest = chunk.split("[", 1)
            if head:
                parts.append(head)
            index, chunk = rest.split("]", 1)
            parts.append(int(index))
        if chunk:
            parts.append(chunk)
    return parts


def _mutate(payload: dict, path: str, rng: random.Random) -> None:
    parts = _split(path)
    target = payload
    for part in parts[:-1]:
        try:
            target = target[part]
        except (KeyError, IndexError, TypeError):
            return
    last = parts[-1]
    if not isinstance(target, (dict, list)):
        return
    if isinstance(target, dict) and rng.random() < 0.2:
        target.pop(last, None)
        return
    try:
        target[last] = copy.deepcopy(rng.choice(_bad_values(rng)))
    except (IndexError, TypeError):
        pass


def base_payloads() -> list[tuple[str, dict]]:
    """Valid payloads of every handled event, pointed at one repository."""
    from tests.app_fixtures import adapt_event
    from tests.standin import webhooks as wh

    kw = dict(repo_full_name=REPO, installation_id=77, pr_number=5, head_sha=SHA)
    out = [("pull_request", adapt_event(wh.load_example("pull_request", a, variant="with-installation"), **kw))
           for a in ("opened", "synchronize", "reopened")]
    for action in ("rerequested", "requested_action"):
        run = adapt_event(wh.load_example("check_run", action), check_run_name="meshdiff / impact",
                          requested_action="rerun", **kw)
        run["check_run"]["external_id"] = f"{REPO}#5@{SHA}#1"
        out.append(("check_run", run))
    out.append(("issue_comment", adapt_event(
        wh.load_example("issue_comment", "created", variant="with-installation-and-organization"),
        comment_body="/meshdiff rerun", sender_login="alice", sender_type="User", **kw)))
    for action in ("created", "deleted", "suspend", "unsuspend"):
        out.append(("installation", adapt_event(wh.load_example("installation", action), repo_full_name=REPO,
                                                installation_id=77)))
    for action in ("added", "removed"):
        out.append(("installation_repositories", adapt_event(wh.load_example("installation_repositories", action),
                                                             repo_full_name=REPO, installation_id=77)))
    return out


def _raw_bodies(rng: random.Random, valid: bytes) -> list[bytes]:
    return [valid[: rng.randrange(1, max(2, len(valid)))], b"[" * 1000 + b"]" * 1000, b"[1,2]", b"null", b"",
            b"\xff\xfe\x00{", b'{"action": "opened", "number": 1e999999}', b"{" * 5000, b'"just a string"',
            json.dumps({"action": "opened", "x": _deep(900)}).encode()]


def cases(n: int, secret: str, *, seed: int = 12) -> Iterator[tuple[str, bytes, dict]]:
    """``n`` signed deliveries: (event, body, headers)."""
    from tests.standin import webhooks as wh

    rng = random.Random(seed)
    bases = base_payloads()
    for _ in range(n):
        event, payload = rng.choice(bases)
        payload = copy.deepcopy(payload)
        if rng.random() < 0.1:
            body = rng.choice(_raw_bodies(rng, json.dumps(payload).encode()))
        else:
            paths = _paths(payload)
            for _ in range(rng.randint(1, 3)):
                hot = [p for p in _HOT if p in paths]
                _mutate(payload, rng.choice(hot if hot and rng.random() < 0.7 else paths), rng)
            body = json.dumps(payload).encode()
        if rng.random() < 0.1:
            event = rng.choice(_EVENTS)
        yield event, body, wh.headers(event, body, secret, str(uuid.uuid4()))


def invalid_job(name: str, kwargs: dict) -> str | None:
    """Why a queued job is impossible, or ``None`` when its ids are valid."""
    if not is_number(kwargs.get("installation_id"), MAX_ID):
        return f"installation_id {kwargs.get('installation_id')!r}"
    if not is_repo(kwargs.get("repo")):
        return f"repo {kwargs.get('repo')!r}"
    if not is_number(kwargs.get("pr")):
        return f"pr {kwargs.get('pr')!r}"
    if name == TASK_ANALYZE:
        if not is_sha(kwargs.get("head_sha")):
            return f"head_sha {kwargs.get('head_sha')!r}"
        if not is_number(kwargs.get("gen"), 2**62):
            return f"gen {kwargs.get('gen')!r}"
    elif name == TASK_COMMAND:
        if not is_number(kwargs.get("comment_id"), MAX_ID) or not isinstance(kwargs.get("user"), str):
            return f"comment {kwargs.get('comment_id')!r} by {kwargs.get('user')!r}"
    else:
        return f"unknown task {name!r}"
    return None
