"""What a worker mends on its own (bot.jobs.recovery), in this process against the stand-in
GitHub and a real Redis: dead jobs, lost state, leftover work dirs, reconciliation with GitHub.
The drills (``python -m bench.drills``, and tests/test_e2e_app.py) do it with real processes."""
import json
import os
import subprocess
import sys
import time

from bot.jobs.job import WORKSPACE_MARK, WORKSPACE_PREFIX
from bot.jobs.recovery import Watch, reconcile, recover_jobs, remove_leftover_workspaces
from bot.jobs.state import Owner
from tests.app_fixtures import (fake_report, job_world, redis_state, redis_url, standin_github,  # noqa: F401
                                standin_openapi)

REPO, INST, PR = "octo-org/shop-dbt", 61, 7


def _running(w, gen, owner: Owner, *, deadline=None):
    job = w.job_id(gen)
    w.state.register_job(job, {"installation_id": INST, "repo": REPO, "pr": PR, "head_sha": w.sha, "gen": gen,
                               "state": "running", "deaths": 0}, deadline or time.time() + 3600)
    w.state.take_lease(job, str(owner))
    return job


def test_a_worker_restarted_under_its_name_gets_its_jobs_run_again_at_once(job_world):
    """The whole worker was SIGKILLed and started again: its heartbeat names a new instance, so
    its jobs are known dead without waiting for their leases to lapse."""
    w = job_world
    gen = w.request()
    job = _running(w, gen, Owner("worker@box", "before", 1))
    requeued = []
    w.state.heartbeat("worker@box", "before")
    assert recover_jobs(w.ctx, requeued.append) == {"requeued": 0, "failed": 0}  # alive: left alone
    w.state.heartbeat("worker@box", "after")  # the new worker under the same name
    assert recover_jobs(w.ctx, requeued.append) == {"requeued": 1, "failed": 0}
    assert [r["gen"] for r in requeued] == [gen] and w.state.job(job)["deaths"] == 1
    # the job runs again, takes over the dead holder's lease, and its run is the commit's only one
    assert w.run(gen) == "failure" and len(w.runs()) == 1 and w.state.jobs() == []


def test_a_dead_pool_process_of_this_worker_is_seen_at_once(job_world):
    w = job_world
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    job = _running(w, w.request(), Owner(w.ctx.owner.node, w.ctx.owner.instance, child.pid))
    requeued = []
    assert recover_jobs(w.ctx, requeued.append)["requeued"] == 1 and w.state.job(job)["state"] == "requeued"


def test_a_lapsed_lease_is_a_dead_job_and_a_job_waiting_for_a_retry_is_not(job_world):
    w = job_world
    gen = w.request()
    job = _running(w, gen, Owner("worker@far", "x", 1))
    requeued = []
    assert recover_jobs(w.ctx, requeued.append)["requeued"] == 0  # its lease runs
    w.state.r.delete(f"meshdiff:lease:{job}")  # ... until it lapses: the worker is gone
    assert recover_jobs(w.ctx, requeued.append)["requeued"] == 1
    w.state.finish_job(job)
    w.state.register_job(job, {"installation_id": INST, "repo": REPO, "pr": PR, "head_sha": w.sha, "gen": gen,
                               "state": "retrying", "retry_at": time.time() + 60}, time.time() + 9999)
    assert recover_jobs(w.ctx, requeued.append)["requeued"] == 0  # no lease while it waits: fine
    assert recover_jobs(w.ctx, requeued.append, now=time.time() + 600)["requeued"] == 1  # its retry never came


def test_a_job_stuck_past_its_deadline_fails(job_world):
    from bot.github.checks import CheckRun
    from bot.github.client import make_github

    w = job_world
    gen = w.request()
    g = make_github(w.gh.issue_token(INST), w.gh.api_url)
    CheckRun(g.get_repo(REPO), w.sha, w.job_id(gen)).start()
    _running(w, gen, w.ctx.me(), deadline=time.time() - 1)
    assert recover_jobs(w.ctx, print) == {"requeued": 0, "failed": 1}
    [check] = w.runs()
    assert check["conclusion"] == "failure" and "time limit" in check["output"]["summary"]


def _workspace(w, name, owner, job):
    path = os.path.join(w.work_dir, WORKSPACE_PREFIX + name)
    os.makedirs(os.path.join(path, "tmp"))
    with open(os.path.join(path, WORKSPACE_MARK), "w") as mark:
        json.dump({"job": job, "owner": str(owner)}, mark)
    return path


def test_a_starting_worker_removes_the_work_dirs_of_jobs_that_no_longer_run(job_world):
    w = job_world
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = _workspace(w, "dead", Owner("n", "i", gone.pid), "job-dead")
    me = w.ctx.me()
    w.state.take_lease("job-live", str(me))
    live = _workspace(w, "live", me, "job-live")
    stolen = _workspace(w, "stolen", me, "job-stolen")
    w.state.take_lease("job-stolen", str(Owner("other", "j", 1)))  # another worker runs that job now
    unmarked = os.path.join(w.work_dir, WORKSPACE_PREFIX + "unmarked")
    os.makedirs(unmarked)
    os.utime(unmarked, (time.time() - 7200, time.time() - 7200))
    other = os.path.join(w.work_dir, "not-ours")
    os.makedirs(other)
    assert remove_leftover_workspaces(w.ctx) == 3
    assert sorted(os.listdir(w.work_dir)) == sorted([os.path.basename(live), "not-ours"])
    assert not os.path.exists(dead) and not os.path.exists(stolen)
    os.rmdir(other)
    w.state.release_lease("job-live", str(me))
    assert os.path.isdir(live)  # the lease may be missing for a moment (a Redis restart): its process decides
    import shutil
    shutil.rmtree(live)


def test_reconciliation_queues_open_prs_without_a_completed_run(job_world):
    w = job_world
    gh = w.gh
    gh.commit(REPO, "second", {"shop/models/orders.sql": "select 5 as amount\n"})
    gh.open_pull(REPO, 8, head_branch="second")
    gh.commit(REPO, "wip", {"shop/models/orders.sql": "select 6 as amount\n"})
    gh.open_pull(REPO, 9, head_branch="wip", draft=True)  # drafts are analysed when marked ready
    sent = []
    assert reconcile(w.ctx, sent.append) == 2  # PR 7 and PR 8: no run at all (their deliveries were lost)
    assert sorted(s["pr"] for s in sent) == [7, 8] and all(s["trigger"] == "reconcile" for s in sent)
    assert w.state.pending(REPO, PR, w.sha)
    assert reconcile(w.ctx, sent.append) == 0  # queued now: not again
    # once PR 7's job ran, its head has a completed run: left alone even when nothing is pending
    [seven] = [s for s in sent if s["pr"] == 7]
    assert w.run(seven["gen"]) == "failure"
    w.state.r.flushdb()  # and Redis forgets everything
    sent.clear()
    assert reconcile(w.ctx, sent.append) == 1 and [s["pr"] for s in sent] == [8]


def test_the_watch_beats_recovers_and_reconciles_after_redis_lost_its_data(job_world, monkeypatch):
    import bot.jobs.recovery as recovery

    w = job_world
    calls = []
    monkeypatch.setattr(recovery, "reconcile", lambda ctx, enqueue: calls.append("reconcile") or 0)
    monkeypatch.setattr(recovery, "LEASE_TTL_S", 0.5)  # how long it lets running jobs put their marks back
    watch = Watch(w.ctx, requeue=print, enqueue=print, reconcile_every=3600)
    watch.tick(starting=True)
    _wait(lambda: calls == ["reconcile"])  # at start (nobody reconciled within the interval)
    assert w.state.worker_instance(w.ctx.owner.node) == w.ctx.owner.instance
    watch.tick()
    time.sleep(0.2)
    assert calls == ["reconcile"]  # not before the interval
    w.state.r.flushdb()  # Redis restarted without persistence
    watch.tick()
    _wait(lambda: calls == ["reconcile", "reconcile"])
    assert w.state.worker_instance(w.ctx.owner.node) == w.ctx.owner.instance


def _wait(predicate, timeout=30):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_dead_worker_s_message_is_taken_back_from_the_broker_at_once(redis_state):
    """The message a killed worker held stays in kombu's ``unacked`` hash until the visibility
    timeout (hours): the recovery puts it back at the head of the queue instead."""
    from bot.celeryapp import QUEUE, TASK_ANALYZE, make_celery
    from bot.tasks import _restore_unacked
    from tests.app_fixtures import queued, settings_for

    celery = make_celery(settings_for())
    kwargs = {"installation_id": 1, "repo": REPO, "pr": PR, "head_sha": "c" * 40, "gen": 5}
    celery.send_task(TASK_ANALYZE, kwargs=kwargs)
    celery.send_task(TASK_ANALYZE, kwargs={**kwargs, "pr": 8})
    code = ("import sys, time; from bot.celeryapp import make_celery; from bot.settings import Settings; "
            f"conn = make_celery(Settings(redis_url={settings_for().redis_url!r})).connection_for_read(); "
            f"m = conn.default_channel.basic_get({QUEUE!r}, no_ack=False); print(m is not None, flush=True); "
            "time.sleep(600)")
    worker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:  # a worker takes the first message and is killed
        assert worker.stdout.readline().strip() == "True"
    finally:
        worker.kill()
        worker.wait()
    assert redis_state.r.hlen("unacked") == 1
    assert [kw["pr"] for _, kw in queued(redis_state)] == [8]
    job_id = f"{REPO}#{PR}@{'c' * 40}#5"
    assert not _restore_unacked(f"{REPO}#{PR}@{'c' * 40}#6", celery)  # not that job
    assert _restore_unacked(job_id, celery)
    assert redis_state.r.hlen("unacked") == 0
    assert [kw["pr"] for _, kw in queued(redis_state)] == [PR, 8]  # back at the head: the next one out
