"""One analysis job: the steps ``bot.tasks.analyze_pull_request`` runs, in order.

1. :meth:`Job.admit`: drop it when the App lost access, a newer run of the commit exists or the
   PR moved on; take the job's *lease* (renewed every few seconds while it runs: a job whose
   lease lapses has lost its worker, see ``bot.jobs.recovery``); count the deaths of earlier
   executions (a job that keeps killing its worker fails instead of looping).
2. :meth:`Job.claim_check_run`: the commit's one check run ``in_progress``: the job's own (a
   retry, or a re-run after its worker died), an open one of an older run of the commit taken
   over, or a new one; a fork PR by an outsider waits for a maintainer instead.
3. :meth:`Job.analyse`: the result this job already computed (a retried publish), a result
   computed for the same inputs by any job (by content, see ``bot.jobs.runner.inputs_key``), or
   the analysis itself, in a work dir of its own (temporary files included).
4. :meth:`Job.publish`: the impact page, the sticky comment and the check run, unless the PR moved on (the run is
   ``cancelled``) or a newer run of the commit was requested meanwhile (it takes the run over and
   reuses this result: one run and one analysis per commit).

:meth:`Job.running` wraps the steps: whatever happens, the check run ends (a failure with what to
do), or the task is retried (GitHub 5xx, 429, rate limits) with the job marked as waiting.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field

from analysis import errors as _errors
from bot.ids import JobId
from bot.jobs.state import LEASE_RENEW_S, Owner, State
from bot.result import JobResult
from bot.settings import Settings

log = logging.getLogger("meshdiff.job")

#: executions of one job that died with their worker before it fails instead of running again
MAX_WORKER_DEATHS = 2
#: a running job is overdue this long after its hard time limit (time for on_failure to report)
DEADLINE_MARGIN_S = 120.0
#: a check run GitHub would not take is completed again this often, this many times
FAIL_RETRY_S = 300.0
MAX_FAIL_TRIES = 12
WORKSPACE_PREFIX = "meshdiff-job-"
WORKSPACE_MARK = ".meshdiff-job"
#: author associations whose fork PRs are analysed without a maintainer's go-ahead
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


class Stop(Exception):
    """A step ended the job; ``outcome`` says how (the task's return value)."""

    def __init__(self, outcome: str):
        super().__init__(outcome)
        self.outcome = outcome


@dataclass
class WorkerContext:
    """What a worker process holds: its settings, Redis, the App's credentials, who it is."""

    settings: Settings
    owner: Owner = field(default_factory=lambda: Owner("worker", uuid.uuid4().hex[:12], os.getpid()))
    _state: State | None = None
    _auth: object | None = None
    #: whether this worker can fence PR code in (``bot.tasks.sandbox_status``), sent with its heartbeat
    sandbox: dict | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def state(self) -> State:
        if self._state is None:
            self._state = State.from_url(self.settings.redis_url)
        return self._state

    @property
    def auth(self):
        from bot.github import AppAuthenticator

        with self._lock:
            if self._auth is None:
                self.settings.require_app_credentials()
                self._auth = AppAuthenticator(self.settings.app_id, self.settings.private_key,
                                              self.settings.github_api_url)
            return self._auth

    def me(self) -> Owner:
        """This process as a job owner (a pool process forked from the worker has its own pid)."""
        return Owner(self.owner.node, self.owner.instance, os.getpid())

    def github(self, installation_id: int):
        from bot.github import make_github

        token = self.auth.installation_token(installation_id)
        return make_github(token, self.settings.github_api_url), token

    def __post_init__(self) -> None:
        # fixed now: a job points the process' temporary folder into its own work dir meanwhile
        self.work_dir = self.settings.work_dir or os.path.join(tempfile.gettempdir(), "meshdiff-work")


def owner_alive(state: State, owner_text: str | None, me: Owner) -> bool:
    """Whether the process that holds a lease still runs: a worker that restarted under the same
    node name (its heartbeat names another instance) or a pool process of this worker that is gone
    (its pid) does not. Unknown: alive (the lease's expiry decides)."""
    owner = Owner.parse(owner_text)
    if owner is None:
        return False
    if owner.instance == me.instance:
        if owner.pid == me.pid:
            return True
        try:
            os.kill(owner.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    current = state.worker_instance(owner.node)
    return current is None or current == owner.instance


def untrusted_fork(pull) -> bool:
    """A PR whose code comes from another repository, by an author who is not a member or
    collaborator: its dbt project would be compiled (code execution) only after a maintainer's
    ``/meshdiff rerun`` (or the check's Re-run), bound to that head sha."""
    head_repo = getattr(pull.head, "repo", None)
    base_repo = getattr(pull.base, "repo", None)
    if head_repo is None or base_repo is None:
        return True  # the fork was deleted
    return head_repo.full_name != base_repo.full_name and pull.author_association not in TRUSTED_ASSOCIATIONS


def fork_gate_text(sha: str) -> str:
    return (f"This pull request comes from a fork by an outside contributor. meshdiff compiles the PR's dbt "
            f"code, so it waits for a maintainer: comment `/meshdiff rerun` (or click **Re-run** on this check) "
            f"to analyse `{sha[:7]}`. Each new push needs a new go-ahead.")


class LeaseKeeper:
    """Renews a job's lease every few seconds from a thread of the process running it, and puts
    back what Redis lost meanwhile (the job's record, its pending mark, the computing mark)."""

    def __init__(self, state: State, job_id: JobId, owner: str, record: dict):
        self.state, self.job_id, self.owner, self.record = state, job_id, owner, record
        self.computing: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"meshdiff-lease-{job_id.pr}")

    def start(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def renew(self) -> None:
        j = self.job_id
        try:
            if not self.state.renew(str(j), self.owner, self.record, computing=self.computing,
                                    pending=(j.repo, j.pr, j.sha, j.gen)):
                if not self.lost:
                    log.warning("job %s: another worker took its lease over", j)
                self.lost = True
        except Exception as exc:  # Redis restarting: try again at the next beat
            log.warning("job %s: lease not renewed (%s)", j, exc)

    def _run(self) -> None:
        while not self._stop.wait(LEASE_RENEW_S):
            self.renew()

    def stop(self) -> None:
        """Stop renewing; returns once a renewal under way is over (it cannot re-create the
        record of a job that just finished)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)


class ResultCache:
    """Results by the content of their inputs: a result already computed is reused, and while
    one job computes a content another job that needs it waits for it instead of computing twice."""

    def __init__(self, state: State, job_id: str, keeper: LeaseKeeper | None = None, *, poll_s: float = 2.0):
        self.state, self.job_id, self.keeper, self.poll_s = state, job_id, keeper, poll_s
        self.reused = False

    def get_or_compute(self, key: str, compute) -> JobResult:
        while True:
            stored = self.state.load_result(key)
            if stored is not None:
                log.info("job %s: inputs %s analysed before, reusing the result", self.job_id, key[:12])
                self.reused = True
                return JobResult.from_dict(stored)
            holder = self.state.claim_computing(key, self.job_id)
            if holder is None or holder == self.job_id:
                return self._compute(key, compute)
            log.info("job %s: job %s is analysing the same inputs, waiting for its result", self.job_id, holder)
            while self.state.computing(key) == holder and self.state.load_result(key) is None:
                time.sleep(self.poll_s)

    def _compute(self, key: str, compute) -> JobResult:
        if self.keeper is not None:
            self.keeper.computing = key
        try:
            result = compute()
            if result.complete:
                self.state.save_result(key, result.to_dict())
            return result
        finally:
            if self.keeper is not None:
                self.keeper.computing = None
            self.state.release_computing(key, self.job_id)


@contextlib.contextmanager
def job_workspace(work_dir: str, job_id: JobId, owner: str):
    """A folder for the job, marked with its id and owner (``bot.jobs.recovery`` removes the ones
    whose job no longer runs); temporary files of the analysis go inside it too."""
    os.makedirs(work_dir, exist_ok=True)
    ws = tempfile.mkdtemp(prefix=WORKSPACE_PREFIX, dir=work_dir)
    with open(os.path.join(ws, WORKSPACE_MARK), "w", encoding="utf-8") as mark:
        json.dump({"job": str(job_id), "owner": owner}, mark)
    tmp = os.path.join(ws, "tmp")
    os.makedirs(tmp)
    saved = (tempfile.tempdir, os.environ.get("TMPDIR"))
    tempfile.tempdir, os.environ["TMPDIR"] = tmp, tmp
    try:
        yield ws
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
        shutil.rmtree(ws, ignore_errors=True)


class Job:
    """One run of meshdiff for one commit (see the module docstring for the steps)."""

    def __init__(self, ctx: WorkerContext, job_id: JobId, installation_id: int, *, trigger: str = "",
                 delivery: str = "", approved: bool = False, retries: int = 0):
        self.ctx, self.id, self.installation_id = ctx, job_id, int(installation_id)
        self.trigger, self.delivery, self.approved, self.retries = trigger, delivery, approved, retries
        self.state = ctx.state
        self.outcome = ""
        self.record: dict = {}
        self.deaths = 0
        self.keeper: LeaseKeeper | None = None
        self.repo_obj = self.pull = self.check = None
        self.gh = self.token = None

    @classmethod
    def from_record(cls, ctx: WorkerContext, record: dict) -> "Job":
        job_id = JobId(record["repo"], int(record["pr"]), record["head_sha"], int(record.get("gen") or 0))
        job = cls(ctx, job_id, record["installation_id"], trigger=record.get("trigger", ""),
                  approved=bool(record.get("approved")))
        job.record = record
        return job

    def task_kwargs(self) -> dict:
        return dict(installation_id=self.installation_id, repo=self.id.repo, pr=self.id.pr, head_sha=self.id.sha,
                    gen=self.id.gen, delivery=self.delivery, trigger=self.trigger, approved=self.approved)

    # -- the steps ---------------------------------------------------------------------------
    def admit(self) -> None:
        """Stop unless this job should run now; take its lease and count earlier deaths."""
        j, state = self.id, self.state
        log.info("job %s (%s, delivery %s, attempt %s)", j, self.trigger, self.delivery, self.retries + 1)
        self._stop_if_blocked()
        newest = state.generation(j.repo, j.pr, j.sha)
        if newest is None:  # Redis forgot the commit's generation: that is not a newer run
            newest = state.restore_generation(j.repo, j.pr, j.sha, j.gen)
        if newest > j.gen:
            raise Stop("superseded before start")
        me = str(self.ctx.me())
        holder = state.lease(str(j))
        dead = holder if holder and not owner_alive(state, holder, self.ctx.me()) else None
        if not state.take_lease(str(j), me, replace=dead):
            raise Stop("running elsewhere")
        self.record = state.job(str(j)) or {}
        # a record still marked running: the execution before this one died with its worker
        self.deaths = int(self.record.get("deaths", 0)) + (self.record.get("state") == "running")
        self.record = {**self.record, **self.task_kwargs(), "state": "running", "owner": me, "deaths": self.deaths}
        self.keeper = LeaseKeeper(state, j, me, self.record).start()
        self.gh, self.token = self.ctx.github(self.installation_id)
        self.repo_obj = self.gh.get_repo(j.repo)
        self.pull = self.repo_obj.get_pull(j.pr)
        stale = self._moved_on()
        if stale:
            if self.record.get("check_run_id"):  # a job re-run after its worker died: end its run
                self._check().complete("cancelled", "Superseded", stale, create=False)
            self._finish()
            log.info("job %s is stale before start: %s", j, stale)
            raise Stop("stale")
        state.set_head(j.repo, j.pr, j.sha)

    def claim_check_run(self) -> None:
        """The commit's one check run, ``in_progress`` for this job (or the fork gate's verdict)."""
        check = self._check()
        if self.deaths >= MAX_WORKER_DEATHS:
            self.fail(f"The worker stopped {self.deaths} times while analysing this commit (killed or out of memory).")
            raise Stop("worker died")
        if not self.approved and untrusted_fork(self.pull):
            check.complete("action_required", "Waiting for a maintainer", fork_gate_text(self.pull.head.sha),
                           details_url=self.pull.html_url)
            self._finish()
            raise Stop("waiting for approval")
        run_id = check.start()
        if check.run.status == "completed" and check.run.external_id == str(self.id):
            self._finish()  # a second delivery of a job that already ended (its message came back)
            raise Stop("already finished")
        self.record["check_run_id"] = run_id
        deadline = time.time() + self.ctx.settings.hard_time_limit_s + DEADLINE_MARGIN_S
        self.record["deadline"] = deadline
        self.state.register_job(str(self.id), self.record, deadline)

    def analyse(self) -> JobResult:
        """This job's stored result, one for the same inputs, or the analysis itself."""
        from bot.jobs.runner import PullInfo, run_job

        stored = self.state.load_job_result(str(self.id))
        if stored is not None:
            return JobResult.from_dict(stored)
        settings, pull = self.ctx.settings, self.pull
        with job_workspace(self.ctx.work_dir, self.id, str(self.ctx.me())) as ws:
            self.record["workspace"] = ws
            result = run_job(gh=self.gh, token=self.token, web_url=settings.github_url, workspace=ws,
                             compile_timeout_s=settings.compile_timeout_s, installation_id=self.installation_id,
                             cache_key=settings.cache_key(self.installation_id),
                             results=ResultCache(self.state, str(self.id), self.keeper),
                             pull=PullInfo(repo=self.id.repo, number=self.id.pr, base_ref=pull.base.ref,
                                           base_sha=pull.base.sha, head_ref=pull.head.ref, head_sha=self.id.sha))
        self.state.save_job_result(str(self.id), result.to_dict())
        return result

    def publish(self, result: JobResult) -> None:
        """Comment and complete the check run, unless the PR or the commit's newest run moved on."""
        from bot.github import pr_thread, publish_result, publish_superseded
        from bot.page.store import store_page

        j = self.id
        self._stop_if_blocked()
        if self.keeper is not None and self.keeper.lost:
            raise Stop("taken over by another worker")
        self.pull = self.repo_obj.get_pull(j.pr)  # re-check right before publishing
        stale = self._moved_on()
        if stale:
            publish_superseded(self.check, stale)
            self._finish()
            raise Stop("superseded")
        newest = self.state.generation(j.repo, j.pr, j.sha)
        if newest is None:
            newest = self.state.restore_generation(j.repo, j.pr, j.sha, j.gen)
        if newest > j.gen:  # a rerun was requested meanwhile: it takes this run over and reuses the result
            log.info("job %s: a newer run of the commit was requested; it publishes this result", j)
            self._finish(pending=False)
            raise Stop("handed over to a newer run")
        settings = self.ctx.settings
        page_url = store_page(self.state.r, str(j), result.reports,
                              secret=settings.webhook_secret or settings.private_key)
        done = publish_result(thread=pr_thread(self.repo_obj, j.pr), check=self.check,
                              bot_login=self.ctx.auth.bot_login(), result=result, head_sha=j.sha,
                              page_url=page_url, pull=self.pull)
        self._finish()
        self.outcome = done["conclusion"]

    # -- endings ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def running(self, task=None):
        """Run the steps: a :class:`Stop` sets the outcome; a transient GitHub failure retries the
        task (``task.retry``); anything else completes the check run with a failure."""
        from celery.exceptions import SoftTimeLimitExceeded

        from bot.github import is_transient, retry_delay

        try:
            yield self
        except Stop as stop:
            self.outcome = stop.outcome
        except SoftTimeLimitExceeded:
            self.fail(f"The analysis took longer than {int(self.ctx.settings.job_timeout_s)} s and was stopped. "
                      "Large meshes may need a higher `MESHDIFF_JOB_TIMEOUT_S`.")
            self.outcome = "timed out"
        except _errors.INTERRUPTS:
            raise
        except Exception as exc:
            max_retries = getattr(task, "max_retries", 0) or 0
            if task is not None and is_transient(exc) and self.retries < max_retries:
                countdown = retry_delay(exc, self.retries)
                log.warning("job %s: transient GitHub failure (%s); retrying in %.0f s", self.id, exc, countdown)
                self._wait_for_retry(countdown)
                raise task.retry(exc=exc, countdown=countdown)
            log.exception("job %s failed", self.id)
            status = getattr(exc, "status", None)
            what = (f"GitHub kept failing (HTTP {status}) after {self.retries} retries." if is_transient(exc)
                    else f"meshdiff hit an internal error ({type(exc).__name__}{f', HTTP {status}' if status else ''}).")
            self.fail(what)
            self.outcome = "failed"
        finally:
            self._let_go()

    def fail(self, what: str) -> bool:
        """Complete the check run with ``failure`` and ``what``; True when GitHub took it. When
        GitHub is unreachable the job stays registered as failing and the recovery tries again."""
        from bot.github import publish_failure

        j = self.id
        blocked = self.state.blocked(self.installation_id, j.repo)
        if blocked:  # the App has no access any more: nothing to complete
            log.info("not completing the check run of %s: %s", j, blocked)
            self._finish()
            return False
        newest = self.state.generation(j.repo, j.pr, j.sha)
        superseded = newest is not None and newest > j.gen
        try:
            if self.gh is None:
                self.gh, self.token = self.ctx.github(self.installation_id)
                self.repo_obj = self.gh.withLazy(True).get_repo(j.repo)
            # a newer run of this commit reports: complete this job's own run if it has one, create none
            publish_failure(self._check(), what, create=not superseded)
        except Exception:
            log.exception("could not complete the check run of %s", j)
            tries = int(self.record.get("fail_tries", 0)) + 1
            if tries > MAX_FAIL_TRIES:  # e.g. the App was uninstalled: GitHub marks the run stale itself
                log.error("giving up on the check run of %s after %d tries", j, tries - 1)
                self._finish()
                return False
            retry_at = time.time() + FAIL_RETRY_S
            self.record = {**self.record, **self.task_kwargs(), "state": "failing", "why": what,
                           "fail_tries": tries, "retry_at": retry_at}
            self.state.register_job(str(j), self.record, retry_at)
            return False
        self._finish()
        return True

    def _wait_for_retry(self, countdown: float) -> None:
        """The job waits for a Celery retry: no lease meanwhile, the recovery leaves it alone."""
        retry_at = time.time() + countdown
        self.record = {**self.record, **self.task_kwargs(), "state": "retrying", "retry_at": retry_at}
        self.state.register_job(str(self.id), self.record,
                                retry_at + self.ctx.settings.hard_time_limit_s + DEADLINE_MARGIN_S)

    def _finish(self, *, pending: bool = True) -> None:
        """The job is over: out of the registry, its lease released, the commit no longer pending
        (``pending=False``: a newer run of the commit is waiting and keeps it pending)."""
        j = self.id
        if self.keeper is not None:
            self.keeper.stop()
        self.state.finish_job(str(j))
        if pending:
            self.state.clear_pending(j.repo, j.pr, j.sha, j.gen)

    def _let_go(self) -> None:
        """Stop renewing the lease and give it back (a record left ``running`` means the job did
        not end: the recovery sees it has no lease and runs it again)."""
        if self.keeper is not None:
            self.keeper.stop()
            self.state.release_lease(str(self.id), self.keeper.owner)

    # -- helpers ----------------------------------------------------------------------------
    def _stop_if_blocked(self) -> None:
        blocked = self.state.blocked(self.installation_id, self.id.repo)
        if blocked:  # installation_repositories removed, uninstalled, suspended
            log.info("job %s dropped: %s", self.id, blocked)
            self._finish()
            raise Stop(blocked)

    def _moved_on(self) -> str | None:
        pull, sha = self.pull, self.id.sha
        if pull.head.sha != sha:
            return f"The pull request's head moved from `{sha[:7]}` to `{pull.head.sha[:7]}`."
        if pull.state == "closed":
            return "The pull request was closed."
        return None

    def _check(self):
        from bot.github import CheckRun

        if self.check is None:
            settings = self.ctx.settings
            self.check = CheckRun(self.repo_obj, self.id.sha, str(self.id), details_url=settings.details_url,
                                  app_id=settings.app_id)
            run_id = self.record.get("check_run_id")
            if run_id:
                try:
                    self.check.attach(run_id)
                except _errors.INTERRUPTS:
                    raise
                except Exception:  # fall back to finding it by external_id
                    log.warning("check run %s of %s not found; looking it up", run_id, self.id)
        return self.check
