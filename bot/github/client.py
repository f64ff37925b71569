"""PyGithub client construction and the retry rules for GitHub's REST API.

PyGithub's default ``GithubRetry`` retries 5xx and rate-limited 403s but not ``429``, and it
retries ``POST`` (a retried ``POST .../comments`` after a 5xx may create a duplicate). Here:

- ``429`` and ``403`` (rate limits) are retried for every method, honouring ``retry-after``
  (the request was not processed, so repeating a POST is safe);
- ``5xx`` is retried in the client only for idempotent methods (GET/HEAD/PUT/PATCH/DELETE);
  a POST that fails with 5xx surfaces as :class:`github.GithubException` and the task retries the
  whole *idempotent* publishing step (check run found by ``external_id``, comment found by marker);
- waits longer than ``max_wait_s`` are not slept in the client: the error surfaces and the Celery
  task is retried later with that countdown (see :func:`retry_delay`).
"""
from __future__ import annotations

import email.utils
import time

import requests
from github import Auth, Github, GithubException
from github.GithubRetry import GithubRetry
from urllib3 import Retry

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})
RATE_LIMIT_STATUSES = frozenset({403, 429})
DEFAULT_MAX_WAIT_S = 60.0
API_VERSION = "2022-11-28"


class MeshdiffRetry(GithubRetry):
    """GithubRetry + 429, without 5xx retries of POST, with a cap on in-client waits."""

    def __init__(self, max_wait_s: float = DEFAULT_MAX_WAIT_S, **kwargs) -> None:
        self.max_wait_s = max_wait_s
        kwargs.setdefault("total", 4)
        kwargs.setdefault("backoff_factor", 0.5)
        kwargs.setdefault("backoff_max", 30)
        kwargs.setdefault("status_forcelist", [*range(500, 600), 429])
        kwargs.setdefault("allowed_methods", IDEMPOTENT | {"POST"})
        kwargs.setdefault("raise_on_status", False)
        kwargs.setdefault("secondary_rate_wait", min(60.0, max_wait_s))
        kwargs.setdefault("max_rate_limit_wait", max_wait_s)
        super().__init__(**kwargs)

    def new(self, **kw):
        retry = super().new(**kw)
        retry.max_wait_s = self.max_wait_s
        return retry

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code >= 500 and (method or "").upper() not in IDEMPOTENT:
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def get_retry_after(self, response) -> float | None:
        value = super().get_retry_after(response)
        if value is not None and value > self.max_wait_s:
            # too long to sleep inside a request: give up here, the task reschedules itself
            from github.GithubException import RateLimitExceededExceedsMaxWait

            raise RateLimitExceededExceedsMaxWait(
                response.status, {"message": "retry-after exceeds the in-client wait"},
                dict(response.headers), wait=value,
            )
        return value


def make_retry(max_wait_s: float = DEFAULT_MAX_WAIT_S) -> Retry:
    return MeshdiffRetry(max_wait_s=max_wait_s)


def make_github(token: str, api_url: str, *, max_wait_s: float = DEFAULT_MAX_WAIT_S,
                seconds_between_writes: float = 1.0) -> Github:
    """A REST client for one installation token. ``api_url`` is ``https://api.github.com`` or a
    GHES ``https://HOST/api/v3`` (every URL is built from it, never from payload hosts)."""
    return Github(
        auth=Auth.Token(token),
        base_url=api_url.rstrip("/"),
        retry=make_retry(max_wait_s),
        timeout=30,
        per_page=100,
        seconds_between_requests=0.05,
        seconds_between_writes=seconds_between_writes,
        user_agent="meshdiff-app",
    )


def _header(headers, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return value
    return None


def _retry_after_seconds(headers) -> float | None:
    value = _header(headers, "retry-after")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            return max(0.0, parsed.timestamp() - time.time()) if parsed else None
    if _header(headers, "x-ratelimit-remaining") == "0":
        reset = _header(headers, "x-ratelimit-reset")
        if reset and reset.isdigit():
            return max(1.0, int(reset) - time.time() + 1)
    return None


def is_transient(exc: BaseException) -> bool:
    """A failure worth retrying later: GitHub 5xx, 429, rate-limited 403, or a network error."""
    if isinstance(exc, GithubException):
        status = exc.status or 0
        if status >= 500 or status == 429:
            return True
        if status == 403:
            message = str((exc.data or {}).get("message", "") if isinstance(exc.data, dict) else exc.data)
            return _retry_after_seconds(exc.headers) is not None or "rate limit" in message.lower()
        return False
    return isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError))


def retry_delay(exc: BaseException, attempt: int, *, base: float = 5.0, cap: float = 600.0) -> float:
    """Seconds before the task's next attempt: GitHub's ``retry-after`` (or rate-limit reset)
    when given, else exponential backoff ``base * 2**attempt`` capped at ``cap``."""
    wait = getattr(exc, "wait", None)
    if isinstance(wait, (int, float)) and wait > 0:
        return min(float(wait), 3600.0)
    if isinstance(exc, GithubException):
        after = _retry_after_seconds(exc.headers)
        if after is not None:
            return min(after, 3600.0)
    return min(cap, base * (2 ** max(0, attempt)))
