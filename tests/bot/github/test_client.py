"""Retry rules against the stand-in GitHub (every request validated against the OpenAPI)."""
import time

import pytest
from github import GithubException

from bot.github.comment import pr_thread
from bot.github.client import is_transient, make_github, retry_delay
from tests.app_fixtures import standin_github, standin_openapi  # noqa: F401

REPO = "octo-org/shop-dbt"


@pytest.fixture
def client(standin_github):
    gh = standin_github
    gh.add_installation(31, "octo-org")
    gh.add_repo(REPO, {"README.md": "x\n"})
    gh.commit(REPO, "feat", {"a.sql": "select 1\n"})
    gh.open_pull(REPO, 1, head_branch="feat")
    return gh, make_github(gh.issue_token(31), gh.api_url, seconds_between_writes=0)


def test_429_retried_even_for_post_honouring_retry_after(client):
    gh, g = client
    gh.fail_next("POST", r"/issues/1/comments$", 429, headers={"Retry-After": "1"})
    start = time.monotonic()
    pr_thread(g.withLazy(True).get_repo(REPO), 1).create_comment("hello")
    assert time.monotonic() - start >= 0.9
    assert len(gh.comments(REPO, 1)) == 1
    assert len(gh.requests_for("POST", r"/issues/1/comments$")) == 2


def test_403_rate_limit_retried_honouring_retry_after(client):
    gh, g = client
    gh.fail_next("GET", r"/pulls/1$", 403, headers={"Retry-After": "2"})
    start = time.monotonic()
    assert g.withLazy(True).get_repo(REPO).get_pull(1).title
    # waited as long as GitHub asked: not less, and not the 60 s default for a secondary rate limit
    # (the upper bound only needs to be below 60 s: a busy machine may add seconds)
    assert 1.9 <= time.monotonic() - start < 50
    assert [r["status"] for r in gh.requests_for("GET", r"/pulls/1$")] == [403, 200]


def test_5xx_retried_for_get_not_for_post(client):
    gh, g = client
    gh.fail_next("GET", r"/pulls/1$", 502, times=2)
    assert g.withLazy(True).get_repo(REPO).get_pull(1).title
    assert [r["status"] for r in gh.requests_for("GET", r"/pulls/1$")] == [502, 502, 200]
    gh.fail_next("POST", r"/issues/1/comments$", 502, after=True)  # GitHub did it, the client saw 502
    with pytest.raises(GithubException) as err:
        pr_thread(g.withLazy(True).get_repo(REPO), 1).create_comment("once")
    assert err.value.status == 502 and is_transient(err.value)
    assert len(gh.comments(REPO, 1)) == 1  # not posted twice by the client


def test_long_retry_after_left_to_the_task(client):
    gh, g = client
    gh.fail_next("GET", r"/pulls/1$", 429, headers={"Retry-After": "3600"})
    start = time.monotonic()
    with pytest.raises(GithubException) as err:
        g.withLazy(True).get_repo(REPO).get_pull(1).title
    assert time.monotonic() - start < 600  # it did not sleep the hour GitHub asked for
    assert is_transient(err.value) and retry_delay(err.value, 0) == 3600


def test_classification():
    assert not is_transient(GithubException(404, {"message": "Not Found"}, {}))
    assert not is_transient(GithubException(403, {"message": "Resource not accessible by integration"}, {}))
    assert is_transient(GithubException(403, {"message": "You have exceeded a secondary rate limit"}, {}))
    assert is_transient(GithubException(403, {"message": "x"}, {"Retry-After": "5"}))
    assert retry_delay(GithubException(429, {}, {"retry-after": "7"}), 3) == 7
    assert retry_delay(GithubException(502, {}, {}), 0) == 5 and retry_delay(GithubException(502, {}, {}), 10) == 600
    reset = str(int(time.time()) + 30)
    delay = retry_delay(GithubException(403, {"message": "API rate limit exceeded"},
                                        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}), 0)
    assert 25 <= delay <= 32
