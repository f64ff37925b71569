"""Publishing policy: policy.comment / mention / request_reviews, and the impact page's store."""
import pytest

from bot.config import ConfigError, MeshConfig, Notify, merge_config, parse_mesh_config
from bot.github.publish import request_reviews, wants_comment
from bot.jobs.runner import JobResult
from bot.page import store
from bot.render.owners import ask_line, review_requests
from tests.app_fixtures import fake_report


def test_policy_keys_parse_validate_and_merge():
    cfg = parse_mesh_config("policy: {comment: on-failure, mention: all, request_reviews: breaking}", source="f")
    assert cfg.notify == Notify("on-failure", "all", "breaking")
    assert parse_mesh_config("policy: {mention: none}", source="f").notify.mention == "none"
    with pytest.raises(ConfigError, match="policy.comment.*always, on-impact, on-failure"):
        parse_mesh_config("policy: {comment: sometimes}", source="f")
    org = parse_mesh_config("policy: {mention: none, comment: on-impact}", source="org")
    repo = parse_mesh_config("policy: {mention: all}", source="repo")
    assert merge_config(org, repo).notify == Notify("on-impact", "all", "none")
    assert MeshConfig().notify == Notify("always", "breaking", "none")


def result(conclusion, impacts=True, comment="always"):
    report = fake_report(conclusion=conclusion)
    if not impacts:
        report.impacts = []
    return JobResult([report], notify={"comment": comment})


def test_comment_policy():
    assert wants_comment(result("success", impacts=False))
    assert not wants_comment(result("success", impacts=False, comment="on-impact"))
    assert not wants_comment(result("success", impacts=False, comment="on-failure"))
    failing = result("failure", comment="on-failure")
    assert wants_comment(failing)
    changed_only = result("failure", comment="on-impact")
    changed_only.reports[0].conclusion = "success"
    assert wants_comment(changed_only) and not wants_comment(JobResult(changed_only.reports, notify={"comment": "on-failure"}))


def test_mentions_follow_the_policy_and_reviews_go_to_breaking_owners():
    report = fake_report()
    report.impacts[0].handles = ["@octo-org/finance", "@alice"]
    report.impacts[1].handles = ["@bob"]
    line = ask_line([report], "breaking")
    assert "@octo-org/finance (1 breaking)" in line and "`@bob`" in line  # bob owns a changed node: no ping
    assert "`@octo-org/finance`" in ask_line([report], "none") and "@bob (1 may change)" in ask_line([report], "all")
    assert review_requests([report], "breaking") == (["alice"], ["octo-org/finance"])
    assert review_requests([report], "none") == ([], [])

    class Pull:
        class base:
            class repo:
                full_name = "octo-org/shop-dbt"
        user = type("U", (), {"login": "alice"})
        asked = None

        def create_review_request(self, reviewers, team_reviewers):
            Pull.asked = (reviewers, team_reviewers)

    done = request_reviews(Pull(), JobResult([report], notify={"request_reviews": "breaking"}))
    assert Pull.asked == ([], ["finance"]) and done == {"requested": ["octo-org/finance"]}  # the author is not asked


def test_one_reviewer_github_refuses_does_not_stop_the_others():
    """GitHub answers 422 to the whole request when one reviewer has no access: each is then
    asked alone."""
    report = fake_report()
    report.impacts[0].handles = ["@carol", "@stranger", "@octo-org/finance", "@other-org/team"]

    class Pull:
        base = type("B", (), {"repo": type("R", (), {"full_name": "octo-org/shop-dbt"})})
        user = type("U", (), {"login": "alice"})
        calls: list = []

        def create_review_request(self, reviewers, team_reviewers):
            Pull.calls.append((reviewers, team_reviewers))
            if "stranger" in reviewers:
                raise RuntimeError("422 Reviews may only be requested from collaborators.")

    done = request_reviews(Pull(), JobResult([report], notify={"request_reviews": "breaking"}))
    assert done == {"requested": ["carol", "octo-org/finance"], "refused": ["stranger"]}
    assert Pull.calls == [(["carol", "stranger"], ["finance"]), (["carol"], []), (["stranger"], []), ([], ["finance"])]


def test_page_tokens_are_stable_per_job_and_unguessable():
    a = store.token_for("o/r#1@abc#1", "secret")
    assert a == store.token_for("o/r#1@abc#1", "secret") and store.TOKEN_RE.match(a)
    assert a != store.token_for("o/r#1@abc#2", "secret") and a != store.token_for("o/r#1@abc#1", "other")
    assert store.store_page(None, "j", [fake_report()], secret="s", env={}) is None  # pages off without a public URL
