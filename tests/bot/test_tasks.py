"""The Celery tasks run in-process against the stand-in GitHub and a real Redis (the test session's own redis-server);
the analysis itself is replaced by a fake here (tests/test_e2e_app.py runs the real one)."""
import os
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from github import GithubException

import bot.tasks as tasks
from bot.github.comment import MARKER
from bot.jobs.runner import JobResult
from tests.app_fixtures import fake_report, redis_state, redis_url, settings_for, standin_github, standin_openapi  # noqa: F401
from tests.paths import ROOT

REPO = "octo-org/shop-dbt"
INST = 61


@pytest.fixture
def world(standin_github, redis_state, monkeypatch):
    gh = standin_github
    gh.add_installation(INST, "octo-org")
    gh.add_repo(REPO, {"shop/models/orders.sql": "select 1 as amount\n"})
    gh.commit(REPO, "feat", {"shop/models/orders.sql": "select 2 as amount\n"})
    pr = gh.open_pull(REPO, 7, head_branch="feat")
    monkeypatch.setattr(tasks, "settings", settings_for(gh))
    ctx = tasks._Context()
    ctx._state = redis_state
    monkeypatch.setattr(tasks, "ctx", ctx)
    calls = []

    def fake_run_job(**kwargs):
        calls.append(kwargs)
        return world.result(kwargs)

    class World:
        result = staticmethod(lambda kwargs: JobResult([fake_report(head_sha=kwargs["pull"].head_sha)]))

    world = World()
    monkeypatch.setattr("bot.jobs.run_job", fake_run_job)
    world.reapers = []  # countdowns of the reapers jobs scheduled (never sent to a real queue here)
    monkeypatch.setattr(tasks.reap_stale_jobs, "apply_async", lambda countdown: world.reapers.append(countdown))
    world.gh, world.pr, world.calls, world.state = gh, pr, calls, redis_state
    return world


def run(world, sha=None, gen=None, **kw):
    sha = sha or world.pr["head_sha"]
    if gen is None:
        gen = world.state.bump(REPO, 7, sha)
    return tasks.analyze_pull_request.run(installation_id=INST, repo=REPO, pr=7, head_sha=sha, gen=gen, **kw)


def test_publishes_one_comment_and_a_failure_check(world):
    assert run(world) == "failure"
    gh = world.gh
    [comment] = gh.comments(REPO, 7)
    assert comment["user"] == gh.bot_login and comment["body"].startswith(MARKER)
    assert "`revenue`" in comment["body"] and len(comment["body"]) <= 60_000
    [check] = gh.check_runs(REPO, world.pr["head_sha"])
    assert (check["status"], check["conclusion"]) == ("completed", "failure")
    assert check["external_id"] == f"{REPO}#7@{world.pr['head_sha']}#1"
    # a rerun of the same commit after completion: a completed run is final on GitHub, so the
    # rerun gets the sha's next run (the latest is the one GitHub shows); the first is not touched
    patched = len(gh.requests_for("PATCH", rf"/check-runs/{check['id']}$"))
    assert run(world) == "failure"
    first, latest = gh.check_runs(REPO, world.pr["head_sha"])
    assert first == check and len(gh.requests_for("PATCH", rf"/check-runs/{check['id']}$")) == patched
    assert (latest["conclusion"], latest["external_id"]) == ("failure", f"{REPO}#7@{world.pr['head_sha']}#2")
    assert len(gh.comments(REPO, 7)) == 1  # the same comment, left alone (unchanged)
    assert len(gh.requests_for("PATCH", r"/issues/comments/")) == 0
    assert world.state.overdue_jobs(now=1e12) == []  # nothing left registered as running


def test_a_rerun_takes_over_the_open_run_of_a_dead_job_one_run_per_sha(world):
    sha = world.pr["head_sha"]

    def killed(kwargs):
        raise KeyboardInterrupt

    world.result = killed
    with pytest.raises(KeyboardInterrupt):  # the first job's worker dies: its run stays in_progress
        run(world)
    [dead] = world.gh.check_runs(REPO, sha)
    [dead_job] = world.state.overdue_jobs(now=1e12)
    assert dead["status"] == "in_progress" and dead["external_id"] == dead_job
    world.result = lambda kwargs: JobResult([fake_report(head_sha=sha)])
    assert run(world) == "failure"  # /meshdiff rerun
    [only] = world.gh.check_runs(REPO, sha)
    assert only["id"] == dead["id"] and only["external_id"] == f"{REPO}#7@{sha}#2"
    assert (only["status"], only["conclusion"]) == ("completed", "failure")
    assert only["started_at"] >= dead["started_at"]
    takeover = world.gh.requests_for("PATCH", rf"/check-runs/{dead['id']}$")[0]["json"]
    assert takeover["status"] == "in_progress" and takeover["external_id"].endswith("#2") and takeover["started_at"]
    # the dead job's reaper finds a run that is no longer its own: it leaves it alone
    world.state.start_job(dead_job, world.state.job(dead_job), deadline=0)
    patches = len(world.gh.requests_for("PATCH", r"/check-runs/"))
    tasks.reap_overdue()
    assert len(world.gh.requests_for("PATCH", r"/check-runs/")) == patches
    assert world.gh.check_runs(REPO, sha) == [only] and world.state.overdue_jobs(now=1e12) == []


def test_a_rerun_while_running_reports_on_the_same_run(world):
    sha = world.pr["head_sha"]
    nested = []

    def rerun_meanwhile(kwargs):
        if not nested:  # /meshdiff rerun while the first job analyses: a second worker runs it
            nested.append("started")
            nested.append(run(world))
        return JobResult([fake_report(head_sha=sha)])

    world.result = rerun_meanwhile
    assert run(world, gen=world.state.bump(REPO, 7, sha)) == "superseded" and nested == ["started", "failure"]
    [only] = world.gh.check_runs(REPO, sha)
    assert (only["conclusion"], only["external_id"]) == ("failure", f"{REPO}#7@{sha}#2")  # never "cancelled"
    assert len(world.gh.comments(REPO, 7)) == 1


def test_stale_before_start_does_nothing(world):
    old = world.pr["head_sha"]
    world.gh.commit(REPO, "feat", {"shop/models/orders.sql": "select 3 as amount\n"})
    world.gh.update_pull(REPO, 7)
    assert run(world, sha=old) == "stale"
    assert world.gh.check_runs(REPO) == [] and world.gh.comments(REPO, 7) == [] and world.calls == []


def test_superseded_while_running_is_cancelled_and_never_commented(world):
    def push_during_analysis(kwargs):
        world.gh.commit(REPO, "feat", {"shop/models/orders.sql": "select 4 as amount\n"})
        world.gh.update_pull(REPO, 7)
        return JobResult([fake_report()])

    world.result = push_during_analysis
    assert run(world) == "superseded"
    [check] = world.gh.check_runs(REPO)
    assert (check["status"], check["conclusion"]) == ("completed", "cancelled")
    assert world.gh.comments(REPO, 7) == []


def test_newer_run_of_same_sha_supersedes(world):
    sha = world.pr["head_sha"]
    gen1 = world.state.bump(REPO, 7, sha)
    world.state.bump(REPO, 7, sha)  # a rerun was requested meanwhile
    assert run(world, gen=gen1) == "superseded before start"


def test_github_outage_while_publishing_retried_without_recompute(world):
    gh = world.gh
    gh.fail_next("PATCH", r"/check-runs/\d+$", 502, times=10)  # the check's completion keeps failing
    gen = world.state.bump(REPO, 7, world.pr["head_sha"])
    with pytest.raises(GithubException):  # called directly, Celery's retry re-raises the error
        run(world, gen=gen)
    assert len(world.calls) == 1
    gh._failures.clear()
    assert run(world, gen=gen) == "failure"
    assert len(world.calls) == 1  # the stored result was published, not recomputed
    [check] = gh.check_runs(REPO)
    assert check["conclusion"] == "failure" and len(gh.comments(REPO, 7)) == 1


def test_internal_error_completes_check_with_message(world):
    def boom(kwargs):
        raise RuntimeError("kaput")

    world.result = boom
    assert run(world) == "failed"
    [check] = world.gh.check_runs(REPO)
    assert check["conclusion"] == "failure" and "/meshdiff rerun" in check["output"]["summary"]
    assert "internal error (RuntimeError)" in check["output"]["summary"]
    assert world.gh.comments(REPO, 7) == []


def test_soft_time_limit_completes_check(world):
    def slow(kwargs):
        raise SoftTimeLimitExceeded()

    world.result = slow
    assert run(world) == "timed out"
    [check] = world.gh.check_runs(REPO)
    assert check["conclusion"] == "failure" and "took longer than" in check["output"]["summary"]


def test_hard_time_limit_hook_and_reaper(world):
    sha = world.pr["head_sha"]
    gen = world.state.bump(REPO, 7, sha)
    job_id = f"{REPO}#7@{sha}#{gen}"
    from bot.github.checks import CheckRun
    from bot.github.client import make_github

    g = make_github(world.gh.issue_token(INST), world.gh.api_url)
    run_id = CheckRun(g.get_repo(REPO), sha, job_id).start()
    world.state.start_job(job_id, {"installation_id": INST, "repo": REPO, "pr": 7, "head_sha": sha, "gen": gen,
                                   "check_run_id": run_id}, deadline=0)
    assert tasks.reap_overdue() == 1
    [check] = world.gh.check_runs(REPO)
    assert check["conclusion"] == "failure" and "worker stopped" in check["output"]["summary"]
    # the hard-time-limit hook (run by Celery in the pool's parent)
    gen2 = world.state.bump(REPO, 7, sha)
    CheckRun(g.get_repo(REPO), sha, f"{REPO}#7@{sha}#{gen2}").start()
    tasks.analyze_pull_request.on_failure(TimeLimitExceeded(10), "id", (), {
        "installation_id": INST, "repo": REPO, "pr": 7, "head_sha": sha, "gen": gen2}, None)
    assert [c["status"] for c in world.gh.check_runs(REPO)] == ["completed", "completed"]
    assert "hard time limit" in world.gh.check_runs(REPO)[1]["output"]["summary"]


def test_a_started_job_schedules_its_own_reaper_so_a_killed_job_is_completed_without_beat(world):
    hard = tasks.settings.hard_time_limit_s

    def killed(kwargs):  # the process is killed: no except clause, no on_failure (e.g. OOM, SIGKILL)
        raise KeyboardInterrupt

    world.result = killed
    gen = world.state.bump(REPO, 7, world.pr["head_sha"])
    with pytest.raises(KeyboardInterrupt):
        run(world, gen=gen)
    [job_id] = world.state.overdue_jobs(now=1e12)
    deadline_in = world.state.job(job_id)["deadline"] - time.time()
    [countdown] = world.reapers  # scheduled when the job started, not by beat
    assert countdown > hard and countdown >= deadline_in + 10
    [check] = world.gh.check_runs(REPO)
    assert check["status"] == "in_progress"
    assert tasks.reap_stale_jobs.run() == 0  # before the deadline the reaper leaves a live job alone
    world.state.start_job(job_id, world.state.job(job_id), deadline=time.time() - 1)  # ...the countdown passed
    assert tasks.reap_stale_jobs.run() == 1
    [check] = world.gh.check_runs(REPO)
    assert check["conclusion"] == "failure" and "worker stopped" in check["output"]["summary"]
    # Celery delivers the job again (acks_late): its own run is completed, and a completed run is
    # final, so the result goes to a new run of the commit; the reaper's run is left as it is
    world.result = lambda kwargs: JobResult([fake_report(conclusion="success", head_sha=kwargs["pull"].head_sha)])
    assert run(world, gen=gen) == "success"
    first, latest = world.gh.check_runs(REPO)
    assert first == check and (latest["conclusion"], latest["external_id"]) == ("success", job_id)
    assert world.gh.violations == []


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


def test_job_of_a_removed_repository_is_dropped_before_start(world):
    sha = world.pr["head_sha"]
    world.state.set_repo_removed(INST, REPO, True)  # installation_repositories.removed arrived meanwhile
    before = len(world.gh.requests)
    assert run(world) == "repository removed from the installation"
    assert world.gh.requests[before:] == [] and world.calls == []  # not even a token was minted
    world.state.set_repo_removed(INST, REPO, False)
    world.state.set_suspended(INST, True)  # the installation was suspended (or deleted)
    assert run(world, sha=sha) == "installation suspended or deleted"
    assert world.gh.requests[before:] == [] and world.gh.check_runs(REPO) == []


def test_repository_removed_while_analysing_publishes_nothing(world):
    def removed_meanwhile(kwargs):
        world.state.set_repo_removed(INST, REPO, True)
        return JobResult([fake_report(head_sha=kwargs["pull"].head_sha)])

    world.result = removed_meanwhile
    assert run(world) == "repository removed from the installation"
    assert world.gh.comments(REPO, 7) == []
    assert world.gh.requests_for("PATCH", r"/check-runs/\d+$") == []  # the check run is not touched either
    assert world.state.overdue_jobs(now=1e12) == []  # and the reaper will not try to
    # a job of that repository the reaper finds later is let go without calling GitHub
    job = f"{REPO}#7@{'9' * 40}#1"
    world.state.start_job(job, {"installation_id": INST, "repo": REPO, "pr": 7, "head_sha": "9" * 40, "gen": 1},
                          deadline=0)
    before = len(world.gh.requests)
    assert tasks.reap_overdue() == 0
    assert world.gh.requests[before:] == [] and world.state.job(job) is None


def test_a_commit_whose_worker_keeps_dying_fails_instead_of_looping(world):
    """Celery hands a job whose worker died back to the queue (acks_late): after
    MAX_WORKER_DEATHS such deaths the next delivery completes the check run with a failure."""
    sha = world.pr["head_sha"]
    gen = world.state.bump(REPO, 7, sha)
    job_id = f"{REPO}#7@{sha}#{gen}"
    world.state.attempt(job_id)  # one delivery started and never finished: still analysed
    assert run(world, gen=gen) == "failure" and len(world.calls) == 1
    gen = world.state.bump(REPO, 7, sha)
    job_id = f"{REPO}#7@{sha}#{gen}"
    for _ in range(tasks.MAX_WORKER_DEATHS):
        world.state.attempt(job_id)
    assert run(world, gen=gen) == "worker died"
    assert len(world.calls) == 1  # not analysed once more
    latest = world.gh.check_runs(REPO, sha)[-1]
    assert (latest["status"], latest["conclusion"], latest["external_id"]) == ("completed", "failure", job_id)
    assert f"The worker stopped {tasks.MAX_WORKER_DEATHS} times" in latest["output"]["summary"]
    assert "/meshdiff rerun" in latest["output"]["summary"]
    assert world.state.overdue_jobs(now=1e12) == [] and len(world.gh.comments(REPO, 7)) == 1


def test_nothing_to_analyse_is_neutral_and_quiet(world):
    world.result = lambda kwargs: JobResult(nothing="This pull request changes no file of the dbt project(s).")
    assert run(world) == "neutral"
    [check] = world.gh.check_runs(REPO)
    assert check["conclusion"] == "neutral" and world.gh.comments(REPO, 7) == []


def test_commands(world, monkeypatch):
    gh = world.gh
    sent = []
    monkeypatch.setattr(tasks.analyze_pull_request, "apply_async", lambda kwargs: sent.append(kwargs))
    gh.set_permission(REPO, "alice", "write")
    gh.set_permission(REPO, "bob", "read")

    def command(user, body, name, **kw):
        c = gh.add_comment(REPO, 7, body, user=user)
        return tasks.handle_command.run(installation_id=INST, repo=REPO, pr=7, comment_id=c["id"], user=user,
                                        command=name, **kw)

    assert command("alice", "/meshdiff rerun", "rerun") == "rerun"
    assert sent and sent[0]["head_sha"] == world.pr["head_sha"] and sent[0]["gen"] == 1
    assert command("bob", "/meshdiff rerun", "rerun") == "denied"
    assert "need write access" in gh.comments(REPO, 7)[-1]["body"]
    assert command("alice", "/meshdiff help", "help") == "help"
    assert "/meshdiff rerun" in gh.comments(REPO, 7)[-1]["body"]
    assert command("alice", "/meshdiff rerunn", "unknown", suggestion="/meshdiff rerun",
                   typed="/meshdiff rerunn") == "unknown"
    assert "Did you mean `/meshdiff rerun`?" in gh.comments(REPO, 7)[-1]["body"]
    assert len(sent) == 1
    reactions = [r["json"]["content"] for r in gh.requests_for("POST", r"/reactions$")]
    assert reactions == ["rocket", "confused", "+1", "confused"]


def test_fork_gate():
    from types import SimpleNamespace as NS

    def pull(head, base, assoc):
        return NS(head=NS(repo=NS(full_name=head) if head else None), base=NS(repo=NS(full_name=base)),
                  author_association=assoc)

    assert tasks.untrusted_fork(pull("mallory/shop-dbt", REPO, "CONTRIBUTOR"))
    assert tasks.untrusted_fork(pull("mallory/shop-dbt", REPO, "FIRST_TIME_CONTRIBUTOR"))
    assert tasks.untrusted_fork(pull(None, REPO, "MEMBER"))  # the fork was deleted
    assert not tasks.untrusted_fork(pull("alice/shop-dbt", REPO, "MEMBER"))
    assert not tasks.untrusted_fork(pull(REPO, REPO, "NONE"))  # a branch of the repository itself
    assert "/meshdiff rerun" in tasks.fork_gate_text("a" * 40)


def test_failure_while_github_is_down_is_finished_by_the_reaper(world):
    def boom(kwargs):
        world.gh.fail_next("PATCH", r"/check-runs/\d+$", 503, times=5)  # GitHub down when reporting it
        raise RuntimeError("kaput")

    world.result = boom
    assert run(world) == "failed"
    [check] = world.gh.check_runs(REPO)
    assert check["status"] == "in_progress" and world.reapers[-1] == 330
    [job_id] = world.state.overdue_jobs(now=1e12)
    assert "internal error" in world.state.job(job_id)["why"]
    assert tasks.reap_overdue() == 0  # not overdue yet
    world.state.start_job(job_id, world.state.job(job_id), deadline=0)
    assert tasks.reap_overdue() == 1
    [check] = world.gh.check_runs(REPO)
    assert check["conclusion"] == "failure" and "internal error" in check["output"]["summary"]


def test_reaper_gives_up_after_bounded_tries(world):
    job = f"{REPO}#7@{'9' * 40}#1"
    world.state.start_job(job, {"installation_id": 404, "repo": REPO, "pr": 7, "head_sha": "9" * 40, "gen": 1,
                                "reap_tries": tasks.MAX_REAP_TRIES}, deadline=0)
    assert tasks.reap_overdue() == 0  # installation 404 does not exist: minting fails
    assert world.state.job(job) is None and world.state.overdue_jobs(now=1e12) == []
