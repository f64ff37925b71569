"""Fixtures and helpers shared by the App's tests (``tests/webhooks/``,
``tests/bot/``, ``tests/test_e2e_app.py``). Import what you use:

    from tests.app_fixtures import redis_url, redis_state, standin_github, ...  # noqa: F401
"""
from __future__ import annotations

import atexit
import os

import pytest
import redis

from analysis.report import Change, ColumnChange, GitRef, Impact, Report
from bot.settings import Settings
from bot.jobs.state import State
from tests.redis_server import RedisServer
from tests.standin.fixtures import standin_github, standin_openapi  # noqa: F401  (re-exported fixtures)

#: a Redis of the test session's own (see :func:`redis_url`); MESHDIFF_TEST_REDIS_URL overrides it
TEST_REDIS_OVERRIDE = os.environ.get("MESHDIFF_TEST_REDIS_URL", "").strip() or None
TEST_SECRET = "It's a Secret to Everybody"
_server: RedisServer | None = None


def session_redis_url() -> str:
    """The URL of this process's test Redis: ``MESHDIFF_TEST_REDIS_URL``, or a ``redis-server``
    started on first use on a spare port (``--save "" --appendonly no``, in a temp dir) and
    killed when the process exits (even when it is killed: see ``tests.redis_server``)."""
    global _server
    if TEST_REDIS_OVERRIDE:
        return TEST_REDIS_OVERRIDE
    if _server is None:
        _server = RedisServer().start()
        atexit.register(_server.stop)
    return _server.url


@pytest.fixture(scope="session")
def redis_url():
    """A Redis of the test session's own: parallel test runs never collide and the machine's
    shared Redis is never flushed. ``MESHDIFF_TEST_REDIS_URL`` points the tests at another Redis
    instead (its database is flushed by the tests: give them a database of their own)."""
    return session_redis_url()


@pytest.fixture
def redis_state(redis_url):
    state = State.from_url(redis_url)
    try:
        state.r.ping()
    except redis.ConnectionError as exc:  # pragma: no cover - environment problem, not a skip
        pytest.fail(f"the tests need Redis at {redis_url}: {exc}")
    state.r.flushdb()
    yield state
    state.r.flushdb()


def queued(state: State) -> list[tuple[str, dict]]:
    """(task name, kwargs) of the messages waiting in the worker queue, oldest first."""
    from bot.celeryapp import QUEUE, message_kwargs

    return [message_kwargs(raw) for raw in reversed(state.r.lrange(QUEUE, 0, -1))]


def settings_for(gh=None, **overrides) -> Settings:
    values = dict(webhook_secret=TEST_SECRET, redis_url=session_redis_url())
    if gh is not None:
        values.update(app_id=str(gh.app_id), private_key=gh.private_key_pem, github_api_url=gh.api_url,
                      github_url=gh.web_url)
    values.update(overrides)
    return Settings(**values)


def fake_report(*, project: str = "shop", conclusion: str = "failure", head_sha: str = "b" * 40,
                base_sha: str = "a" * 40, file: str = "shop/models/marts/orders.sql") -> Report:
    """A small but real Report: one breaking change reaching two downstream nodes."""
    change = Change(node=f"model.{project}.orders.v2", resource_type="model", category="breaking",
                    columns=[ColumnChange("amount", "removed")], reasons=["column `amount` removed"],
                    file=file, lines=[3], access="public")
    impacts = [
        Impact("finance", "model.finance.revenue", "model", "breaking", ["total"],
               via=[f"model.{project}.orders.v2.amount", "model.finance.revenue.total"]),
        Impact("exec_reporting", "model.exec_reporting.kpis", "model", "changed", ["revenue"],
               via=[f"model.{project}.orders.v2.amount", "model.finance.revenue.total", "model.exec_reporting.kpis"]),
    ]
    report = Report(changed_project=project, base=GitRef("main", base_sha), head=GitRef("feature", head_sha),
                    changes=[change], impacts=impacts if conclusion == "failure" else [],
                    projects=[project, "finance", "exec_reporting"])
    report.conclusion = conclusion  # type: ignore[assignment]
    if conclusion == "failure":
        report.policy = ["1 impacted node(s) with severity `breaking`"]
    return report


def adapt_event(payload: dict, **kwargs) -> dict:
    """``tests.standin.webhooks.adapt`` plus a guarantee that ``repository.full_name`` / ``name`` /
    ``owner.login`` name the target repository (only repository names are touched)."""
    from tests.standin import webhooks as wh

    out = wh.adapt(payload, **kwargs)
    full = kwargs["repo_full_name"]
    repo = out.get("repository")
    if isinstance(repo, dict) and repo.get("full_name") != full:
        owner, name = full.split("/", 1)
        repo["full_name"], repo["name"] = full, name
        if isinstance(repo.get("owner"), dict):
            repo["owner"]["login"] = owner
    return out


def load_event(event: str, action: str | None = None, *, variant=None, **adapt_kwargs) -> dict:
    from tests.standin import webhooks as wh

    raw = wh.load_example(event, action, variant=variant) if variant is not None else wh.load_example(event, action)
    return adapt_event(raw, **adapt_kwargs) if adapt_kwargs else raw


SHOP_PROJECT = {"shop/dbt_project.yml": "name: shop\nprofile: shop\nconfig-version: 2\n",
                "shop/models/orders.sql": "select 1 as amount\n"}


class JobWorld:
    """The worker's side of the App in-process: the stand-in GitHub with one repository and one
    PR (#7, ``feat``), a real Redis, the real job steps, checkout and result cache; only the
    pipeline's ``analyze`` is replaced (``self.analysis``; ``tests/test_e2e_app.py`` runs the real
    one). ``self.analyses`` counts the analyses actually computed."""

    REPO, INST, PR = "octo-org/shop-dbt", 61, 7

    def __init__(self, gh, state, tmp_path, monkeypatch):
        import bot.tasks as tasks
        from bot.jobs.job import WorkerContext
        from bot.jobs.state import Owner

        self.gh, self.state, self.tasks = gh, state, tasks
        gh.add_installation(self.INST, "octo-org")
        gh.add_repo(self.REPO, SHOP_PROJECT)
        gh.commit(self.REPO, "feat", {"shop/models/orders.sql": "select 2 as amount\n"})
        self.pr = gh.open_pull(self.REPO, self.PR, head_branch="feat")
        self.work_dir = str(tmp_path / "work")
        self.settings = settings_for(gh, work_dir=self.work_dir)
        monkeypatch.setattr(tasks, "settings", self.settings)
        self.ctx = WorkerContext(self.settings, owner=Owner("worker@test", "inst0", os.getpid()), _state=state)
        monkeypatch.setattr(tasks, "ctx", self.ctx)
        self.analyses = 0
        self.analysis = lambda req: fake_report(conclusion="failure", head_sha=req.head.sha)
        self.sent: list[dict] = []  # jobs the worker queued itself (reruns, recovery, reconciliation)

        def analyze(req):
            self.analyses += 1
            return self.analysis(req)

        monkeypatch.setattr("analysis.pipeline.analyze", analyze)
        monkeypatch.setattr(tasks.analyze_pull_request, "apply_async", lambda kwargs: self.sent.append(kwargs))

    @property
    def sha(self) -> str:
        return self.gh.pull(self.REPO, self.PR)["head_sha"]

    def job_id(self, gen: int, sha: str | None = None) -> str:
        return f"{self.REPO}#{self.PR}@{sha or self.sha}#{gen}"

    def request(self, sha: str | None = None) -> int:
        """What the web does for a delivery: a new generation of the commit, marked pending."""
        return self.state.bump(self.REPO, self.PR, sha or self.sha)

    def run(self, gen: int | None = None, sha: str | None = None, **kw) -> str:
        """One execution of the task, in this process (as a worker runs it)."""
        sha = sha or self.sha
        gen = self.request(sha) if gen is None else gen
        return self.tasks.analyze_pull_request.run(installation_id=self.INST, repo=self.REPO, pr=self.PR,
                                                   head_sha=sha, gen=gen, **kw)

    def runs(self, sha: str | None = None) -> list[dict]:
        return self.gh.check_runs(self.REPO, sha or self.sha)

    def comments(self) -> list[dict]:
        return self.gh.comments(self.REPO, self.PR)


@pytest.fixture
def job_world(standin_github, redis_state, tmp_path, monkeypatch):
    world = JobWorld(standin_github, redis_state, tmp_path, monkeypatch)
    yield world
    leftovers = os.listdir(world.work_dir) if os.path.isdir(world.work_dir) else []
    assert leftovers == [], f"work dirs left behind: {leftovers}"
