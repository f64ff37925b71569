"""Where the host cannot make the sandbox: the App fails closed (the check run's report says what
the host lacks and how to provide it) unless ``MESHDIFF_SANDBOX=off``; the CLI says once that it
runs unsandboxed and goes on, or with ``--sandbox required`` refuses (exit 2)."""
import os

import pytest

from analysis.dbt import sandbox
from analysis.report import Report
from bot.cli import main
from bot.github.client import make_github
from bot.jobs.runner import PullInfo, run_job
from tests.app_fixtures import standin_github, standin_openapi  # noqa: F401

SHOP = "octo-org/shop-dbt"
PROJECT = {"shop/dbt_project.yml": "name: shop\nprofile: shop\nconfig-version: 2\nversion: '1.0'\n",
           "shop/models/orders.sql": "select 1 as amount\n"}


@pytest.fixture
def no_bwrap(monkeypatch):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    sandbox.probe(refresh=True)
    yield
    monkeypatch.undo()
    sandbox.probe(refresh=True)


@pytest.fixture
def job(standin_github, monkeypatch, tmp_path):
    gh = standin_github
    gh.add_installation(71, "octo-org")
    requests = []

    def fake_analyze(req):
        requests.append(req)
        return Report(changed_project="shop", base=req.base, head=req.head)

    monkeypatch.setattr("analysis.pipeline.analyze", fake_analyze)

    def run():
        gh.add_repo(SHOP, PROJECT)
        head = gh.commit(SHOP, "feat", {"shop/models/orders.sql": "select 2 as amount\n"})
        pr = gh.open_pull(SHOP, 1, head_branch="feat")
        token = gh.issue_token(71)
        return run_job(gh=make_github(token, gh.api_url, seconds_between_writes=0), token=token,
                       pull=PullInfo(SHOP, 1, "main", pr["base_sha"], "feat", head), web_url=gh.web_url,
                       work_dir=str(tmp_path / "work"))

    return run, requests


def test_the_app_fails_closed_and_says_what_the_host_lacks(job, no_bwrap, monkeypatch):
    monkeypatch.delenv("MESHDIFF_SANDBOX", raising=False)
    run, requests = job
    result = run()
    assert requests == []  # nothing of the PR was compiled
    [report] = result.reports
    assert report.conclusion == "failure"
    [error] = report.errors
    assert "did not compile the project's code" in error and "bubblewrap (bwrap) is not installed" in error
    assert "apt-get install bubblewrap" in error and "MESHDIFF_SANDBOX=off" in error and "unsafe" in error


def test_the_app_runs_unsandboxed_only_when_the_operator_says_so(job, no_bwrap, monkeypatch):
    monkeypatch.setenv("MESHDIFF_SANDBOX", "off")
    run, requests = job
    run()
    [req] = requests
    assert req.sandbox.policy == "off"


def test_the_app_requires_the_sandbox_and_names_the_checkouts_it_may_read(job, monkeypatch):
    monkeypatch.delenv("MESHDIFF_SANDBOX", raising=False)
    run, requests = job
    run()
    [req] = requests
    assert req.sandbox.policy == "required"
    assert req.changed.path == os.path.join(req.changed.root, "shop") and req.changed.root.endswith("head")
    assert req.base_path == os.path.join(req.base_root, "shop") and req.base_root.endswith("base")


def test_the_cli_refuses_with_sandbox_required(no_bwrap, tmp_path, capsys):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "dbt_project.yml").write_text("name: p\n")
    code = main(["lineage", "--project", str(tmp_path / "p"), "--sandbox", "required",
                 "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert code == 2
    assert "did not compile the project's code" in err and "bubblewrap (bwrap) is not installed" in err
    assert "--sandbox auto" in err


@pytest.mark.dbt
def test_the_cli_warns_once_and_goes_on_unsandboxed(no_bwrap, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sandbox, "_warned", set())
    project = tmp_path / "p"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: p\nprofile: p\nconfig-version: 2\nversion: '1.0'\n")
    (project / "models" / "a.sql").write_text("select 1 as x\n")
    (project / "models" / "b.sql").write_text("select x from {{ ref('a') }}\n")
    code = main(["lineage", "--project", str(project), "--format", "json", "--cache-dir", str(tmp_path / "cache")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err.count("UNSANDBOXED") == 1 and "bubblewrap (bwrap) is not installed" in err
    assert "model.p.b" in out
