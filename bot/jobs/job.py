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

The steps are here; the endings in :mod:`bot.jobs.endings` (:class:`~bot.jobs.endings.JobEndings`),
what a running job holds (its lease, results by content, its work dir) in :mod:`bot.jobs.holdings`,
the worker's context in :mod:`bot.jobs.worker`.
"""
from __future__ import annotations

import logging
import time

from bot.ids import JobId
from bot.jobs.endings import DEADLINE_MARGIN_S, FAIL_RETRY_S, MAX_FAIL_TRIES, JobEndings, Stop  # noqa: F401
from bot.jobs.holdings import (  # noqa: F401  (read here by bot.jobs.recovery and the tests)
    WORKSPACE_MARK, WORKSPACE_PREFIX, LeaseKeeper, ResultCache, job_workspace,
)
from bot.jobs.worker import WorkerContext, owner_alive  # noqa: F401
from bot.result import JobResult

log = logging.getLogger("meshdiff.job")

#: executions of one job that died with their worker before it fails instead of running again
MAX_WORKER_DEATHS = 2
#: author associations whose fork PRs are analysed without a maintainer's go-ahead
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


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


class Job(JobEndings):
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
