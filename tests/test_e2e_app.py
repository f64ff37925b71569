"""End to end: the web process under gunicorn as the README runs it, a real Redis (the test
session's own redis-server), a real Celery worker process, the stand-in GitHub (REST validated
against GitHub's OpenAPI + git over smart HTTP) and the REAL pipeline (dbt compiles) on the
example mesh in three repositories (``tests.app_rig``).

The scenarios share one worker and run in order (later ones reuse the compile cache).
"""
from __future__ import annotations

import os
import time

import pytest

from bot.celeryapp import QUEUE
from tests.app_fixtures import TEST_SECRET, adapt_event, redis_url  # noqa: F401
from tests.app_rig import (INSTALLATION, ORDERS_SQL, SHOP, Rig, breaking_change, safe_change, wait_for)
from tests.standin import webhooks as wh

pytestmark = [pytest.mark.e2e, pytest.mark.dbt]

#: how long a wait may take before the test gives up (with the worker's log): an analysis compiles
#: six projects, each some seconds idle and many more on a busy machine; generous, not a speed limit
WAIT_S = 1200


class Mesh:
    """The running system (``tests.app_rig.Rig``: gunicorn, a worker) and helpers to drive it."""

    def __init__(self, rig: Rig, **worker_env):
        self.rig, self.gh, self.state = rig, rig.gh, rig.state
        self.worker = rig.start_worker("e2e@%h", **worker_env)
        rig.start_web()

    def deliver(self, event: str, payload: dict, *, delivery: str | None = None, secret: str = TEST_SECRET):
        status, body, headers = wh.deliver(self.rig.hook_url, event, payload, secret, delivery)
        return status, headers["X-GitHub-Delivery"]

    def pr_event(self, action: str, number: int) -> dict:
        return self.rig.pr_event(action, number)

    def open_pr(self, number: int, branch: str, changes: dict[str, str]) -> dict:
        return self.rig.open_pr(number, branch, changes)

    def completed(self, sha: str) -> list[dict]:
        return self.rig.completed(sha)

    def wait_completed(self, sha: str, n: int = 1) -> list[dict]:
        return wait_for(lambda: (lambda runs: runs if len(runs) >= n else None)(self.completed(sha)),
                        f"{n} completed check run(s) on {sha[:7]}", WAIT_S, procs=[self.worker], fail=pytest.fail)

    def bot_comments(self, number: int) -> list[dict]:
        return self.rig.bot_comments(number)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, redis_url):
    rig = Rig(tmp_path_factory.mktemp("e2e"), redis_url=redis_url)
    rig.state.r.flushdb()
    try:
        yield Mesh(rig)
    finally:
        rig.stop()
        rig.state.r.flushdb()
    assert rig.gh.violations == [], "requests broke GitHub's contract:\n" + "\n".join(rig.gh.violations)


def test_bad_signature_is_401_and_enqueues_nothing(mesh):
    mesh.gh.commit(SHOP, "unsigned", {"shop/README.md": "x\n"})
    mesh.gh.open_pull(SHOP, 9, head_branch="unsigned")
    before = len(mesh.gh.requests)
    status, _ = mesh.deliver("pull_request", mesh.pr_event("opened", 9), secret="not the secret")
    assert status == 401
    status, _ = mesh.deliver("pull_request", mesh.pr_event("opened", 9), secret="")
    assert status == 401
    time.sleep(2)
    assert mesh.state.r.llen(QUEUE) == 0
    assert mesh.gh.requests[before:] == [] and mesh.gh.check_runs(SHOP) == []


def test_breaking_pr_fails_with_one_comment_naming_downstream_nodes(mesh):
    # who may review in shop-dbt: finance's team and the person finance-dbt's CODEOWNERS names
    mesh.gh.add_team(SHOP, "finance-analytics")
    mesh.gh.set_permission(SHOP, "finance-lead", "write")
    pr = mesh.open_pr(1, "rename-coupon", breaking_change())
    status, delivery = mesh.deliver("pull_request", mesh.pr_event("opened", 1))
    assert status == 202
    [run] = mesh.wait_completed(pr["head_sha"])
    assert run["conclusion"] == "failure", run["output"]
    assert run["name"] == "meshdiff / impact" and run["output"]["title"].startswith("Blocks the merge"), \
        (run["output"], mesh.worker.log_tail())
    assert any(a["path"] == ORDERS_SQL for a in run["annotations"])
    [comment] = mesh.bot_comments(1)
    body = comment["body"]
    assert body.startswith("<!-- meshdiff:impact -->") and len(body) <= 60_000
    assert "`revenue`<br><sub>finance</sub>" in body and "coupon_amount" in body and pr["head_sha"][:7] in body
    # consumers of consumers are listed too (exec_reporting.kpis reads finance.revenue.net_revenue)
    assert "`kpis`" in body and "<b>exec_reporting</b>" in body
    # a complete analysis that blocks, not an incomplete one: neither the title nor the verdict
    # says "could not", and there is no error section (lineage warnings may say "could not be
    # resolved" about the renamed column: that is the finding, not an incomplete analysis)
    verdict = body.split("\n| Severity |", 1)[0]
    assert "could not" not in run["output"]["title"] and "could not" not in verdict
    assert "could not finish" not in body and "#### What failed" not in body
    assert len(mesh.gh.check_runs(SHOP, pr["head_sha"])) == 1
    # owners: the group's team and, from finance-dbt's CODEOWNERS, the person owning revenue.sql,
    # mentioned (policy mention: breaking) and asked for a review (request_reviews: breaking); a
    # team without access to shop-dbt (exec-reporting, if its node breaks) does not stop them
    ask = next(line for line in body.splitlines() if line.startswith("**Who to ask:**"))
    assert "@octo-org/finance-analytics (" in ask and "@finance-lead (" in ask, ask
    users, teams = wait_for(lambda: (lambda r: r if r[0] and r[1] else None)(mesh.gh.review_requests(SHOP, 1)),
                            "review requests", WAIT_S, procs=[mesh.worker], fail=pytest.fail)
    assert users == ["finance-lead"] and teams == ["finance-analytics"], (users, teams)
    if os.environ.get("MESHDIFF_E2E_DUMP"):  # to look at what a person sees
        with open(os.environ["MESHDIFF_E2E_DUMP"], "w") as out:
            out.write(body + "\n\n---- check run ----\n" + run["output"]["title"] + "\n\n"
                      + run["output"]["summary"] + "\n\n---- text ----\n" + (run["output"]["text"] or "")
                      + "\n\n---- annotations ----\n" + "\n".join(map(str, run["annotations"])))
    mesh.first_delivery = (delivery, mesh.pr_event("opened", 1))
    mesh.first_run_id = run["id"]


def test_redelivery_changes_nothing(mesh):
    delivery, payload = mesh.first_delivery
    posts_before = len(mesh.gh.requests_for("POST")) + len(mesh.gh.requests_for("PATCH"))
    status, _ = mesh.deliver("pull_request", payload, delivery=delivery)
    assert status == 200
    time.sleep(3)
    assert mesh.state.r.llen(QUEUE) == 0
    assert len(mesh.gh.requests_for("POST")) + len(mesh.gh.requests_for("PATCH")) == posts_before
    assert len(mesh.gh.check_runs(SHOP)) == 1 and len(mesh.bot_comments(1)) == 1


def test_synchronize_updates_the_same_comment_and_checks_the_new_sha(mesh):
    [old_comment] = mesh.bot_comments(1)
    change = breaking_change()
    change[ORDERS_SQL] = change[ORDERS_SQL].replace("-- orders v2:", "-- orders v2 (renamed coupon column):")
    mesh.gh.commit(SHOP, "rename-coupon", change, message="second push")
    new_sha = mesh.gh.update_pull(SHOP, 1)
    status, _ = mesh.deliver("pull_request", mesh.pr_event("synchronize", 1))
    assert status == 202
    [run] = mesh.wait_completed(new_sha)
    assert run["conclusion"] == "failure"
    assert len(mesh.gh.check_runs(SHOP, new_sha)) == 1  # the new sha's own run, exactly one
    assert [r["id"] for r in mesh.gh.check_runs(SHOP)] == [mesh.first_run_id, run["id"]]  # old sha's untouched
    [comment] = mesh.bot_comments(1)
    assert comment["id"] == old_comment["id"] and new_sha[:7] in comment["body"]
    assert len(mesh.gh.comments(SHOP, 1)) == 1


def test_safe_pr_succeeds(mesh):
    pr = mesh.open_pr(2, "describe-coupon", safe_change())
    status, _ = mesh.deliver("pull_request", mesh.pr_event("opened", 2))
    assert status == 202
    [run] = mesh.wait_completed(pr["head_sha"])
    assert run["conclusion"] == "success", run["output"]
    assert "safe" not in run["output"]["title"].lower()
    [comment] = mesh.bot_comments(2)
    assert "blocks the merge" not in comment["body"]


def test_chatops_rerun_from_a_writer(mesh):
    gh = mesh.gh
    pr = gh.pull(SHOP, 2)
    gh.set_permission(SHOP, "alice", "write")
    seeded = gh.add_comment(SHOP, 2, "/meshdiff rerun", user="alice")
    payload = adapt_event(wh.load_example("issue_comment", "created", variant="with-installation-and-organization"),
                          repo_full_name=SHOP, installation_id=INSTALLATION, pr_number=2, comment_id=seeded["id"],
                          comment_body="/meshdiff rerun", sender_login="alice", sender_type="User")
    [first] = mesh.gh.check_runs(SHOP, pr["head_sha"])
    status, _ = mesh.deliver("issue_comment", payload)
    assert status == 202
    # the first run was completed, and a completed run is final on GitHub: the rerun reports on the
    # sha's next run (the one GitHub shows and branch protection uses) and never touches the first
    runs = mesh.wait_completed(pr["head_sha"], n=2)
    assert [r["conclusion"] for r in runs] == ["success", "success"] and runs[0] == first
    gen = lambda run: int(run["external_id"].rsplit("#", 1)[1])  # noqa: E731
    assert runs[1]["id"] > first["id"] and gen(runs[1]) > gen(first)
    assert len(mesh.gh.check_runs(SHOP, pr["head_sha"])) == 2 and mesh.gh.violations == []
    assert len(mesh.bot_comments(2)) == 1  # the same sticky comment (unchanged, so not even edited)
    reactions = [r["json"]["content"] for r in gh.requests_for("POST", rf"/issues/comments/{seeded['id']}/reactions$")]
    assert reactions == ["rocket"]


def test_github_outage_during_publishing_is_retried_and_ends_correctly(mesh):
    gh = mesh.gh
    pr = mesh.open_pr(3, "rename-coupon-again", breaking_change())
    # GitHub creates the comment but answers 502; then the check run's completion fails 6 times
    gh.fail_next("POST", r"/issues/3/comments$", 502, after=True)
    gh.fail_next("PATCH", r"/check-runs/\d+$", 502, times=6)
    status, _ = mesh.deliver("pull_request", mesh.pr_event("opened", 3))
    assert status == 202
    [run] = mesh.wait_completed(pr["head_sha"])
    assert run["conclusion"] == "failure" and run["output"]["title"].startswith("Blocks the merge")
    assert len(mesh.bot_comments(3)) == 1  # the retried publish found the comment GitHub had created
    statuses = [r["status"] for r in gh.requests_for("PATCH", r"/check-runs/\d+$")]
    assert statuses.count(502) == 6 and statuses[-1] == 200
    assert len(gh.check_runs(SHOP, pr["head_sha"])) == 1
