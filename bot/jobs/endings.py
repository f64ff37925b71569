"""How a job ends: its check run always completes (a failure says what to do), or the task is retried.

:class:`JobEndings` is the part of :class:`bot.jobs.job.Job` that wraps its steps
(:meth:`~JobEndings.running`): a :class:`Stop` sets the outcome, a transient GitHub failure
retries the task with the job marked as waiting, anything else completes the check run with a
failure (:meth:`~JobEndings.fail`; when GitHub cannot take it, the job stays registered as
failing and the recovery tries again); then the job leaves the registry and gives its lease back.
"""
from __future__ import annotations

import contextlib
import logging
import time

from analysis import errors as _errors

log = logging.getLogger("meshdiff.job")

#: a running job is overdue this long after its hard time limit (time for on_failure to report)
DEADLINE_MARGIN_S = 120.0
#: a check run GitHub would not take is completed again this often, this many times
FAIL_RETRY_S = 300.0
MAX_FAIL_TRIES = 12


class Stop(Exception):
    """A step ended the job; ``outcome`` says how (the task's return value)."""

    def __init__(self, outcome: str):
        super().__init__(outcome)
        self.outcome = outcome


class JobEndings:
    """The endings of a :class:`~bot.jobs.job.Job` (whose attributes they use: ``ctx``, ``id``,
    ``state``, ``record``, ``keeper``, ``check``, ...)."""

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
