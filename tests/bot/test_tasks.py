"""The analysis task, step by step, in this process: the stand-in GitHub (REST and git), a real
Redis, the real job steps, checkout and result cache; only the pipeline's ``analyze`` is replaced
(``tests/test_e2e_app.py`` runs the real one with a real worker)."""
import os
import threading

import pytest
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from github import GithubException

from bot.github.comment import MARKER
from bot.jobs import job as jobs
from bot.jobs.job import MAX_WORKER_DEATHS, ResultCache, fork_gate_text, untrusted_fork
from bot.result import JobResult
from tests.app_fixtures import (fake_report, job_world, redis_state, redis_url, standin_github,  # noqa: F401
                                standin_openapi)
from tests.paths import ROOT

REPO, INST, PR = "octo-org/shop-dbt", 61, 7


def test_publishes_one_comment_and_a_failure_check(job_world):
    w = job_world
    gen = w.request()
    assert w.run(gen) == "failure"
    [comment] = w.comments()
    assert comment["user"] == w.gh.bot_login and comment["body"].startswith(MARKER)
    assert "`revenue`" in comment["body"] and len(comment["body"]) <= 60_000
    [check] = w.runs()
    assert (check["status"], check["conclusion"], check["external_id"]) == ("completed", "failure", w.job_id(gen))
    assert w.analyses == 1 and w.state.jobs() == [] and not w.state.pending(REPO, PR, w.sha)
    # a rerun after completion: a completed run is final on GitHub, so the rerun reports on the
    # sha's next run (the latest is the one GitHub shows); the same inputs are not analysed again
    patched = len(w.gh.requests_for("PATCH", rf"/check-runs/{check['id']}$"))
    gen2 = w.request()
    assert w.run(gen2) == "failure"
    first, latest = w.runs()
    assert first == check and len(w.gh.requests_for("PATCH", rf"/check-runs/{check['id']}$")) == patched
    assert (latest["conclusion"], latest["external_id"]) == ("failure", w.job_id(gen2))
    assert w.analyses == 1  # published from the result stored for the same inputs
    assert len(w.comments()) == 1 and w.gh.requests_for("PATCH", r"/issues/comments/") == []


def test_a_rerun_requested_while_a_job_runs_takes_its_run_over_one_run_one_analysis(job_world):
    """Concurrency 1: the rerun waits in the queue while the first job analyses. The first job
    leaves the run open for it; the rerun takes the run over and publishes the stored result."""
    w = job_world
    gen1 = w.request()
    reruns = []

    def analysis(req):
        reruns.append(w.request())  # /meshdiff rerun (or a redelivery with a new id) meanwhile
        return fake_report(head_sha=req.head.sha)

    w.analysis = analysis
    assert w.run(gen1) == "handed over to a newer run"
    [run] = w.runs()
    assert run["status"] == "in_progress" and w.comments() == []
    assert w.state.pending(REPO, PR, w.sha)  # the rerun is still to come: the reconciliation waits
    assert w.run(reruns[0]) == "failure"
    [only] = w.runs()
    assert only["id"] == run["id"] and (only["conclusion"], only["external_id"]) == ("failure", w.job_id(reruns[0]))
    assert w.analyses == 1 and len(w.comments()) == 1 and w.gh.violations == []
    assert "cancelled" not in [r["json"].get("conclusion") for r in w.gh.requests_for("PATCH", r"/check-runs/")]


def test_a_rerun_running_beside_the_first_job_waits_for_its_result(redis_state):
    """Concurrency 2: two jobs need the same content; one computes it, the other waits for it."""
    computing, release, calls = threading.Event(), threading.Event(), []

    def compute():
        calls.append(1)
        computing.set()
        release.wait(30)
        return JobResult([fake_report()])

    first = ResultCache(redis_state, "job#1", poll_s=0.05)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("first", first.get_or_compute("k", compute)))
    t.start()
    assert computing.wait(30)
    t2 = threading.Thread(target=lambda: out.setdefault(
        "second", ResultCache(redis_state, "job#2", poll_s=0.05).get_or_compute("k", compute)))
    t2.start()
    t2.join(0.5)
    assert t2.is_alive()  # waiting for job#1's result, not computing it
    release.set()
    t.join(30), t2.join(30)
    assert len(calls) == 1 and out["first"].to_dict() == out["second"].to_dict()


def test_an_incomplete_result_is_never_reused(redis_state):
    calls = []

    def compute():
        calls.append(1)
        report = fake_report()
        report.errors.append("the compile of finance timed out")
        return JobResult([report])

    for job in ("job#1", "job#2"):
        ResultCache(redis_state, job).get_or_compute("k", compute)
    assert len(calls) == 2


def test_stale_before_start_does_nothing(job_world):
    w = job_world
    old = w.sha
    w.gh.commit(REPO, "feat", {"shop/models/orders.sql": "select 3 as amount\n"})
    w.gh.update_pull(REPO, PR)
    assert w.run(sha=old) == "stale"
    assert w.gh.check_runs(REPO) == [] and w.comments() == [] and w.analyses == 0


def test_superseded_while_running_is_cancelled_and_never_commented(job_world):
    w = job_world

    def push_during_analysis(req):
        w.gh.commit(REPO, "feat", {"shop/models/orders.sql": "select 4 as amount\n"})
        w.gh.update_pull(REPO, PR)
        return fake_report(head_sha=req.head.sha)

    w.analysis = push_during_analysis
    old = w.sha
    assert w.run() == "superseded"
    [check] = w.runs(old)
    assert (check["status"], check["conclusion"]) == ("completed", "cancelled")
    assert w.comments() == [] and w.state.jobs() == []


def test_newer_run_of_same_sha_supersedes_before_start(job_world):
    w = job_world
    gen1 = w.request()
    w.request()  # a rerun was requested meanwhile
    assert w.run(gen1) == "superseded before start" and w.gh.check_runs(REPO) == []


def test_a_generation_redis_forgot_is_not_a_newer_run(job_world):
    """Redis restarted empty while the job analysed: the job publishes its verdict (never a false
    "superseded") and puts back what Redis lost."""
    w = job_world
    gen = w.request()

    def redis_restarted(req):
        w.state.r.flushdb()
        return fake_report(head_sha=req.head.sha)

    w.analysis = redis_restarted
    assert w.run(gen) == "failure"
    [check] = w.runs()
    assert check["conclusion"] == "failure" and len(w.comments()) == 1
    assert w.state.generation(REPO, PR, w.sha) == gen  # restored


def test_github_outage_while_publishing_retried_without_recompute(job_world):
    w = job_world
    w.gh.fail_next("PATCH", r"/check-runs/\d+$", 502, times=10)  # the check's completion keeps failing
    gen = w.request()
    with pytest.raises(GithubException):  # called directly, Celery's retry re-raises the error
        w.run(gen)
    assert w.analyses == 1 and w.state.job(w.job_id(gen))["state"] == "retrying"
    w.gh._failures.clear()
    assert w.run(gen) == "failure"
    assert w.analyses == 1  # the stored result was published, not recomputed
    [check] = w.runs()
    assert check["conclusion"] == "failure" and len(w.comments()) == 1 and w.state.jobs() == []


def test_internal_error_completes_check_with_message(job_world):
    w = job_world

    def boom(req):
        raise RuntimeError("kaput")

    w.analysis = boom
    assert w.run() == "failed"
    [check] = w.runs()
    assert check["conclusion"] == "failure" and "/meshdiff rerun" in check["output"]["summary"]
    assert "internal error (RuntimeError)" in check["output"]["summary"] and w.comments() == []


def test_soft_time_limit_completes_check(job_world):
    w = job_world

    def slow(req):
        raise SoftTimeLimitExceeded()

    w.analysis = slow
    assert w.run() == "timed out"
    [check] = w.runs()
    assert check["conclusion"] == "failure" and "took longer than" in check["output"]["summary"]


def test_hard_time_limit_hook_completes_the_run(job_world):
    from bot.github.checks import CheckRun
    from bot.github.client import make_github

    w = job_world
    gen = w.request()
    g = make_github(w.gh.issue_token(INST), w.gh.api_url)
    CheckRun(g.get_repo(REPO), w.sha, w.job_id(gen)).start()
    w.tasks.analyze_pull_request.on_failure(TimeLimitExceeded(10), "id", (), {
        "installation_id": INST, "repo": REPO, "pr": PR, "head_sha": w.sha, "gen": gen}, None)
    [check] = w.runs()
    assert check["conclusion"] == "failure" and "hard time limit" in check["output"]["summary"]


def test_job_of_a_removed_repository_is_dropped_before_start(job_world):
    w = job_world
    w.state.set_repo_removed(INST, REPO, True)  # installation_repositories.removed arrived meanwhile
    before = len(w.gh.requests)
    assert w.run() == "repository removed from the installation"
    assert w.gh.requests[before:] == [] and w.analyses == 0  # not even a token was minted
    w.state.set_repo_removed(INST, REPO, False)
    w.state.set_suspended(INST, True)  # the installation was suspended (or deleted)
    assert w.run() == "installation suspended or deleted"
    assert w.gh.requests[before:] == [] and w.gh.check_runs(REPO) == []


def test_repository_removed_while_analysing_publishes_nothing(job_world):
    w = job_world

    def removed_meanwhile(req):
        w.state.set_repo_removed(INST, REPO, True)
        return fake_report(head_sha=req.head.sha)

    w.analysis = removed_meanwhile
    assert w.run() == "repository removed from the installation"
    assert w.comments() == []
    assert w.gh.requests_for("PATCH", r"/check-runs/\d+$") == []  # the check run is not touched either
    assert w.state.jobs() == []  # and the recovery will not try to


def test_a_killed_job_runs_again_on_the_same_check_run(job_world):
    """The worker dies mid-analysis (no except clause, no finally that reports: SIGKILL, OOM). Its
    record stays ``running`` without a lease; the next execution continues on the same run."""
    from bot.jobs.recovery import recover_jobs

    w = job_world

    def killed(req):
        raise KeyboardInterrupt

    w.analysis = killed
    gen = w.request()
    with pytest.raises(KeyboardInterrupt):
        w.run(gen)
    [dead] = w.runs()
    job_id = w.job_id(gen)
    assert dead["status"] == "in_progress" and w.state.job(job_id)["state"] == "running"
    assert w.state.lease(job_id) is None  # (a real kill leaves the lease to expire)
    requeued = []
    assert recover_jobs(w.ctx, requeued.append) == {"requeued": 1, "failed": 0}
    [record] = requeued
    assert record["deaths"] == 1 and w.state.job(job_id)["state"] == "requeued"
    assert recover_jobs(w.ctx, requeued.append) == {"requeued": 0, "failed": 0}  # sent once
    w.analysis = lambda req: fake_report(head_sha=req.head.sha)
    assert w.run(record["gen"]) == "failure"
    [only] = w.runs()
    assert only["id"] == dead["id"] and (only["conclusion"], only["external_id"]) == ("failure", job_id)
    assert len(w.comments()) == 1 and w.state.jobs() == []
    # the dead worker's message comes back from the broker much later: a no-op
    assert w.run(gen) == "already finished" and w.runs() == [only]


def test_a_commit_whose_worker_keeps_dying_fails_instead_of_looping(job_world):
    from bot.jobs.recovery import recover_jobs

    w = job_world

    def killed(req):
        raise KeyboardInterrupt

    w.analysis = killed
    gen = w.request()
    requeued = []
    for death in range(1, MAX_WORKER_DEATHS + 1):
        with pytest.raises(KeyboardInterrupt):
            w.run(gen)
        recover_jobs(w.ctx, requeued.append)
    assert len(requeued) == MAX_WORKER_DEATHS - 1 and w.analyses == MAX_WORKER_DEATHS
    [check] = w.runs()
    assert (check["status"], check["conclusion"]) == ("completed", "failure")
    assert f"The worker stopped {MAX_WORKER_DEATHS} times" in check["output"]["summary"]
    assert "/meshdiff rerun" in check["output"]["summary"] and w.state.jobs() == []


def test_failure_while_github_is_down_is_completed_by_the_recovery(job_world):
    from bot.jobs.recovery import recover_jobs

    w = job_world

    def boom(req):
        w.gh.fail_next("PATCH", r"/check-runs/\d+$", 503, times=5)  # GitHub down when reporting it
        raise RuntimeError("kaput")

    w.analysis = boom
    gen = w.request()
    assert w.run(gen) == "failed"
    [check] = w.runs()
    record = w.state.job(w.job_id(gen))
    assert check["status"] == "in_progress" and record["state"] == "failing" and "internal error" in record["why"]
    assert recover_jobs(w.ctx, print) == {"requeued": 0, "failed": 0}  # not due yet
    assert recover_jobs(w.ctx, print, now=record["retry_at"] + 1) == {"requeued": 0, "failed": 1}
    [check] = w.runs()
    assert check["conclusion"] == "failure" and "internal error" in check["output"]["summary"]
    assert w.state.jobs() == []


def test_the_recovery_gives_up_after_bounded_tries(job_world):
    from bot.jobs.recovery import recover_jobs

    w = job_world
    job = f"{REPO}#7@{'9' * 40}#1"
    w.state.register_job(job, {"installation_id": 404, "repo": REPO, "pr": 7, "head_sha": "9" * 40, "gen": 1,
                               "state": "failing", "why": "x", "retry_at": 0, "fail_tries": jobs.MAX_FAIL_TRIES},
                         0)
    assert recover_jobs(w.ctx, print) == {"requeued": 0, "failed": 0}  # installation 404: minting fails
    assert w.state.job(job) is None and w.state.jobs() == []


def test_nothing_to_analyse_is_neutral_and_quiet(job_world):
    w = job_world
    w.gh.commit(REPO, "feat", {"README.md": "docs only\n", "shop/models/orders.sql": "select 1 as amount\n"})
    w.gh.update_pull(REPO, PR)
    assert w.run() == "neutral"
    [check] = w.runs()
    assert check["conclusion"] == "neutral" and w.comments() == [] and w.analyses == 0


def test_commands(job_world):
    w = job_world
    gh = w.gh
    gh.set_permission(REPO, "alice", "write")
    gh.set_permission(REPO, "bob", "read")

    def command(user, body, name, **kw):
        c = gh.add_comment(REPO, PR, body, user=user)
        return w.tasks.handle_command.run(installation_id=INST, repo=REPO, pr=PR, comment_id=c["id"], user=user,
                                          command=name, **kw)

    assert command("alice", "/meshdiff rerun", "rerun") == "rerun"
    [sent] = w.sent
    assert sent["head_sha"] == w.sha and sent["gen"] == w.state.generation(REPO, PR, w.sha) and sent["approved"]
    assert w.state.pending(REPO, PR, w.sha)
    assert command("bob", "/meshdiff rerun", "rerun") == "denied"
    assert "need write access" in gh.comments(REPO, PR)[-1]["body"]
    assert command("alice", "/meshdiff help", "help") == "help"
    assert "/meshdiff rerun" in gh.comments(REPO, PR)[-1]["body"]
    assert command("alice", "/meshdiff rerunn", "unknown", suggestion="/meshdiff rerun",
                   typed="/meshdiff rerunn") == "unknown"
    assert "Did you mean `/meshdiff rerun`?" in gh.comments(REPO, PR)[-1]["body"]
    assert len(w.sent) == 1
    reactions = [r["json"]["content"] for r in gh.requests_for("POST", r"/reactions$")]
    assert reactions == ["rocket", "confused", "+1", "confused"]


def test_fork_gate():
    from types import SimpleNamespace as NS

    def pull(head, base, assoc):
        return NS(head=NS(repo=NS(full_name=head) if head else None), base=NS(repo=NS(full_name=base)),
                  author_association=assoc)

    assert untrusted_fork(pull("mallory/shop-dbt", REPO, "CONTRIBUTOR"))
    assert untrusted_fork(pull("mallory/shop-dbt", REPO, "FIRST_TIME_CONTRIBUTOR"))
    assert untrusted_fork(pull(None, REPO, "MEMBER"))  # the fork was deleted
    assert not untrusted_fork(pull("alice/shop-dbt", REPO, "MEMBER"))
    assert not untrusted_fork(pull(REPO, REPO, "NONE"))  # a branch of the repository itself
    assert "/meshdiff rerun" in fork_gate_text("a" * 40)


def test_the_analysis_writes_its_temporary_files_into_its_own_work_dir(job_world):
    import tempfile

    w = job_world
    seen = {}

    def analysis(req):
        seen["tmp"] = tempfile.mkdtemp(prefix="probe-")
        seen["env"] = os.environ.get("TMPDIR")
        return fake_report(head_sha=req.head.sha)

    w.analysis = analysis
    assert w.run() == "failure"
    assert seen["tmp"].startswith(w.work_dir + os.sep) and seen["env"].startswith(w.work_dir + os.sep)
    assert not os.path.exists(seen["tmp"]) and tempfile.gettempdir() != os.path.dirname(seen["tmp"])


def test_celery_pinned_to_a_version_that_reports_hard_time_limits():
    """JobTask.on_failure is only called on a hard time limit by Celery >= 5.7."""
    import tomllib
    from importlib import metadata

    from packaging.requirements import Requirement

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        deps = [Requirement(d) for d in tomllib.load(handle)["project"]["dependencies"]]
    [celery] = [d for d in deps if d.name == "celery"]
    assert "redis" in celery.extras
    assert not celery.specifier.contains("5.6.3") and celery.specifier.contains("5.7.0")
    assert not celery.specifier.contains("6.0.0")
    assert celery.specifier.contains(metadata.version("celery"))
