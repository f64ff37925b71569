"""The job runner against the stand-in GitHub (real git over smart HTTP, contents API); the
pipeline's ``analyze`` is captured here so the AnalysisRequest it gets can be checked
(tests/test_e2e_app.py runs the real pipeline)."""
import os

import pytest

from analysis.report import Report
from bot.github.client import make_github
from bot.jobs.runner import JobResult, PullInfo, run_job
from tests.app_fixtures import standin_github, standin_openapi  # noqa: F401

SHOP, FIN = "octo-org/shop-dbt", "octo-org/finance-dbt"
PROJECT = {"shop/dbt_project.yml": "name: shop\nprofile: shop\nconfig-version: 2\n",
           "shop/models/orders.sql": "select 1 as amount\n",
           "shop/models/_models.yml": "models:\n  - name: orders\n"}


@pytest.fixture
def env(standin_github, monkeypatch, tmp_path):
    gh = standin_github
    gh.add_installation(71, "octo-org")
    requests = []

    def fake_analyze(req):
        req.seen = {d.path: sorted(os.listdir(d.path)) for d in [req.changed, *req.downstream]}
        requests.append(req)
        return Report(changed_project="shop", base=req.base, head=req.head)

    monkeypatch.setattr("analysis.pipeline.analyze", fake_analyze)

    def run(files, change, *, number=1):
        gh.add_repo(SHOP, files)
        head = gh.commit(SHOP, "feat", change)
        pr = gh.open_pull(SHOP, number, head_branch="feat")
        token = gh.issue_token(71)
        pull = PullInfo(SHOP, number, "main", pr["base_sha"], "feat", head)
        return run_job(gh=make_github(token, gh.api_url, seconds_between_writes=0), token=token, pull=pull,
                       web_url=gh.web_url, work_dir=str(tmp_path / "work"))

    return gh, run, requests


def test_multi_repo_request(env, tmp_path):
    gh, run, requests = env
    gh.add_repo(FIN, {"finance/dbt_project.yml": "name: finance\n", "finance/models/rev.sql": "select 1\n"})
    cfg = (".meshdiff.yml", f"projects: [{{path: shop, dialect: duckdb, target: prod}}]\ndownstream:\n"
                            f"  - {{repo: {FIN}, path: finance, target: ci}}\npolicy: {{fail_on: [breaking]}}\n")
    result = run({**PROJECT, cfg[0]: cfg[1]}, {"shop/models/orders.sql": "select 1 as amount\n-- x\n"})
    assert isinstance(result, JobResult) and result.nothing is None and len(result.reports) == 1
    [req] = requests
    assert req.changed.path.endswith(os.path.join("head", "shop")) and req.changed.dialect == "duckdb"
    assert req.changed.target == "prod" and [d.target for d in req.downstream] == ["ci"]
    assert req.base_path.endswith(os.path.join("base", "shop")) and req.repo_subdir == "shop"
    assert [os.path.basename(d.path) for d in req.downstream] == ["finance"] and req.upstream == []
    assert req.seen[req.downstream[0].path] == ["dbt_project.yml", "models"]
    assert req.seen[req.changed.path] == ["dbt_project.yml", "models"]
    assert req.policy.fail_on == frozenset({"breaking"})
    assert req.base.ref == "main" and req.head.ref == "feat"
    assert not os.path.exists(tmp_path / "work") or os.listdir(tmp_path / "work") == []  # workspace removed


def test_missing_downstream_repo_fails_with_instructions(env):
    gh, run, requests = env
    cfg = "projects: [shop]\ndownstream:\n  - {repo: octo-org/nowhere, path: finance}\n"
    result = run({**PROJECT, ".meshdiff.yml": cfg}, {"shop/models/orders.sql": "select 2 as amount\n"})
    [report] = result.reports
    assert report.conclusion == "failure"
    assert "octo-org/nowhere" in report.errors[0] and "install the App" in report.errors[0]


def test_discovery_and_nothing_to_analyse(env):
    gh, run, requests = env
    result = run(PROJECT, {"README.md": "docs\n"})
    assert result.reports == [] and "changes no file of the dbt project(s) `shop`" in result.nothing
    assert requests == []


def test_no_project_at_all(env):
    gh, run, requests = env
    result = run({"README.md": "x\n"}, {"README.md": "y\n"})
    assert result.nothing.startswith("No dbt project found") and requests == []


def test_invalid_config_blocks_with_file_and_key(env):
    gh, run, requests = env
    result = run({**PROJECT, ".meshdiff.yml": "projects:\n  - pth: shop\n"}, {"shop/models/orders.sql": "x\n"})
    [report] = result.reports
    assert report.conclusion == "failure" and "projects[0].pth" in report.errors[0]
    assert ".meshdiff.yml" in report.errors[0] and requests == []


def test_org_defaults_from_dot_github(env):
    gh, run, requests = env
    gh.add_repo("octo-org/.github", {".meshdiff.yml": "policy: {fail_on: [breaking, changed, unknown]}\n"})
    run(PROJECT, {"shop/models/orders.sql": "select 3 as amount\n"})
    [req] = requests
    assert req.policy.fail_on == frozenset({"breaking", "changed", "unknown"})


def test_org_defaults_unreadable_403_is_noted(env):
    gh, run, requests = env
    gh.add_repo("octo-org/.github", {".meshdiff.yml": "policy: {fail_on: [breaking, changed, unknown]}\n"})
    gh.fail_next("GET", r"/repos/octo-org/\.github/contents/", 403,
                 body={"message": "Resource not accessible by integration",
                       "documentation_url": "https://docs.github.com/rest", "status": "403"})
    result = run(PROJECT, {"shop/models/orders.sql": "select 4 as amount\n"})
    [req] = requests
    assert req.policy.fail_on == frozenset({"breaking", "unknown"})  # the defaults could not apply...
    assert any("`octo-org/.github` answered 403" in n for n in result.notes)  # ...and the comment says so


def test_config_change_in_pr_applies_after_merge(env):
    gh, run, requests = env
    result = run({**PROJECT, ".meshdiff.yml": "projects: [shop]\n"},
                 {".meshdiff.yml": "projects: [shop]\npolicy: {fail_on: []}\n", "shop/models/orders.sql": "x\n"})
    [req] = requests
    assert req.policy.fail_on == frozenset({"breaking", "unknown"})  # the base's (default) policy
    assert any("applies until it is merged" in n for n in result.notes)
