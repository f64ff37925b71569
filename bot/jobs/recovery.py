"""What a worker mends on its own, without beat: dead jobs, lost state, leftover folders.

:class:`Watch` is a thread of every worker's main process; it ticks when the worker starts and
every ``MESHDIFF_WATCH_INTERVAL_S`` seconds (15) after:

- **heartbeat**: ``worker:{node}`` names the worker instance running under that node name;
- **dead jobs** (:func:`recover_jobs`): a running job whose lease lapsed (its worker was killed:
  the lease is renewed every few seconds while the job runs) or whose holder is known dead (its
  worker restarted under the same name, or its pool process is gone) runs again at once: its
  message is taken back from the broker's unacknowledged set (no wait for the visibility
  timeout) or sent again, and the new execution continues on the same check run. After
  ``MAX_WORKER_DEATHS`` deaths the check run fails with the reason instead. A job past its
  deadline fails; a failure GitHub did not take is sent again;
- **lost state**: Redis' ``epoch`` key vanished: Redis restarted without its data. It is logged,
  and reconciled at once;
- **reconciliation** (:func:`reconcile`): when the worker starts, every
  ``MESHDIFF_RECONCILE_INTERVAL_S`` (900) and after a state loss, one worker lists the open PRs
  of every installed repository; a PR whose head commit has no completed ``meshdiff / impact``
  run and no queued or running job gets one (its queued job was lost, or its webhook was);
- **leftovers** (:func:`remove_leftover_workspaces`): work dirs of jobs whose process is gone.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from typing import Callable

from bot.ids import is_sha
from bot.jobs.job import (MAX_WORKER_DEATHS, WORKSPACE_MARK, WORKSPACE_PREFIX, Job, WorkerContext, owner_alive)
from bot.jobs.state import LEASE_TTL_S, PREFIX, Owner

log = logging.getLogger("meshdiff.recovery")

WATCH_INTERVAL_S = float(os.environ.get("MESHDIFF_WATCH_INTERVAL_S", "15") or 15)
RECONCILE_INTERVAL_S = float(os.environ.get("MESHDIFF_RECONCILE_INTERVAL_S", "900") or 900)
#: a work dir without a readable mark is removed once it is this old
UNMARKED_WORKSPACE_AGE_S = 3600.0
CHECK_NAME = "meshdiff / impact"


def recover_jobs(ctx: WorkerContext, requeue: Callable[[dict], None], *, now: float | None = None) -> dict[str, int]:
    """Act on every registered job that needs it; returns counts by action."""
    state, me = ctx.state, ctx.me()
    now = time.time() if now is None else now
    done = {"requeued": 0, "failed": 0}
    ids = state.jobs()
    for job_id, holder in zip(ids, state.leases(ids)):
        record = state.job(job_id)
        if record is None:
            state.finish_job(job_id)  # a registry entry without its record: nothing to act on
            continue
        kind = record.get("state", "running")
        if kind == "failing":
            if now >= float(record.get("retry_at", 0)) and state.claim_job(job_id, record):
                done["failed"] += Job.from_record(ctx, record).fail(record.get("why") or "The analysis failed.")
            continue
        if holder is not None and owner_alive(state, holder, me):
            if kind == "running" and now > float(record.get("deadline", float("inf"))) and \
                    state.claim_job(job_id, record):  # alive but stuck past its time limits
                hard = int(ctx.settings.hard_time_limit_s)
                done["failed"] += Job.from_record(ctx, record).fail(
                    f"The analysis did not end within its time limit ({hard} s) and was given up.")
            continue
        if kind == "retrying" and now < float(record.get("retry_at", 0)) + 2 * LEASE_TTL_S:
            continue  # waiting for its retry: no lease meanwhile
        if kind == "requeued":
            continue  # already sent again: it waits in the queue (the reconciliation covers a loss)
        deaths = int(record.get("deaths", 0)) + 1
        claimed = {**record, "state": "requeued", "deaths": deaths, "requeued_at": now}
        if not state.claim_job(job_id, claimed):
            continue  # another worker took it
        log.warning("job %s lost its worker (%s); %s", job_id, holder or "lease expired",
                    "failing it" if deaths >= MAX_WORKER_DEATHS else "running it again")
        if deaths >= MAX_WORKER_DEATHS:
            done["failed"] += Job.from_record(ctx, claimed).fail(
                f"The worker stopped {deaths} times while analysing this commit (killed or out of memory).")
        else:
            state.register_job(job_id, claimed, now + ctx.settings.visibility_timeout_s)
            requeue(claimed)
            done["requeued"] += 1
    return done


def remove_leftover_workspaces(ctx: WorkerContext) -> int:
    """Remove the work dirs of jobs whose process is gone (killed jobs leave theirs)."""
    removed = 0
    try:
        entries = list(os.scandir(ctx.work_dir))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(WORKSPACE_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        try:
            with open(os.path.join(entry.path, WORKSPACE_MARK), encoding="utf-8") as handle:
                mark = json.load(handle)
            owner, job_id = Owner.parse(mark.get("owner")), str(mark.get("job"))
        except (OSError, ValueError, AttributeError):
            owner = job_id = None
        if owner is None:
            try:
                if time.time() - entry.stat(follow_symlinks=False).st_mtime < UNMARKED_WORKSPACE_AGE_S:
                    continue  # being created right now
            except OSError:
                continue
        elif _pid_alive(owner.pid) and ctx.state.lease(job_id) in (str(owner), None):
            continue  # its job runs (a lease missing for a moment after a Redis restart included)
        shutil.rmtree(entry.path, ignore_errors=True)
        log.info("removed the leftover work dir %s (%s)", entry.path, job_id or "unmarked")
        removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    """Work dirs are local to the worker's machine: the process that made one is on it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reconcile(ctx: WorkerContext, enqueue: Callable[[dict], None], *, max_prs_per_repo: int = 300) -> int:
    """Queue a job for every open PR whose head commit has no completed check run of this App and
    nothing queued or running; returns how many were queued."""
    from github.PaginatedList import PaginatedList
    from github.Repository import Repository

    state, queued = ctx.state, 0
    for installation in ctx.auth.integration().get_installations():
        inst_id = installation.id
        if getattr(installation, "suspended_at", None) or state.blocked(inst_id):
            continue
        gh, _ = ctx.github(inst_id)
        repos = PaginatedList(Repository, gh.requester, "/installation/repositories", None,
                              list_item="repositories")
        for repo in repos:
            if state.blocked(inst_id, repo.full_name):
                continue
            for n, pull in enumerate(repo.get_pulls(state="open")):
                if n >= max_prs_per_repo:
                    break
                sha = pull.head.sha
                if pull.draft or not is_sha(sha) or state.pending(repo.full_name, pull.number, sha):
                    continue
                if _has_completed_run(repo, sha, ctx.settings.app_id):
                    continue
                gen = state.bump(repo.full_name, pull.number, sha)
                log.warning("reconcile: %s#%d has no completed check run for %s: queueing it", repo.full_name,
                            pull.number, sha[:7])
                enqueue(dict(installation_id=inst_id, repo=repo.full_name, pr=pull.number, head_sha=sha, gen=gen,
                             delivery="", trigger="reconcile"))
                queued += 1
    return queued


def _has_completed_run(repo, sha: str, app_id: str) -> bool:
    from github.CheckRun import CheckRun
    from github.PaginatedList import PaginatedList

    params: dict = {"check_name": CHECK_NAME, "filter": "all"}
    if str(app_id).strip().isdigit():
        params["app_id"] = int(app_id)
    runs = PaginatedList(CheckRun, repo._requester, f"{repo.url}/commits/{sha}/check-runs", params,
                         list_item="check_runs")
    return any(run.status == "completed" for run in runs)


class Watch:
    """The worker's own periodic checks (see the module docstring); no beat needed."""

    def __init__(self, ctx: WorkerContext, *, requeue: Callable[[dict], None], enqueue: Callable[[dict], None],
                 interval: float = WATCH_INTERVAL_S, reconcile_every: float = RECONCILE_INTERVAL_S):
        self.ctx, self.requeue, self.enqueue = ctx, requeue, enqueue
        self.interval, self.reconcile_every = interval, reconcile_every
        self.epoch: str | None = None
        self._stop = threading.Event()
        self._reconciling = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> "Watch":
        self._thread = threading.Thread(target=self._run, daemon=True, name="meshdiff-watch")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        starting = True
        while not self._stop.is_set():
            try:
                self.tick(starting=starting)
                starting = False
            except Exception:  # Redis down or restarting: try again at the next tick
                log.exception("watch: tick failed")
            self._stop.wait(self.interval)

    def tick(self, *, starting: bool = False) -> None:
        ctx, state = self.ctx, self.ctx.state
        state.heartbeat(ctx.owner.node, ctx.owner.instance, ctx.sandbox)
        epoch, created = state.ensure_epoch()
        lost = self.epoch is not None and (created or epoch != self.epoch)
        if lost:
            log.error("Redis lost its data (restarted without persistence?): queued jobs are gone; "
                      "reconciling with GitHub now. Set `appendonly yes` on Redis.")
        self.epoch = epoch
        recover_jobs(ctx, self.requeue)
        remove_leftover_workspaces(ctx)
        lock = state.r.set(f"{PREFIX}reconcile", ctx.owner.instance, nx=True, ex=int(self.reconcile_every))
        if lock or lost:
            # after a loss, running jobs first put back their pending marks (within a lease renewal)
            self.reconcile_soon(delay=LEASE_TTL_S if lost else 0.0)

    def reconcile_soon(self, delay: float = 0.0) -> None:
        """Reconcile in a thread of its own (it makes many GitHub requests): ticks go on."""
        def run():
            if self._stop.wait(delay) or not self._reconciling.acquire(blocking=False):
                return
            try:
                n = reconcile(self.ctx, self.enqueue)
                log.info("reconcile: %d pull request(s) queued", n)
            except Exception:
                log.exception("reconcile failed")
            finally:
                self._reconciling.release()

        threading.Thread(target=run, daemon=True, name="meshdiff-reconcile").start()
