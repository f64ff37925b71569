"""The ids a job carries, and their validation: nothing else ever goes on the queue.

A job is ``(repo, PR, head sha)`` plus a *generation*: ``owner/repo#12@<sha>#<gen>`` is the job
id and the check run's ``external_id``. Generations are times in microseconds (made strictly
increasing per commit by Redis): a newer run of the same commit has a larger one, and that stays
true when Redis forgets its keys, because the clock does not.

Every id from a webhook is checked here before anything is queued: a sha is 40 lowercase hex
digits, a repository ``owner/name`` as GitHub spells them, a PR number within GitHub's range.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_OWNER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,38})$")
_NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
#: GitHub's PR and issue numbers are 32-bit; other ids (installations, comments) fit in 53 bits
MAX_NUMBER = 2**31 - 1
MAX_ID = 2**53


class InvalidId(ValueError):
    """An id that GitHub would never send; the message names the field and the rule."""


def is_sha(value: object) -> bool:
    return isinstance(value, str) and bool(_SHA_RE.match(value))


def is_repo(value: object) -> bool:
    """``owner/name`` as GitHub spells them (no ``..``, no third part, no spaces)."""
    if not isinstance(value, str) or value.count("/") != 1:
        return False
    owner, name = value.split("/")
    return bool(_OWNER_RE.match(owner)) and bool(_NAME_RE.match(name)) and name not in (".", "..")


def is_number(value: object, limit: int = MAX_NUMBER) -> bool:
    """A positive integer up to ``limit`` (``True`` is not a number here)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= limit


def check_sha(value: object, field: str = "sha") -> str:
    if not is_sha(value):
        raise InvalidId(f"{field} is not a commit sha (40 lowercase hex digits): {_show(value)}")
    return value  # type: ignore[return-value]


def check_repo(value: object, field: str = "repository.full_name") -> str:
    if not is_repo(value):
        raise InvalidId(f"{field} is not an `owner/name` repository: {_show(value)}")
    return value  # type: ignore[return-value]


def check_number(value: object, field: str, limit: int = MAX_NUMBER) -> int:
    if not is_number(value, limit):
        raise InvalidId(f"{field} is not a positive integer up to {limit}: {_show(value)}")
    return value  # type: ignore[return-value]


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def new_generation(now: float | None = None) -> int:
    """A generation for a run requested now (microseconds; Redis makes it strictly increasing)."""
    return int((time.time() if now is None else now) * 1_000_000)


@dataclass(frozen=True)
class JobId:
    """One run of meshdiff for one commit of one pull request."""

    repo: str
    pr: int
    sha: str
    gen: int

    @property
    def commit_key(self) -> str:
        """``owner/repo#12@sha``: what all runs of this commit share."""
        return commit_key(self.repo, self.pr, self.sha)

    def __str__(self) -> str:
        return f"{self.commit_key}#{int(self.gen)}"

    @classmethod
    def parse(cls, job_id: str | None) -> "JobId | None":
        """``owner/repo#12@sha#3`` → JobId; ``None`` when it is not one of ours."""
        if not job_id or "#" not in job_id or "@" not in job_id:
            return None
        try:
            key, gen = job_id.rsplit("#", 1)
            repo_pr, sha = key.rsplit("@", 1)
            repo, pr = repo_pr.rsplit("#", 1)
            return cls(repo, int(pr), sha, int(gen))
        except ValueError:
            return None

    def validate(self) -> "JobId":
        check_repo(self.repo, "repo")
        check_number(self.pr, "pr")
        check_sha(self.sha, "head_sha")
        check_number(self.gen, "gen", 2**62)
        return self


def commit_key(repo: str, pr: int, sha: str) -> str:
    return f"{repo}#{int(pr)}@{sha}"


def parse_job_id(job_id: str | None) -> tuple[str, int, str, int] | None:
    """``owner/repo#12@sha#3`` → (repo, pr, sha, gen); ``None`` when it is not one of ours."""
    parsed = JobId.parse(job_id)
    return None if parsed is None else (parsed.repo, parsed.pr, parsed.sha, parsed.gen)
