"""Celery tasks of the worker: ``celery -A bot.tasks worker`` (or ``meshdiff worker``).

``analyze_pull_request`` is one job (``bot.jobs.job``), step by step. The worker's own checks
(dead jobs, lost Redis state, reconciliation with GitHub, leftover work dirs) run in a thread of
its main process (``bot.jobs.recovery.Watch``): no beat is needed.

Access: when the App loses a repository (``installation_repositories`` removed, the installation
deleted or suspended; the web process records it in Redis), that repository's queued and running
jobs are dropped at start and again right before publishing: nothing more is sent to it.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys

from celery import Task, signals
from celery.exceptions import SoftTimeLimitExceeded

from analysis import errors as _errors
from bot.celeryapp import TASK_ANALYZE, TASK_COMMAND, make_celery, message_kwargs
from bot.ids import JobId
from bot.jobs import Job, Owner, Watch, WorkerContext
from bot.settings import load_settings, protect_worker

log = logging.getLogger("meshdiff.tasks")

if "worker" in sys.argv[1:]:  # a worker process (not an import by the tests or the web process)
    protect_worker()  # non-dumpable; re-executed without secrets in its environment when it had some
settings = load_settings()
# the secrets now live in `settings` only: nothing the worker starts (git, dbt) can inherit them
for _name in ("MESHDIFF_PRIVATE_KEY", "MESHDIFF_WEBHOOK_SECRET"):
    os.environ.pop(_name, None)
app = make_celery(settings)
# the soft time limit must reach the task body: broad handlers of the analysis re-raise it
_errors.register_interrupt(SoftTimeLimitExceeded)
ctx = WorkerContext(settings)


class JobTask(Task):
    """Completes the check run when a job fails outside the task body (hard time limit)."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):  # noqa: D401 - Celery hook
        if self.name != TASK_ANALYZE or not kwargs.get("head_sha"):
            return
        from celery.exceptions import TimeLimitExceeded

        if isinstance(exc, TimeLimitExceeded):
            what = (f"The analysis was stopped after {int(settings.hard_time_limit_s)} s (hard time limit). "
                    "Large meshes may need a higher `MESHDIFF_JOB_TIMEOUT_S`.")
        else:
            what = f"The worker failed unexpectedly ({type(exc).__name__})."
        job_id = JobId(kwargs["repo"], kwargs["pr"], kwargs["head_sha"], kwargs.get("gen", 0))
        Job(ctx, job_id, kwargs["installation_id"]).fail(what)


@app.task(name=TASK_ANALYZE, bind=True, base=JobTask, max_retries=6, acks_late=True)
def analyze_pull_request(self, installation_id: int, repo: str, pr: int, head_sha: str, gen: int = 0,
                         delivery: str = "", trigger: str = "", approved: bool = False) -> str:
    job = Job(ctx, JobId(repo, pr, head_sha, gen), installation_id, trigger=trigger, delivery=delivery,
              approved=approved, retries=self.request.retries)
    with job.running(self):
        job.admit()               # dropped, superseded, stale or running elsewhere: stops here
        job.claim_check_run()     # the commit's one check run, in progress for this job
        result = job.analyse()    # a result for the same inputs, or the analysis itself
        job.publish(result)       # sticky comment + check run (or handed to a newer run)
    return job.outcome


@app.task(name=TASK_COMMAND, bind=True, max_retries=5)
def handle_command(self, installation_id: int, repo: str, pr: int, comment_id: int, user: str, command: str,
                   suggestion: str | None = None, typed: str = "", delivery: str = "") -> str:
    from bot.commands import run_command
    from bot.github import is_transient, retry_delay

    blocked = ctx.state.blocked(installation_id, repo)
    if blocked:
        return blocked
    try:
        gh, _ = ctx.github(installation_id)
        return run_command(gh.get_repo(repo), pr, comment_id, user, command, suggestion=suggestion, typed=typed,
                           rerun=lambda sha: _rerun(installation_id, repo, pr, sha, delivery))
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=retry_delay(exc, self.request.retries))
        log.exception("command %s on %s#%s failed", command, repo, pr)
        return "failed"


def _rerun(installation_id: int, repo: str, pr: int, sha: str, delivery: str) -> None:
    ctx.state.set_head(repo, pr, sha)
    gen = ctx.state.bump(repo, pr, sha)
    analyze_pull_request.apply_async(kwargs=dict(installation_id=installation_id, repo=repo, pr=pr, head_sha=sha,
                                                 gen=gen, delivery=delivery, trigger="comment /meshdiff rerun",
                                                 approved=True))


# -- worker lifecycle ----------------------------------------------------------------------

def requeue(record: dict) -> None:
    """Run a job whose worker died again: its own message, taken back from the broker's
    unacknowledged set (so Redis does not hand it out again at the visibility timeout), or a
    new one with the same arguments."""
    job_id = str(JobId(record["repo"], int(record["pr"]), record["head_sha"], int(record.get("gen") or 0)))
    try:
        if _restore_unacked(job_id):
            return
    except Exception:
        log.exception("could not take back the message of %s; sending it again", job_id)
    enqueue(record)


def enqueue(record: dict) -> None:
    kwargs = {k: record[k] for k in ("installation_id", "repo", "pr", "head_sha", "gen") if k in record}
    kwargs.update(delivery=record.get("delivery", ""), trigger=record.get("trigger", "recovery"),
                  approved=bool(record.get("approved")))
    analyze_pull_request.apply_async(kwargs=kwargs)


def _restore_unacked(job_id: str, celery=None) -> bool:
    """Put the message of ``job_id`` that a dead worker held (kombu's ``unacked`` hash) back at
    the head of the queue; False when there is none."""
    with (celery or app).connection_for_write() as conn:
        channel = conn.default_channel
        client = channel.client
        for tag, raw in client.hscan_iter(channel.unacked_key):
            try:
                message = json.loads(raw)[0]
            except (ValueError, IndexError, TypeError):
                continue
            named = message_kwargs(json.dumps(message))
            if named and named[0] == TASK_ANALYZE and _job_id_of(named[1]) == job_id:
                channel.qos.restore_by_tag(tag)
                log.info("job %s: its message is back at the head of the queue", job_id)
                return True
    return False


def _job_id_of(kwargs: dict) -> str | None:
    try:
        return str(JobId(kwargs["repo"], int(kwargs["pr"]), kwargs["head_sha"], int(kwargs.get("gen") or 0)))
    except (KeyError, TypeError, ValueError):
        return None


_watch: Watch | None = None


@signals.celeryd_init.connect
def _on_worker_init(sender=None, **_):
    """The node name, known before the pool processes fork (they inherit it with the instance)."""
    if sender:
        ctx.owner = Owner(str(sender), ctx.owner.instance, os.getpid())


@signals.worker_ready.connect
def _on_worker_ready(sender=None, **_):
    global _watch
    node = getattr(sender, "hostname", None) or socket.gethostname()
    ctx.owner = Owner(node, ctx.owner.instance, os.getpid())
    ctx.sandbox = sandbox_status()
    _watch = Watch(ctx, requeue=requeue, enqueue=enqueue).start()


def sandbox_status() -> dict:
    """Whether this worker can fence PR code in, logged at start (and shown by ``/healthz``)."""
    from analysis.dbt import SandboxConfig, probe

    status, policy = probe(), SandboxConfig.from_env("required").policy
    if policy == "off":
        log.warning("sandbox: OFF (MESHDIFF_SANDBOX=off): pull-request code runs with the worker's own rights")
    elif status.ok:
        log.info("sandbox: works (%s)", status.reason)
    else:
        log.error("sandbox: UNAVAILABLE (%s): every analysis fails until it is fixed. %s", status.reason, status.hint)
    return {**status.to_dict(), "policy": policy}


@signals.worker_shutdown.connect
def _on_worker_shutdown(**_):
    if _watch is not None:
        _watch.stop()


def run_worker(argv: list[str] | None = None) -> None:
    """Start a worker (``meshdiff worker``): ``celery -A bot.tasks worker`` with sane defaults."""
    settings.require_app_credentials()
    args = ["worker", "--loglevel=INFO", f"--concurrency={settings.worker_concurrency}", "-Q", app.conf.task_default_queue]
    app.worker_main(args + list(argv or []))
