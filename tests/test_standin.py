"""Tests of the stand-in GitHub itself (tests/standin): it must behave like GitHub
for everything meshdiff relies on, and reject what GitHub would reject."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import jwt as pyjwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, Github, GithubException, GithubIntegration

from tests.standin import StandInGitHub, openapi, webhooks
from tests.standin.fixtures import standin_github, standin_openapi  # noqa: F401  (fixtures)

REPO = "acme/warehouse"
INSTALLATION = 101


def _seed(gh: StandInGitHub) -> dict:
    gh.add_installation(INSTALLATION, "acme")
    base = gh.add_repo(
        REPO,
        {
            "dbt_project.yml": "name: warehouse\nversion: '1.0'\n",
            "models/staging/stg_orders.sql": "select 1 as id\n",
            "models/marts/orders.sql": "select id from {{ ref('stg_orders') }}\n",
            "README.md": "# warehouse\n",
        },
    )
    head = gh.commit(
        REPO,
        "feature/orders",
        {
            "models/marts/orders.sql": "select id, 2 as amount from {{ ref('stg_orders') }}\n",
            "models/marts/customers.sql": "select 1 as customer_id\n",
            "README.md": None,
        },
        message="Change orders",
    )
    pr = gh.open_pull(REPO, 7, head_branch="feature/orders", title="Orders: add amount", user="alice")
    assert pr["head_sha"] == head and pr["base_sha"] == base
    return pr


def _token(gh: StandInGitHub, **body) -> str:
    jwt = Auth.AppAuth(gh.app_id, gh.private_key_pem).create_jwt()
    r = requests.post(
        f"{gh.api_url}/app/installations/{INSTALLATION}/access_tokens",
        headers={"Authorization": f"Bearer {jwt}", "Accept": "application/vnd.github+json"},
        json=body or None,
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


def _gh(gh: StandInGitHub, token: str, **kw) -> Github:
    kw.setdefault("seconds_between_requests", 0)
    kw.setdefault("seconds_between_writes", 0)
    return Github(base_url=gh.api_url, auth=Auth.Token(token), **kw)


def _jwt(gh: StandInGitHub, *, iat_offset=-60, exp_offset=300, iss=None, key_pem=None) -> str:
    now = int(time.time())
    claims = {"iat": now + iat_offset, "exp": now + exp_offset, "iss": str(gh.app_id) if iss is None else iss}
    return pyjwt.encode(claims, key_pem or gh.private_key_pem, algorithm="RS256")


# --------------------------------------------------------------------------- spec


def test_pruned_spec_is_small_cached_and_fast(standin_openapi):
    spec = openapi.pruned_spec()
    assert openapi.cache_path().exists()
    assert openapi.artifacts.locked_version("@octokit/openapi") in openapi.cache_path().name
    for method, path in openapi.OPERATIONS:
        assert method in spec["paths"][path]
    n_components = sum(len(v) for v in spec["components"].values())
    assert 40 < n_components < 200
    assert len(json.dumps(spec)) < 1_500_000
    assert openapi.STANDIN_SERVER in spec["servers"]
    # every $ref resolves inside the pruned document
    refs: set[str] = set()
    openapi._refs(spec, refs)
    for ref in refs:
        kind, name = ref[len("#/components/"):].split("/", 1)
        assert name in spec["components"][kind], ref
    assert openapi.LOAD_SECONDS is not None  # loaded once (its time is a figure, not a limit: machines get busy)
    # examples that back the responses exist
    for name in ("check-run", "issue-comment", "pull-request", "installation-token", "integration", "installation",
                 "full-repository-default-response", "diff-entry-items", "reaction", "rate-limit-overview",
                 "content-file-response-if-content-is-a-file",
                 "repository-collaborator-permission-response-if-user-has-admin-permissions"):
        assert openapi.example(name)


# --------------------------------------------------------------------------- app auth


def test_pygithub_integration_mints_token(standin_github):
    gh = standin_github
    _seed(gh)
    gi = GithubIntegration(auth=Auth.AppAuth(gh.app_id, gh.private_key_pem), base_url=gh.api_url)
    app = gi.get_app()
    assert (app.id, app.slug) == (gh.app_id, "meshdiff")
    inst = gi.get_repo_installation("acme", "warehouse")
    assert inst.id == INSTALLATION
    tok = gi.get_access_token(INSTALLATION)
    assert tok.token.startswith("ghs_")
    remaining = tok.expires_at - datetime.now(timezone.utc)
    assert timedelta(minutes=59) < remaining <= timedelta(hours=1)
    # installation auth through PyGithub's AppInstallationAuth
    g = Github(base_url=gh.api_url, auth=Auth.AppAuth(gh.app_id, gh.private_key_pem).get_installation_auth(
        INSTALLATION), seconds_between_requests=0)
    assert g.get_repo(REPO).default_branch == "main"
    kinds = [(r["operation"], r["auth"]) for r in gh.requests]
    assert ("apps/create-installation-access-token", "jwt") in kinds
    assert ("repos/get", "installation") in kinds


def test_token_narrowing_by_repository_and_permission(standin_github):
    gh = standin_github
    _seed(gh)
    gh.add_repo("acme/other", {"x.sql": "select 1\n"})
    narrow = _token(gh, repositories=["other"], permissions={"contents": "read"})
    g = _gh(gh, narrow, retry=None)
    assert g.get_repo("acme/other").name == "other"
    with pytest.raises(GithubException) as e:
        g.get_repo(REPO)
    assert e.value.status == 404
    read_checks = _token(gh, repository_ids=[gh.repos[REPO].id], permissions={"checks": "read", "contents": "read"})
    r = requests.post(f"{gh.api_url}/repos/{REPO}/check-runs", headers={"Authorization": f"token {read_checks}"},
                      json={"name": "meshdiff", "head_sha": gh.pull(REPO, 7)["head_sha"]})
    assert r.status_code == 403 and r.json()["message"] == "Resource not accessible by integration"
    assert r.headers["X-Accepted-GitHub-Permissions"] == "checks=write"
    # more than the installation was granted → 422
    jwt = _jwt(gh)
    r = requests.post(f"{gh.api_url}/app/installations/{INSTALLATION}/access_tokens",
                      headers={"Authorization": f"Bearer {jwt}"}, json={"permissions": {"administration": "write"}})
    assert r.status_code == 422
    r = requests.post(f"{gh.api_url}/app/installations/{INSTALLATION}/access_tokens",
                      headers={"Authorization": f"Bearer {jwt}"}, json={"repositories": ["nope"]})
    assert r.status_code == 422
    assert gh.violations == []


def test_jwt_rules(standin_github):
    gh = standin_github
    _seed(gh)
    url = f"{gh.api_url}/app"

    def get(token):
        return requests.get(url, headers={"Authorization": f"Bearer {token}"})

    assert get(_jwt(gh)).status_code == 200
    assert get(_jwt(gh, iss=gh.client_id)).status_code == 200  # client id as issuer
    too_long = get(_jwt(gh, iat_offset=0, exp_offset=700))  # exp - iat = 700 > 600
    assert too_long.status_code == 401
    assert "too far in the future" in too_long.json()["message"]
    assert get(_jwt(gh, iat_offset=-60, exp_offset=600)).status_code == 401  # exp - iat = 660
    assert get(_jwt(gh, iat_offset=-700, exp_offset=-120)).status_code == 401  # expired
    assert get(_jwt(gh, iss="999")).status_code == 401
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    assert get(_jwt(gh, key_pem=other_key)).status_code == 401
    hs256 = pyjwt.encode({"iat": int(time.time()), "exp": int(time.time()) + 60, "iss": str(gh.app_id)}, "x" * 32,
                         algorithm="HS256")
    assert get(hs256).status_code == 401
    # an installation token is not a JWT; a JWT is not an installation token
    token = _token(gh)
    assert requests.get(url, headers={"Authorization": f"token {token}"}).status_code == 401
    r = requests.get(f"{gh.api_url}/repos/{REPO}", headers={"Authorization": f"Bearer {_jwt(gh)}"})
    assert r.status_code == 401
    v = gh.take_violations()
    assert len(v) == 8 and any("too far in the future" in x for x in v), v


def test_repo_endpoints_require_installation_token(standin_github):
    gh = standin_github
    _seed(gh)
    gh.add_installation(202, "globex")
    gh.add_repo("globex/lake", {"a.sql": "select 1\n"})
    url = f"{gh.api_url}/repos/{REPO}/pulls/7"
    assert requests.get(url).status_code == 401
    bad = requests.get(url, headers={"Authorization": "token ghs_notissuedbythestandin"})
    assert bad.status_code == 401 and bad.json()["message"] == "Bad credentials"
    good = _token(gh)
    assert requests.get(url, headers={"Authorization": f"token {good}"}).status_code == 200
    assert requests.get(url, headers={"Authorization": f"Bearer {good}"}).status_code == 200
    # a token of installation 101 cannot see installation 202's repo
    assert requests.get(f"{gh.api_url}/repos/globex/lake", headers={"Authorization": f"token {good}"}).status_code == 404
    gh.expire_token(good)
    assert requests.get(url, headers={"Authorization": f"token {good}"}).status_code == 401
    revoked = _token(gh)
    assert requests.delete(f"{gh.api_url}/installation/token",
                           headers={"Authorization": f"token {revoked}"}).status_code == 204
    assert requests.get(url, headers={"Authorization": f"token {revoked}"}).status_code == 401
    auths = {r["auth"] for r in gh.requests}
    assert {"none", "invalid", "installation", "jwt"} <= auths


# --------------------------------------------------------------------------- repo data


def test_pull_request_files_and_contents(standin_github):
    gh = standin_github
    pr = _seed(gh)
    g = _gh(gh, _token(gh))
    repo = g.get_repo(REPO)
    assert repo.clone_url == f"{gh.web_url}/{REPO}.git"
    assert repo.html_url == f"{gh.web_url}/{REPO}"
    p = repo.get_pull(7)
    assert (p.number, p.head.sha, p.base.sha, p.head.ref, p.base.ref) == (
        7, pr["head_sha"], pr["base_sha"], "feature/orders", "main")
    assert p.user.login == "alice" and p.title == "Orders: add amount"
    assert p.html_url == f"{gh.web_url}/{REPO}/pull/7"
    assert p.head.repo.full_name == REPO
    files = {f.filename: f for f in p.get_files()}
    assert {k: f.status for k, f in files.items()} == {
        "README.md": "removed", "models/marts/customers.sql": "added", "models/marts/orders.sql": "modified"}
    assert files["models/marts/orders.sql"].patch.startswith("@@ -1 +1 @@")
    assert (p.additions, p.deletions, p.changed_files, p.commits) == (2, 2, 3, 1)
    assert p.mergeable is True and p.merge_commit_sha == gh.pull(REPO, 7)["merge_sha"]
    issue = repo.get_issue(7)  # the PR through the Issues API
    assert issue.pull_request is not None and issue.number == 7 and issue.user.login == "alice"

    c = repo.get_contents("models/marts/orders.sql", ref=pr["head_sha"])
    assert c.decoded_content == b"select id, 2 as amount from {{ ref('stg_orders') }}\n"
    assert c.encoding == "base64" and c.path == "models/marts/orders.sql"
    assert repo.get_contents("models/marts/orders.sql").decoded_content.startswith(b"select id from")  # default branch
    assert repo.get_contents("README.md", ref="main").decoded_content == b"# warehouse\n"
    assert repo.get_contents("models/marts/customers.sql", ref="refs/pull/7/head").size == len("select 1 as customer_id\n")
    with pytest.raises(GithubException) as e:
        repo.get_contents("README.md", ref="feature/orders")  # deleted on the branch
    assert e.value.status == 404
    listing = repo.get_contents("models", ref="feature/orders")
    assert sorted((x.name, x.type) for x in listing) == [("marts", "dir"), ("staging", "dir")]
    # GitHub wraps base64 at 60 characters
    raw = requests.get(f"{gh.api_url}/repos/{REPO}/contents/dbt_project.yml",
                       headers={"Authorization": f"token {_token(gh)}"}).json()
    assert all(len(line) <= 60 for line in raw["content"].splitlines())
    assert base64.b64decode(raw["content"]) == b"name: warehouse\nversion: '1.0'\n"
    r = requests.get(f"{gh.api_url}/repos/{REPO}/contents/dbt_project.yml",
                     headers={"Authorization": f"token {_token(gh)}", "Accept": "application/vnd.github.raw+json"})
    assert r.content == b"name: warehouse\nversion: '1.0'\n"
    assert gh.response_errors == []


def test_update_pull_moves_pull_ref_and_head(standin_github):
    gh = standin_github
    pr = _seed(gh)
    new = gh.commit(REPO, "feature/orders", {"models/marts/orders.sql": "select 3 as id\n"})
    assert gh.pull(REPO, 7)["head_sha"] == pr["head_sha"]  # not yet
    assert gh.update_pull(REPO, 7) == new
    g = _gh(gh, _token(gh))
    assert g.get_repo(REPO).get_pull(7).head.sha == new
    gh.commit(REPO, "develop", {"x.sql": "select 1\n"})
    gh.update_pull(REPO, 7, base_branch="develop")
    assert g.get_repo(REPO).get_pull(7).base.ref == "develop"
    # a conflicting base: no test merge, mergeable false (like GitHub)
    gh.commit(REPO, "develop", {"models/marts/orders.sql": "select 4 as id\n"})
    gh.update_pull(REPO, 7)
    assert gh.pull(REPO, 7)["merge_sha"] is None
    assert g.get_repo(REPO).get_pull(7).mergeable is False


# --------------------------------------------------------------------------- checks


def test_check_run_create_update_and_annotation_batches(standin_github):
    gh = standin_github
    pr = _seed(gh)
    repo = _gh(gh, _token(gh)).get_repo(REPO)
    run = repo.create_check_run(name="meshdiff/impact", head_sha=pr["head_sha"], status="in_progress",
                                external_id="job-1", output={"title": "Analysing", "summary": "…"})
    assert run.status == "in_progress" and run.conclusion is None
    assert run.url == f"{gh.api_url}/repos/{REPO}/check-runs/{run.id}"
    assert run.app.id == gh.app_id and [p.number for p in run.pull_requests] == [7]

    def ann(i):
        return {"path": "models/marts/orders.sql", "start_line": i + 1, "end_line": i + 1,
                "annotation_level": "warning", "message": f"column {i} changed", "title": "impact"}

    run.edit(output={"title": "Impact", "summary": "batch 1", "annotations": [ann(i) for i in range(50)]})
    run.edit(conclusion="failure", output={"title": "Impact", "summary": "2 breaking changes",
                                           "annotations": [ann(i) for i in range(50, 75)]},
             actions=[{"label": "Re-run", "description": "Run meshdiff again", "identifier": "rerun"}])
    assert run.status == "completed" and run.conclusion == "failure"
    [state] = gh.check_runs(REPO, head_sha=pr["head_sha"])
    assert state["status"] == "completed" and state["conclusion"] == "failure" and state["completed_at"]
    assert len(state["annotations"]) == 75 and state["output"]["annotations_count"] == 75
    assert state["output"]["summary"] == "2 breaking changes"
    assert state["actions"][0]["identifier"] == "rerun" and state["external_id"] == "job-1"
    got = repo.get_check_run(run.id)
    assert got.output.annotations_count == 75
    r = requests.get(f"{gh.api_url}/repos/{REPO}/commits/{pr['head_sha']}/check-runs",
                     params={"check_name": "meshdiff/impact"}, headers={"Authorization": f"token {_token(gh)}"})
    assert r.status_code == 200 and r.json()["total_count"] == 1
    assert r.json()["check_runs"][0]["id"] == run.id
    r = requests.get(f"{gh.api_url}/repos/{REPO}/commits/feature%2Forders/check-runs",
                     headers={"Authorization": f"token {_token(gh)}"})
    assert r.json()["total_count"] == 1  # ref may be a branch name
    assert gh.violations == [] and gh.response_errors == []


def test_bad_check_run_bodies_are_rejected_and_recorded(standin_github):
    gh = standin_github
    pr = _seed(gh)
    tok = _token(gh)
    url = f"{gh.api_url}/repos/{REPO}/check-runs"
    hdr = {"Authorization": f"token {tok}"}
    ok = {"name": "meshdiff", "head_sha": pr["head_sha"]}
    ann = {"path": "a.sql", "start_line": 1, "end_line": 1, "annotation_level": "notice", "message": "m"}
    cases = {
        "enum": ({**ok, "conclusion": "passed"}, "passed"),
        "maxItems": ({**ok, "output": {"title": "t", "summary": "s", "annotations": [ann] * 51}}, "annotations"),
        "unknown key": ({**ok, "conclsion": "success"}, "conclsion"),
        "nested unknown key": ({**ok, "output": {"title": "t", "summary": "s", "annotations": [{**ann, "lvl": 1}]}},
                               "lvl"),
        "unknown key in actions": ({**ok, "actions": [{"label": "a", "description": "d", "identifier": "i",
                                                       "icon": "x"}]}, "icon"),
        "maxLength": ({**ok, "output": {"title": "t", "summary": "x" * 70_000}}, "summary"),
        "missing required": ({"name": "meshdiff"}, "head_sha"),
        "completed without conclusion": ({**ok, "status": "completed"}, "conclusion"),
        "columns across lines": ({**ok, "output": {"title": "t", "summary": "s", "annotations": [
            {**ann, "end_line": 3, "start_column": 1, "end_column": 2}]}}, "start_column"),
    }
    for name, (body, needle) in cases.items():
        r = requests.post(url, headers=hdr, json=body)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["documentation_url"].startswith("https://docs.github.com/rest"), name
        v = gh.take_violations()
        assert v and any(needle in x for x in v), (name, v)
    # PATCH is validated too (anyOf: completed requires conclusion)
    r = requests.post(url, headers=hdr, json=ok)
    assert r.status_code == 201
    r = requests.patch(f"{url}/{r.json()['id']}", headers=hdr, json={"status": "completed"})
    assert r.status_code == 422 and gh.take_violations()
    # wrong path (singular `issue`) → 404 + recorded
    r = requests.post(f"{gh.api_url}/repos/{REPO}/issue/7/comments", headers=hdr, json={"body": "x"})
    assert r.status_code == 404 and r.json()["message"] == "Not Found"
    [v] = gh.take_violations()
    assert "/issue/7/comments" in v and "no such route" in v
    # an endpoint GitHub has but the stand-in does not serve says so
    r = requests.get(f"{gh.api_url}/repos/{REPO}/branches", headers=hdr)
    assert r.status_code == 404
    [v] = gh.take_violations()
    assert "GitHub has GET /repos/{owner}/{repo}/branches" in v
    # nothing was created by the rejected requests
    assert len(gh.check_runs(REPO)) == 1
    assert [r["status"] for r in gh.requests if r["operation"] == "checks/create"].count(422) == len(cases)


def test_pygithub_sees_422_for_a_bad_conclusion(standin_github):
    gh = standin_github
    pr = _seed(gh)
    repo = _gh(gh, _token(gh)).get_repo(REPO)
    with pytest.raises(GithubException) as e:
        repo.create_check_run(name="meshdiff", head_sha=pr["head_sha"], conclusion="passed")
    assert e.value.status == 422 and "Invalid request" in e.value.data["message"]
    assert gh.take_violations()


# --------------------------------------------------------------------------- comments


def test_comments_create_edit_and_paginate_over_100(standin_github):
    gh = standin_github
    _seed(gh)
    for i in range(120):
        gh.add_comment(REPO, 7, f"human comment {i}", user="bob" if i % 2 else "alice")
    g = _gh(gh, _token(gh), per_page=100)
    pr = g.get_repo(REPO).get_pull(7)
    sticky = pr.create_issue_comment("<!-- meshdiff -->\nfirst")
    assert sticky.user.login == "meshdiff[bot]" and sticky.user.type == "Bot"
    assert sticky.html_url == f"{gh.web_url}/{REPO}/pull/7#issuecomment-{sticky.id}"
    assert sticky.performed_via_github_app.slug == "meshdiff"
    comments = list(pr.get_issue_comments())
    assert len(comments) == 121
    found = [c for c in comments if c.user.login == "meshdiff[bot]" and "<!-- meshdiff -->" in c.body]
    assert [c.id for c in found] == [sticky.id]
    found[0].edit("<!-- meshdiff -->\nsecond")
    pr.get_issue_comment(sticky.id).edit("<!-- meshdiff -->\nthird")
    state = [c for c in gh.comments(REPO, 7) if c["user"] == "meshdiff[bot]"]
    assert len(state) == 1 and state[0]["edit_count"] == 2 and state[0]["body"].endswith("third")
    pages = [r for r in gh.requests if r["operation"] == "issues/list-comments"]
    assert [r["query"].get("page") for r in pages] == [None, "2"]
    # Link header like GitHub's
    r = requests.get(f"{gh.api_url}/repos/{REPO}/issues/7/comments", params={"per_page": 50, "page": 2},
                     headers={"Authorization": f"token {_token(gh)}"})
    links = requests.utils.parse_header_links(r.headers["Link"])
    rel = {link["rel"]: link["url"] for link in links}
    assert set(rel) == {"prev", "next", "last", "first"}
    assert rel["next"] == f"{gh.api_url}/repos/{REPO}/issues/7/comments?per_page=50&page=3"
    assert rel["last"].endswith("page=3") and len(r.json()) == 50
    # editing someone else's comment is refused
    human = gh.comments(REPO, 7)[0]["id"]
    with pytest.raises(GithubException):
        pr.get_issue_comment(human).edit("hijack")
    assert gh.take_violations()


def test_comment_body_limit_and_reactions_and_permission(standin_github):
    gh = standin_github
    _seed(gh)
    gh.set_permission(REPO, "carol", "write")
    gh.set_permission(REPO, "dave", "triage")
    g = _gh(gh, _token(gh))
    repo = g.get_repo(REPO)
    pr = repo.get_pull(7)
    with pytest.raises(GithubException) as e:
        pr.create_issue_comment("x" * 65_537)
    assert e.value.status == 422
    assert e.value.data["errors"][0]["message"] == "Body is too long (maximum is 65536 characters)"
    assert any("Body is too long" in v for v in gh.take_violations())
    ok = pr.create_issue_comment("é" * 65_536)  # characters, not bytes
    assert ok.create_reaction("eyes").content == "eyes"
    assert gh.comments(REPO, 7)[0]["reactions"] == ["eyes"]
    assert repo.get_collaborator_permission("carol") == "write"
    assert repo.get_collaborator_permission("dave") == "read"  # triage → read, role_name triage
    assert repo.get_collaborator_permission("mallory") == "none"
    assert repo.get_collaborator_permission("acme") == "admin"  # owner
    r = requests.get(f"{gh.api_url}/repos/{REPO}/collaborators/dave/permission",
                     headers={"Authorization": f"token {_token(gh)}"})
    assert r.json()["role_name"] == "triage"
    assert g.get_rate_limit().resources.core.limit == 5000


def test_review_requests_as_github_answers_them(standin_github):
    """POST .../requested_reviewers (pulls/request-reviewers): pull_requests write; the PR's author
    or anyone without access is refused with 422 and nobody is asked; the answer is the PR
    (pull-request-simple, checked against the schema) with its requested reviewers and teams."""
    gh = standin_github
    _seed(gh)
    gh.set_permission(REPO, "carol", "write")
    gh.set_permission(REPO, "dave", "read")
    gh.add_team(REPO, "finance")
    pr = _gh(gh, _token(gh)).get_repo(REPO).get_pull(7)
    for users, teams in ((["alice"], []), (["carol", "mallory"], []), ([], ["strangers"])):
        with pytest.raises(GithubException) as e:
            pr.create_review_request(reviewers=users, team_reviewers=teams)
        assert e.value.status == 422
    assert gh.review_requests(REPO, 7) == ([], [])
    pr.create_review_request(reviewers=["carol", "dave"], team_reviewers=["finance"])
    pr.create_review_request(reviewers=["Carol"], team_reviewers=["finance"])  # asked once
    assert gh.review_requests(REPO, 7) == (["carol", "dave"], ["finance"])
    again = _gh(gh, _token(gh)).get_repo(REPO).get_pull(7)
    assert [u.login for u in again.requested_reviewers] == ["carol", "dave"]
    assert [t["slug"] for t in again.raw_data["requested_teams"]] == ["finance"]
    read_only = _gh(gh, _token(gh, permissions={"pull_requests": "read"})).get_repo(REPO).get_pull(7)
    with pytest.raises(GithubException) as e:
        read_only.create_review_request(reviewers=["carol"])
    assert e.value.status == 403
    assert gh.take_violations() == []


# --------------------------------------------------------------------------- failure injection


def test_fail_next_injects_502_429_403(standin_github):
    gh = standin_github
    _seed(gh)
    tok = _token(gh)
    hdr = {"Authorization": f"token {tok}"}
    url = f"{gh.api_url}/repos/{REPO}/pulls/7"
    gh.fail_next("GET", r"/pulls/\d+$", 502)
    gh.fail_next("get", r"^/repos/.+/pulls/7$", 429, headers={"retry-after": "1"})
    gh.fail_next("*", r"/pulls/7", 403, headers={"retry-after": "1"})
    r1, r2, r3, r4 = (requests.get(url, headers=hdr) for _ in range(4))
    assert r1.status_code == 502 and r1.json()["message"] == "Server Error"
    assert r2.status_code == 429 and r2.headers["retry-after"] == "1"
    assert r3.status_code == 403 and "secondary rate limit" in r3.json()["message"]
    assert r4.status_code == 200
    injected = [r for r in gh.requests if r["injected"]]
    assert [r["status"] for r in injected] == [502, 429, 403]
    # 422 with a custom body, twice
    gh.fail_next("POST", r"/issues/7/comments$", 422, body={"message": "Validation Failed", "errors": []}, times=2)
    for _ in range(2):
        assert requests.post(f"{url.rsplit('/pulls', 1)[0]}/issues/7/comments", headers=hdr,
                             json={"body": "x"}).status_code == 422
    assert gh.comments(REPO, 7) == []


def test_pygithub_retries_injected_failures(standin_github):
    gh = standin_github
    _seed(gh)
    g = _gh(gh, _token(gh))  # default GithubRetry: 5xx, and 403 with Retry-After
    gh.fail_next("GET", r"/pulls/7$", 502)
    gh.fail_next("GET", r"/pulls/7$", 403, headers={"Retry-After": "1"})
    t0 = time.monotonic()
    assert g.get_repo(REPO).get_pull(7).number == 7
    assert time.monotonic() - t0 >= 1  # honoured retry-after
    assert [r["status"] for r in gh.requests if r["operation"] == "pulls/get"] == [502, 403, 200]
    # a POST that succeeded server-side but answered 502 is retried by PyGithub → duplicate comment
    gh.fail_next("POST", r"/issues/7/comments$", 502, after=True)
    g.get_repo(REPO).get_pull(7).create_issue_comment("not idempotent")
    assert [c["body"] for c in gh.comments(REPO, 7)] == ["not idempotent", "not idempotent"]


# --------------------------------------------------------------------------- git


def _git(*args, cwd=None, check=True):
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd or "/tmp"), "GIT_TERMINAL_PROMPT": "0",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LANG": "C"}
    return subprocess.run(["git", "-c", "credential.helper=", "-c", "protocol.version=2", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=check, timeout=600)  # a hang guard, not a speed limit


def test_git_clone_and_fetch_pull_ref(standin_github, tmp_path):
    gh = standin_github
    pr = _seed(gh)
    tok = _token(gh)
    dest = tmp_path / "clone"
    _git("clone", "--quiet", gh.clone_url(REPO, tok), str(dest))
    assert (dest / "models/marts/orders.sql").read_text().startswith("select id from")
    assert _git("rev-parse", "HEAD", cwd=dest).stdout.strip() == pr["base_sha"]
    assert _git("symbolic-ref", "refs/remotes/origin/HEAD", cwd=dest).stdout.strip() == "refs/remotes/origin/main"
    _git("fetch", "--quiet", "origin", "refs/pull/7/head", cwd=dest)
    assert _git("rev-parse", "FETCH_HEAD", cwd=dest).stdout.strip() == pr["head_sha"]
    _git("fetch", "--quiet", "--depth=1", "origin", pr["head_sha"], cwd=dest)  # by sha, shallow
    _git("fetch", "--quiet", "origin", "refs/pull/7/merge", cwd=dest)  # GitHub's test merge
    merge = _git("rev-parse", "FETCH_HEAD^1", "FETCH_HEAD^2", cwd=dest).stdout.split()
    assert merge == [pr["base_sha"], pr["head_sha"]] and gh.pull(REPO, 7)["merge_sha"]
    git_reqs = [r for r in gh.requests if r["kind"] == "git"]
    assert {r["status"] for r in git_reqs} <= {200, 401}
    assert any(r["git_protocol"] == "version=2" for r in git_reqs)
    assert all(r["auth"] == "basic" for r in git_reqs if r["status"] == 200)

    bad = _git("clone", "--quiet", gh.clone_url(REPO, "ghs_wrong"), str(tmp_path / "bad"), check=False)
    assert bad.returncode != 0 and "Authentication failed" in bad.stderr
    anon = _git("clone", "--quiet", f"{gh.web_url}/{REPO}.git", str(tmp_path / "anon"), check=False)
    assert anon.returncode != 0
    r = requests.get(f"{gh.web_url}/{REPO}.git/info/refs", params={"service": "git-upload-pack"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="GitHub"'
    r = requests.get(f"{gh.web_url}/{REPO}.git/info/refs", params={"service": "git-receive-pack"},
                     auth=("x-access-token", tok))
    assert r.status_code == 403  # no pushes
    # a token scoped to another repo cannot clone this one
    gh.add_repo("acme/other", {"x": "y"})
    other = _token(gh, repositories=["other"])
    assert _git("ls-remote", gh.clone_url(REPO, other), check=False).returncode != 0
    assert gh.violations == []


# --------------------------------------------------------------------------- cross-process + concurrency


def test_usable_from_another_process_and_threads(standin_github):
    gh = standin_github
    _seed(gh)
    tok = _token(gh)
    code = (
        "import sys\n"
        "from github import Github, Auth\n"
        "g = Github(base_url=sys.argv[1], auth=Auth.Token(sys.argv[2]), seconds_between_writes=0)\n"
        "g.get_repo('acme/warehouse').get_pull(7).create_issue_comment('from a worker process')\n"
    )
    subprocess.run([sys.executable, "-c", code, gh.api_url, tok], check=True, timeout=600)  # hang guard
    assert [c["body"] for c in gh.comments(REPO, 7)] == ["from a worker process"]

    def post(i):
        return requests.post(f"{gh.api_url}/repos/{REPO}/issues/7/comments", json={"body": f"c{i}"},
                             headers={"Authorization": f"token {tok}"}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(post, range(24))) == {201}
    ids = [c["id"] for c in gh.comments(REPO, 7)]
    assert len(ids) == 25 == len(set(ids))


def test_etag_conditional_request(standin_github):
    gh = standin_github
    _seed(gh)
    hdr = {"Authorization": f"token {_token(gh)}"}
    r = requests.get(f"{gh.api_url}/repos/{REPO}/pulls/7", headers=hdr)
    r2 = requests.get(f"{gh.api_url}/repos/{REPO}/pulls/7", headers={**hdr, "If-None-Match": r.headers["ETag"]})
    assert r2.status_code == 304 and r2.content == b""
    assert int(r.headers["X-RateLimit-Remaining"]) < 5000


def test_unsupported_api_version_is_rejected(standin_github):
    gh = standin_github
    _seed(gh)
    hdr = {"Authorization": f"token {_token(gh)}"}
    assert requests.get(f"{gh.api_url}/repos/{REPO}", headers={**hdr, "X-GitHub-Api-Version": "2022-11-28"}).ok
    r = requests.get(f"{gh.api_url}/repos/{REPO}", headers={**hdr, "X-GitHub-Api-Version": "2099-01-01"})
    assert r.status_code == 400 and gh.take_violations()


# --------------------------------------------------------------------------- webhooks


def test_hmac_test_vector():
    assert webhooks.sign(b"Hello, World!", "It's a Secret to Everybody") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


def test_webhook_examples_load_and_adapt():
    raw = webhooks.load_example("pull_request", "opened")
    assert raw["installation"]["id"] == 1 and raw["repository"]["full_name"] == "Codertocat/Hello-World"
    assert webhooks.variants("pull_request", "opened") == [
        "plain", "with-installation", "with-installation", "with-installation-and-organization"]
    assert "installation" not in webhooks.load_example("pull_request", "opened", variant="plain")
    with pytest.raises(KeyError, match="pull_request_edited"):
        webhooks.load_example("pull_request", "edited")

    p = webhooks.adapt(raw, repo_full_name="acme/warehouse", installation_id=101, pr_number=7, head_sha="a" * 40,
                       base_sha="b" * 40, head_ref="feature/orders", base_ref="main", sender_login="alice",
                       repo_id=555)
    assert p["installation"]["id"] == 101 and p["number"] == 7
    pr = p["pull_request"]
    assert (pr["number"], pr["head"]["sha"], pr["base"]["sha"], pr["head"]["ref"], pr["base"]["ref"]) == (
        7, "a" * 40, "b" * 40, "feature/orders", "main")
    assert pr["head"]["label"] == "acme:feature/orders"
    assert pr["url"] == "https://api.github.com/repos/acme/warehouse/pulls/7"
    assert pr["html_url"] == "https://github.com/acme/warehouse/pull/7"
    assert pr["statuses_url"].endswith("/statuses/" + "a" * 40)
    assert p["repository"]["full_name"] == "acme/warehouse" and p["repository"]["id"] == 555
    assert p["repository"]["owner"]["login"] == "acme"
    assert pr["base"]["repo"]["id"] == 555 and pr["head"]["repo"]["name"] == "warehouse"
    assert p["sender"]["login"] == "alice" and p["sender"]["url"].endswith("/users/alice")
    # everything else as in the real example
    for key in ("title", "body", "created_at", "draft", "merged", "mergeable", "author_association", "assignees"):
        assert pr[key] == raw["pull_request"][key], key
    assert [x["name"] for x in pr["labels"]] == [x["name"] for x in raw["pull_request"]["labels"]]
    assert "Codertocat/Hello-World" not in json.dumps(p)

    def shape(o, prefix=""):
        if isinstance(o, dict):
            return {prefix + "/" + k for k in o} | set().union(*(shape(v, prefix + "/" + k) for k, v in o.items()))
        return set()

    assert shape(p) == shape(raw)  # same structure: only values were rewritten
    assert raw["repository"]["full_name"] == "Codertocat/Hello-World"  # input untouched

    sync = webhooks.adapt(webhooks.load_example("pull_request", "synchronize"), repo_full_name="acme/warehouse",
                          installation_id=101, pr_number=7, head_sha="c" * 40, before="a" * 40)
    assert (sync["before"], sync["after"]) == ("a" * 40, "c" * 40)

    edited = webhooks.pull_request_edited(base_ref_from="develop", base_sha_from="d" * 40,
                                          repo_full_name="acme/warehouse", installation_id=101, pr_number=7,
                                          base_ref="main", base_sha="b" * 40)
    assert edited["action"] == "edited" and list(edited)[:3] == ["action", "number", "changes"]
    assert edited["changes"] == {"base": {"ref": {"from": "develop"}, "sha": {"from": "d" * 40}}}
    assert edited["pull_request"]["base"]["ref"] == "main" and edited["installation"]["id"] == 101

    cmt = webhooks.adapt(webhooks.load_example("issue_comment", "created"), repo_full_name="acme/warehouse",
                         installation_id=101, pr_number=7, sender_login="carol", comment_body="/meshdiff rerun",
                         api_url="http://127.0.0.1:1/api/v3", web_url="http://127.0.0.1:1")
    assert cmt["comment"]["body"] == "/meshdiff rerun" and cmt["comment"]["user"]["login"] == "carol"
    assert cmt["issue"]["number"] == 7 and cmt["issue"]["pull_request"]["url"].endswith("/pulls/7")
    assert cmt["issue"]["pull_request"]["url"].startswith("http://127.0.0.1:1/api/v3/repos/acme/warehouse")
    assert "api.github.com" not in json.dumps(cmt)

    rr = webhooks.adapt(webhooks.load_example("check_run", "rerequested"), repo_full_name="acme/warehouse",
                        installation_id=101, head_sha="e" * 40, check_run_id=99, app_id=4242)
    assert rr["check_run"]["head_sha"] == "e" * 40 and rr["check_run"]["id"] == 99
    assert rr["check_run"]["app"]["id"] == 4242 and rr["check_run"]["pull_requests"] == []  # fork-like, as upstream
    assert rr["check_run"]["url"].endswith("/repos/acme/warehouse/check-runs/99")


def test_webhook_headers_and_delivery():
    payload = webhooks.load_example("ping")
    body, h = webhooks.delivery("ping", payload, "s3cret", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert json.loads(body) == payload
    assert h["X-GitHub-Event"] == "ping"
    assert h["X-GitHub-Delivery"] == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    assert h["X-Hub-Signature-256"] == webhooks.sign(body, "s3cret")
    assert h["X-Hub-Signature"].startswith("sha1=")
    assert h["User-Agent"].startswith("GitHub-Hookshot/")
    assert h["Content-Type"] == "application/json"
    assert {"X-GitHub-Hook-ID", "X-GitHub-Hook-Installation-Target-ID",
            "X-GitHub-Hook-Installation-Target-Type"} <= set(h)
    h2 = webhooks.headers("pull_request", body, "s3cret")
    assert h2["X-GitHub-Delivery"] != h["X-GitHub-Delivery"]
    assert "X-Hub-Signature-256" not in webhooks.headers("ping", body, None)


def test_event_payload_from_standin_state(standin_github):
    gh = standin_github
    pr = _seed(gh)
    p = gh.event_payload("pull_request", "opened", REPO, number=7, sender="alice")
    assert p["installation"]["id"] == INSTALLATION and p["repository"]["id"] == gh.repos[REPO].id
    assert p["pull_request"]["head"]["sha"] == pr["head_sha"]
    assert p["repository"]["clone_url"] == f"{gh.web_url}/{REPO}.git"
    e = gh.event_payload("pull_request", "edited", REPO, number=7, base_ref_from="develop", base_sha_from="f" * 40)
    assert e["changes"]["base"]["ref"]["from"] == "develop"
    c = gh.event_payload("check_run", "requested_action", REPO, number=7, requested_action="rerun")
    assert c["requested_action"] == {"identifier": "rerun"} and c["check_run"]["app"]["id"] == gh.app_id
    assert c["check_run"]["pull_requests"][0]["number"] == 7


def test_list_installations_needs_the_app_jwt(standin_github):
    from github import Auth, GithubIntegration

    gh = standin_github
    gh.add_installation(7, "acme")
    gh.add_installation(8, "octo-org")
    integration = GithubIntegration(auth=Auth.AppAuth(gh.app_id, gh.private_key_pem), base_url=gh.api_url)
    assert [i.id for i in integration.get_installations()] == [7, 8]
    token = gh.issue_token(7)
    r = requests.get(f"{gh.api_url}/app/installations", headers={"Authorization": f"token {token}"})
    assert r.status_code == 401
    assert gh.take_violations()  # an installation token is a contract violation there
