"""The App as an operator runs it, for end-to-end tests and the drills (``bench/drills.py``):
the web process under gunicorn as the README runs it, real Celery workers (``celery -A bot.tasks
worker``), a redis-server of its own that can be killed and restarted, and the stand-in GitHub
holding the example mesh in three repositories:

- ``octo-org/shop-dbt``    ``shop/`` + ``.meshdiff.yml`` naming the two downstream repositories
- ``octo-org/finance-dbt`` ``finance/`` (reads shop through dbt-loom) + ``.github/CODEOWNERS``
- ``octo-org/exec-dbt``    ``exec_reporting/`` (reads finance and shop)
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot.celeryapp import QUEUE
from bot.jobs.state import State
from tests.app_fixtures import TEST_SECRET, adapt_event, queued
from tests.paths import ROOT
from tests.redis_server import RedisServer, spare_port
from tests.standin import StandInGitHub
from tests.standin import webhooks as wh

EXAMPLES = os.path.join(ROOT, "examples")
SHOP, FINANCE, EXEC = "octo-org/shop-dbt", "octo-org/finance-dbt", "octo-org/exec-dbt"
INSTALLATION = 4711
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
  request_reviews: breaking
"""
#: finance-dbt's owners: a person for revenue, after its group's team (``@octo-org/finance-analytics``)
FINANCE_CODEOWNERS = "* @octo-org/data-platform\n/finance/models/revenue.sql @finance-lead\n"
ORDERS_SQL = "shop/models/marts/orders_v2.sql"
MARTS_YML = "shop/models/marts/_marts.yml"
#: the README's web command (tests/bot/test_packaging.py checks the README says the same)
GUNICORN_ARGS = ["--workers", "2", "--threads", "16"]


def read_example(rel: str) -> str:
    with open(os.path.join(EXAMPLES, rel), encoding="utf-8") as handle:
        return handle.read()


def breaking_change() -> dict[str, str]:
    """Rename orders v2's public column ``coupon_amount`` (finance.revenue reads it)."""
    sql = read_example(ORDERS_SQL).replace(" as coupon_amount,", " as discount_amount,")
    yml = read_example(MARTS_YML).replace("- name: coupon_amount\n", "- name: discount_amount\n") \
        .replace("- coupon_amount\n", "- discount_amount\n")
    assert "discount_amount" in sql and yml.count("discount_amount") == 2
    return {ORDERS_SQL: sql, MARTS_YML: yml}


def safe_change(words: str = "(promotions)") -> dict[str, str]:
    yml = read_example(MARTS_YML).replace("Part paid with coupons, in dollars.",
                                          f"Part paid with coupons {words}, in dollars.")
    assert words in yml
    return {MARTS_YML: yml}


def copy_project(name: str, dest: str) -> None:
    shutil.copytree(os.path.join(EXAMPLES, name), os.path.join(dest, name),
                    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", "*.duckdb*", "__pycache__"))


class Proc:
    """A child process in a session of its own, its output in a log file."""

    def __init__(self, argv: list[str], env: dict, log_path: str):
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by every process of its group (gunicorn's
        workers included)."""
        total = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.proc.pid:  # the process group
                total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def log_tail(self, n: int = 80) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-n:])

    def kill(self) -> None:
        """SIGKILL to the whole process group: nothing runs a finally clause."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 30) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def wait_for(predicate, what: str, timeout: float, *, procs=(), fail=None):
    """Poll ``predicate`` until it returns something true; a dead process or the timeout fails
    (``fail(message)``, default AssertionError). Deadlines are generous: this runs on busy machines."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        for proc in procs:
            if not proc.alive():
                message = f"{proc.log_path} died while waiting for {what}:\n{proc.log_tail()}"
                raise AssertionError(message) if fail is None else fail(message)
        if time.monotonic() > deadline:
            tails = "".join(f"\n--- {p.log_path}\n{p.log_tail(40)}" for p in procs)
            message = f"timed out after {timeout:.0f} s waiting for {what}{tails}"
            raise AssertionError(message) if fail is None else fail(message)
        time.sleep(0.25)


class Rig:
    """A redis-server, the stand-in GitHub with the example mesh, and the processes of the App."""

    def __init__(self, tmp: Path, *, mesh: bool = True, redis_url: str | None = None, appendonly: bool = False):
        self.tmp = Path(tmp)
        self.redis = None if redis_url else RedisServer(str(self.tmp / "redis"), appendonly=appendonly).start()
        self.redis_url = redis_url or self.redis.url
        self.state = State.from_url(self.redis_url)
        self.gh = StandInGitHub(root=self.tmp / "github")
        self.gh.add_installation(INSTALLATION, "octo-org")
        if mesh:
            for repo, project in ((SHOP, "shop"), (FINANCE, "finance"), (EXEC, "exec_reporting")):
                src = self.tmp / "src" / repo.split("/")[1]
                copy_project(project, str(src))
                if repo == SHOP:
                    (src / ".meshdiff.yml").write_text(MESH_YML)
                if repo == FINANCE:
                    (src / ".github").mkdir()
                    (src / ".github" / "CODEOWNERS").write_text(FINANCE_CODEOWNERS)
                self.gh.add_repo(repo, str(src), installation_id=INSTALLATION)
        self.procs: list[Proc] = []
        self.hook_url: str | None = None
        self.web: Proc | None = None

    # -- processes ----------------------------------------------------------------------------
    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MESHDIFF_")}
        env.update(MESHDIFF_APP_ID=str(self.gh.app_id), MESHDIFF_WEBHOOK_SECRET=TEST_SECRET, MESHDIFF_REDIS_URL=self.redis_url,
                   MESHDIFF_GITHUB_API_URL=self.gh.api_url, MESHDIFF_GITHUB_URL=self.gh.web_url,
                   MESHDIFF_CACHE_DIR=str(self.tmp / "cache"), MESHDIFF_WORK_DIR=str(self.tmp / "work"),
                   MESHDIFF_JOB_TIMEOUT_S="900", PYTHONPATH=ROOT)
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start_web(self, *args: str, **env) -> str:
        """gunicorn as the README runs it (its ``--bind`` on a spare port)."""
        port = spare_port()
        self.web = Proc([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *GUNICORN_ARGS, *args,
                         "webhooks.app:create_app()"], self.env(**env), str(self.tmp / f"web-{port}.log"))
        self.procs.append(self.web)
        self.hook_url = f"http://127.0.0.1:{port}/webhooks/github"
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), "gunicorn", 120, procs=[self.web])
        return self.hook_url

    def start_worker(self, name: str = "drill@%h", *, wait: bool = True, **env) -> Proc:
        """``celery -A bot.tasks worker`` (solo pool: one analysis at a time, as concurrency 1)."""
        env = {"MESHDIFF_PRIVATE_KEY": self.gh.private_key_pem, **env}  # (the web process has no key)
        worker = Proc([sys.executable, "-m", "celery", "-A", "bot.tasks", "worker", "--pool=solo", "-c", "1",
                       "-Q", QUEUE, "--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", name],
                      self.env(**env), str(self.tmp / f"worker-{len(self.procs)}.log"))
        self.procs.append(worker)
        if wait:
            wait_for(lambda: "reconcile:" in worker.log_tail(400), "the worker's start (heartbeat, reconciliation)",
                     1200, procs=[worker])
        return worker

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self.gh.stop()
        if self.redis is not None:
            self.redis.stop()

    # -- GitHub side ----------------------------------------------------------------------------
    def open_pr(self, number: int, branch: str, changes: dict[str, str]) -> dict:
        self.gh.commit(SHOP, branch, changes, message=f"change for #{number}")
        return self.gh.open_pull(SHOP, number, head_branch=branch)

    def pr_event(self, action: str, number: int) -> dict:
        pr = self.gh.pull(SHOP, number)
        return adapt_event(wh.load_example("pull_request", action, variant="with-installation"), repo_full_name=SHOP,
                           installation_id=INSTALLATION, pr_number=number, head_sha=pr["head_sha"],
                           base_sha=pr["base_sha"], head_ref=pr["head_ref"], base_ref=pr["base_ref"],
                           sender_login="octocat")

    def deliver(self, event: str, payload: dict, *, delivery: str | None = None) -> int:
        status, _, _ = wh.deliver(self.hook_url, event, payload, TEST_SECRET, delivery)
        return status

    def runs(self, sha: str) -> list[dict]:
        return self.gh.check_runs(SHOP, sha)

    def completed(self, sha: str) -> list[dict]:
        return [r for r in self.runs(sha) if r["status"] == "completed"]

    def bot_comments(self, number: int) -> list[dict]:
        return [c for c in self.gh.comments(SHOP, number) if c["user"] == self.gh.bot_login]

    def queued(self) -> list[tuple[str, dict]]:
        return queued(self.state)


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False
