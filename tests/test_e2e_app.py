"""End to end: the real Flask app over HTTP, a real Redis (the test session's own redis-server), a real Celery
worker process, the stand-in GitHub (REST validated against GitHub's OpenAPI + git over smart
HTTP) and the REAL pipeline (dbt compiles) on the example mesh, in three repositories:

- ``octo-org/shop-dbt``    ``shop/`` + ``.meshdiff.yml`` naming the two downstream repositories
- ``octo-org/finance-dbt`` ``finance/`` (reads shop through dbt-loom)
- ``octo-org/exec-dbt``    ``exec_reporting/`` (reads finance and shop)

The scenarios share one worker and run in order (later ones reuse the compile cache).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from werkzeug.serving import make_server

from bot.celeryapp import QUEUE
from bot.jobs.state import State
from tests.app_fixtures import TEST_SECRET, adapt_event, redis_url, settings_for  # noqa: F401
from tests.standin import StandInGitHub
from tests.standin import webhooks as wh
from webhooks.app import create_app

pytestmark = [pytest.mark.e2e, pytest.mark.dbt]

from tests.paths import ROOT
EXAMPLES = os.path.join(ROOT, "examples")
SHOP, FINANCE, EXEC = "octo-org/shop-dbt", "octo-org/finance-dbt", "octo-org/exec-dbt"
INSTALLATION = 4711
#: how long a wait may take before the test gives up (with the worker's log): an analysis compiles
#: six projects, each some seconds idle and many more on a busy machine; generous, not a speed limit
WAIT_S = 1200
MESH_YML = f"""version: 1
projects:
  - path: shop
downstream:
  - repo: {FINANCE}
    path: finance
  - repo: {EXEC}
    path: exec_reporting
policy:
  fail_on: [breaking, unknown]
  governance: true
"""
ORDERS_SQL = "shop/models/marts/orders_v2.sql"
MARTS_YML = "shop/models/marts/_marts.yml"


def _read(rel: str) -> str:
    with open(os.path.join(EXAMPLES, rel), encoding="utf-8") as handle:
        return handle.read()


def breaking_change() -> dict[str, str]:
    """Rename orders v2's public column ``coupon_amount`` (finance.revenue reads it)."""
    sql = _read(ORDERS_SQL).replace(" as coupon_amount,", " as discount_amount,")
    yml = _read(MARTS_YML).replace("- name: coupon_amount\n", "- name: discount_amount\n") \
        .replace("- coupon_amount\n", "- discount_amount\n")
    assert "discount_amount" in sql and yml.count("discount_amount") == 2
    return {ORDERS_SQL: sql, MARTS_YML: yml}


def safe_change() -> dict[str, str]:
    yml = _read(MARTS_YML).replace("Part paid with coupons, in dollars.", "Part paid with coupons (promotions), in dollars.")
    assert "(promotions)" in yml
    return {MARTS_YML: yml}


def _copy_project(name: str, dest: str) -> None:
    shutil.copytree(os.path.join(EXAMPLES, name), os.path.join(dest, name),
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb*", "__pycache__"))


def _wait(predicate, what: str, timeout: float = WAIT_S, worker=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if worker is not None and worker.proc.poll() is not None:
            pytest.fail(f"the worker died while waiting for {what}:\n{worker.log_tail()}")
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout}s waiting for {what}" + (f"\n{worker.log_tail()}" if worker else ""))


class Worker:
    def __init__(self, env: dict, log_path: str):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "bot.tasks", "worker", "--pool=solo", "-c", "1", "-Q", QUEUE,
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", "e2e@%h"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def log_tail(self, n: int = 80) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class Mesh:
    """The running system and helpers to drive it."""

    def __init__(self, gh: StandInGitHub, hook_url: str, worker: Worker, state: State):
        self.gh, self.hook_url, self.worker, self.state = gh, hook_url, worker, state

    def deliver(self, event: str, payload: dict, *, delivery: str | None = None, secret: str = TEST_SECRET):
        status, body, headers = wh.deliver(self.hook_url, event, payload, secret, delivery)
        return status, headers["X-GitHub-Delivery"]

    def pr_event(self, action: str, number: int, variant: str = "with-installation") -> dict:
        pr = self.gh.pull(SHOP, number)
        return adapt_event(wh.load_example("pull_request", action, variant=variant), repo_full_name=SHOP,
                           installation_id=INSTALLATION, pr_number=number, head_sha=pr["head_sha"],
                           base_sha=pr["base_sha"], head_ref=pr["head_ref"], base_ref=pr["base_ref"],
                           sender_login="octocat")

    def open_pr(self, number: int, branch: str, changes: dict[str, str]) -> dict:
        self.gh.commit(SHOP, branch, changes, message=f"change for #{number}")
        return self.gh.open_pull(SHOP, number, head_branch=branch)

    def completed(self, sha: str) -> list[dict]:
        return [r for r in self.gh.check_runs(SHOP, sha) if r["status"] == "completed"]

    def wait_completed(self, sha: str, n: int = 1) -> list[dict]:
        return _wait(lambda: (lambda runs: runs if len(runs) >= n else None)(self.completed(sha)),
                     f"{n} completed check run(s) on {sha[:7]}", worker=self.worker)

    def bot_comments(self, number: int) -> list[dict]:
        return [c for c in self.gh.comments(SHOP, number) if c["user"] == self.gh.bot_login]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, redis_url):
    tmp = tmp_path_factory.mktemp("e2e")
    state = State.from_url(redis_url)
    state.r.flushdb()
    gh = StandInGitHub(root=tmp / "github")
    gh.add_installation(INSTALLATION, "octo-org")
    for repo, project in ((SHOP, "shop"), (FINANCE, "finance"), (EXEC, "exec_reporting")):
        src = tmp / "src" / repo.split("/")[1]
        _copy_project(project, str(src))
        if repo == SHOP:
            (src / ".meshdiff.yml").write_text(MESH_YML)
        gh.add_repo(repo, str(src), installation_id=INSTALLATION)

    settings = settings_for(gh)
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHDIFF_")}
    env.update(MESHDIFF_APP_ID=str(gh.app_id), MESHDIFF_PRIVATE_KEY=gh.private_key_pem,
               MESHDIFF_REDIS_URL=redis_url, MESHDIFF_GITHUB_API_URL=gh.api_url,
               MESHDIFF_GITHUB_URL=gh.web_url, MESHDIFF_CACHE_DIR=str(tmp / "cache"),
               MESHDIFF_WORK_DIR=str(tmp / "work"), MESHDIFF_JOB_TIMEOUT_S="600", PYTHONPATH=ROOT)
    worker = Worker(env, str(tmp / "worker.log"))
    try:
        _wait(lambda: state.workers(), "the worker's first heartbeat", timeout=600, worker=worker)
        yield Mesh(gh, f"http://127.0.0.1:{server.server_port}/webhooks/github", worker, state)
    finally:
        worker.stop()
        server.shutdown()
        gh.stop()
        state.r.flushdb()
    assert gh.violations == [], "requests broke GitHub's contract:\n" + "\n".join(gh.violations)


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
    assert runs[1]["id"] > first["id"] and runs[1]["external_id"].endswith("#2")
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
