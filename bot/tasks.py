"""Celery tasks of the worker: ``celery -A bot.tasks worker`` (or ``meshdiff worker``).

Work is keyed by (repo, PR, head sha) plus a generation (a rerun of the same commit): the job
id ``owner/repo#12@<sha>#<gen>`` is the check run's ``external_id``. A newer push or run
supersedes older work: the task checks before starting and again before publishing (Redis
generation and ``GET pulls/{n}``'s head sha); a stale run completes its own check run as
``cancelled`` (unless a newer run of the commit took it over, see ``bot.github.checks``) and never
touches the comment.

Failures: GitHub 5xx / 429 / rate-limited 403 are retried with backoff honouring
``retry-after``; anything else, a soft time limit, a hard time limit (``on_failure`` in the pool
parent) or a dead worker (the reaper) completes the check run with ``failure`` and a message
saying what happened and how to retry. A check run is never left ``in_progress``.

Access: when the App loses a repository (``installation_repositories`` removed, the installation
deleted or suspended; the web process records it in Redis), that repository's queued and running
jobs are dropped at start and again right before publishing: nothing more is sent to it.
"""
from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time

from celery import Task, signals
from celery.exceptions import SoftTimeLimitExceeded

from analysis import errors as _errors
from bot.github import AppAuthenticator
from bot.celeryapp import TASK_ANALYZE, TASK_COMMAND, TASK_REAP, make_celery
from bot.settings import load_settings, protect_worker
from bot.jobs import State, job_key

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
MAX_WORKER_DEATHS = 2
#: how often the reaper tries to complete a check run GitHub will not take (every ~5 min)
MAX_REAP_TRIES = 12
#: a running job is overdue this long after its hard time limit (time for on_failure to report)
DEADLINE_MARGIN_S = 120.0
#: the reaper a job schedules for itself runs this long after the job's deadline
REAPER_DELAY_S = 30.0


class _Context:
    def __init__(self) -> None:
        self._auth: AppAuthenticator | None = None
        self._state: State | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> State:
        if self._state is None:
            self._state = State.from_url(settings.redis_url)
        return self._state

    @property
    def auth(self) -> AppAuthenticator:
        with self._lock:
            if self._auth is None:
                settings.require_app_credentials()
                self._auth = AppAuthenticator(settings.app_id, settings.private_key, settings.github_api_url)
            return self._auth

    def github(self, installation_id: int):
        from bot.github import make_github

        token = self.auth.installation_token(installation_id)
        return make_github(token, settings.github_api_url), token


ctx = _Context()


def _job_id(repo: str, pr: int, sha: str, gen: int) -> str:
    return f"{job_key(repo, pr, sha)}#{int(gen)}"


def _check_for(repo_obj, head_sha: str, job_id: str):
    from bot.github import CheckRun

    check = CheckRun(repo_obj, head_sha, job_id, details_url=settings.details_url, app_id=settings.app_id)
    record = ctx.state.job(job_id)
    if record and record.get("check_run_id"):
        try:
            check.attach(record["check_run_id"])
        except _errors.INTERRUPTS:
            raise
        except Exception:  # fall back to finding it by external_id
            log.warning("check run %s of %s not found; looking it up", record.get("check_run_id"), job_id)
    return check


def fail_job(installation_id: int, repo: str, pr: int, head_sha: str, gen: int, what: str) -> bool:
    """Complete the job's check run with ``failure`` and ``what``; True when GitHub took it.
    When GitHub is unreachable the job stays registered and the reaper tries again later."""
    from bot.github import publish_failure

    job_id = _job_id(repo, pr, head_sha, gen)
    blocked = ctx.state.blocked(installation_id, repo)
    if blocked:  # the App has no access any more: nothing to complete
        log.info("not completing the check run of %s: %s", job_id, blocked)
        ctx.state.finish_job(job_id)
        return False
    # a newer run of this commit reports: complete this job's own run if it has one, create none
    superseded = bool(gen) and ctx.state.generation(repo, pr, head_sha) != gen
    try:
        gh, _ = ctx.github(installation_id)
        check = _check_for(gh.withLazy(True).get_repo(repo), head_sha, job_id)
        publish_failure(check, what, create=not superseded)
    except Exception:
        log.exception("could not complete the check run of %s", job_id)
        record = ctx.state.job(job_id) or {}
        tries = int(record.get("reap_tries", 0)) + 1
        if tries > MAX_REAP_TRIES:  # e.g. the App was uninstalled: GitHub will mark the run stale itself
            log.error("giving up on the check run of %s after %d tries", job_id, tries - 1)
            ctx.state.finish_job(job_id)
            return False
        ctx.state.start_job(job_id, {**record, "installation_id": installation_id, "repo": repo, "pr": pr,
                                     "head_sha": head_sha, "gen": gen, "why": what, "reap_tries": tries},
                            time.time() + 300)
        schedule_reaper(300 + REAPER_DELAY_S)  # a reaper comes by even if no other job starts
        return False
    ctx.state.finish_job(job_id)
    return True


def schedule_reaper(countdown: float) -> None:
    """Have :func:`reap_stale_jobs` run in ``countdown`` seconds (needs no beat)."""
    try:
        reap_stale_jobs.apply_async(countdown=countdown)
    except Exception:
        log.warning("could not schedule the reaper")


def register_running(job_id: str, record: dict, *, delay: float = 0.0) -> None:
    """Record ``job_id`` as running until its hard time limit (plus ``delay``, e.g. a retry's
    countdown) and schedule its own reaper right after that deadline: whatever kills the job
    (hard time limit, OOM, a restarted worker), its check run is completed without beat."""
    window = delay + settings.hard_time_limit_s + DEADLINE_MARGIN_S
    ctx.state.start_job(job_id, record, time.time() + window)
    schedule_reaper(window + REAPER_DELAY_S)


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
        fail_job(kwargs["installation_id"], kwargs["repo"], kwargs["pr"], kwargs["head_sha"], kwargs.get("gen", 0), what)


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


def _is_stale(pull, repo: str, pr: int, head_sha: str, gen: int) -> str | None:
    """Why this run is stale, or ``None``. Redis (generation) first, then GitHub's head sha."""
    if gen and ctx.state.generation(repo, pr, head_sha) != gen:
        return f"A newer run of meshdiff for `{head_sha[:7]}` was started."
    if pull.head.sha != head_sha:
        return f"The pull request's head moved from `{head_sha[:7]}` to `{pull.head.sha[:7]}`."
    if pull.state == "closed":
        return "The pull request was closed."
    return None


@app.task(name=TASK_ANALYZE, bind=True, base=JobTask, max_retries=6, acks_late=True)
def analyze_pull_request(self, installation_id: int, repo: str, pr: int, head_sha: str, gen: int = 0,
                         delivery: str = "", trigger: str = "", approved: bool = False) -> str:
    from bot.github import is_transient, pr_thread, publish_result, publish_superseded, retry_delay
    from bot.jobs import JobResult, PullInfo, run_job

    state = ctx.state
    job_id = _job_id(repo, pr, head_sha, gen)
    log.info("job %s (%s, delivery %s, attempt %s)", job_id, trigger, delivery, self.request.retries + 1)
    blocked = state.blocked(installation_id, repo)
    if blocked:  # the App lost access (installation_repositories removed, uninstalled, suspended)
        log.info("job %s dropped: %s", job_id, blocked)
        state.finish_job(job_id)
        return blocked
    reap_overdue()
    if gen and state.generation(repo, pr, head_sha) != gen:
        return "superseded before start"
    deaths = state.attempt(job_id) - 1 if not self.request.retries else 0
    check = None
    try:
        gh, token = ctx.github(installation_id)
        repo_obj = gh.get_repo(repo)
        pull = repo_obj.get_pull(pr)
        stale = _is_stale(pull, repo, pr, head_sha, gen)
        if stale:
            log.info("job %s is stale before start: %s", job_id, stale)
            return "stale"
        state.set_head(repo, pr, head_sha)
        check = _check_for(repo_obj, head_sha, job_id)
        record = {"installation_id": installation_id, "repo": repo, "pr": pr, "head_sha": head_sha, "gen": gen}
        if deaths >= MAX_WORKER_DEATHS:
            fail_job(installation_id, repo, pr, head_sha, gen,
                     f"The worker stopped {deaths} times while analysing this commit (killed or out of memory).")
            return "worker died"
        if not approved and untrusted_fork(pull):
            check.complete("action_required", "Waiting for a maintainer",
                           fork_gate_text(pull.head.sha), details_url=pull.html_url)
            return "waiting for approval"
        check_id = check.start(replace_completed=deaths > 0)  # redelivered after its worker died
        register_running(job_id, {**record, "check_run_id": check_id})
        stored = state.load_result(job_id)
        if stored is None:
            result = run_job(gh=gh, token=token, web_url=settings.github_url, work_dir=settings.work_dir,
                             installation_id=installation_id, cache_key=settings.cache_key(installation_id),
                             compile_timeout_s=settings.compile_timeout_s, pull=PullInfo(
                                 repo=repo, number=pr, base_ref=pull.base.ref, base_sha=pull.base.sha,
                                 head_ref=pull.head.ref, head_sha=head_sha))
            state.save_result(job_id, result.to_dict())
        else:
            result = JobResult.from_dict(stored)
        blocked = state.blocked(installation_id, repo)
        if blocked:  # access was revoked while analysing: publish nothing
            log.info("job %s dropped before publishing: %s", job_id, blocked)
            state.finish_job(job_id)
            return blocked
        pull = repo_obj.get_pull(pr)  # re-check right before publishing
        stale = _is_stale(pull, repo, pr, head_sha, gen)
        if stale:
            publish_superseded(check, stale)
            state.finish_job(job_id)
            return "superseded"
        from bot.page.store import store_page

        page_url = store_page(state.r, job_id, result.reports, secret=settings.webhook_secret or settings.private_key)
        done = publish_result(thread=pr_thread(repo_obj, pr), check=check, bot_login=ctx.auth.bot_login(), result=result,
                              head_sha=head_sha, page_url=page_url, pull=pull)
        state.finish_job(job_id)
        return done["conclusion"]
    except SoftTimeLimitExceeded:
        fail_job(installation_id, repo, pr, head_sha, gen,
                 f"The analysis took longer than {int(settings.job_timeout_s)} s and was stopped. "
                 "Large meshes may need a higher `MESHDIFF_JOB_TIMEOUT_S`.")
        return "timed out"
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            countdown = retry_delay(exc, self.request.retries)
            log.warning("job %s: transient GitHub failure (%s); retrying in %.0f s", job_id, exc, countdown)
            record = state.job(job_id)
            if record:  # keep the reaper away while the retry waits
                register_running(job_id, record, delay=countdown)
            raise self.retry(exc=exc, countdown=countdown)
        log.exception("job %s failed", job_id)
        status = getattr(exc, "status", None)
        what = (f"GitHub kept failing (HTTP {status}) after {self.request.retries} retries." if is_transient(exc)
                else f"meshdiff hit an internal error ({type(exc).__name__}{f', HTTP {status}' if status else ''}).")
        fail_job(installation_id, repo, pr, head_sha, gen, what)
        return "failed"


@app.task(name=TASK_COMMAND, bind=True, max_retries=5)
def handle_command(self, installation_id: int, repo: str, pr: int, comment_id: int, user: str, command: str,
                   suggestion: str | None = None, typed: str = "", delivery: str = "") -> str:
    from bot.commands import denied_text, help_text, may_run, user_permission
    from bot.github import CHECK_NAME, is_transient, pr_thread, retry_delay

    blocked = ctx.state.blocked(installation_id, repo)
    if blocked:
        return blocked
    try:
        gh, _ = ctx.github(installation_id)
        repo_obj = gh.get_repo(repo)
        pull = repo_obj.get_pull(pr)
        thread = pr_thread(repo_obj, pr)
        comment = thread.get_comment(comment_id)
        permission = user_permission(repo_obj, user)
        if not may_run(permission):
            comment.create_reaction("confused")
            thread.create_comment(denied_text(user, permission))
            return "denied"
        if command == "rerun":
            if pull.state == "closed":
                comment.create_reaction("confused")
                return "closed"
            comment.create_reaction("rocket")
            sha = pull.head.sha
            ctx.state.set_head(repo, pr, sha)
            gen = ctx.state.bump(repo, pr, sha)
            analyze_pull_request.apply_async(kwargs=dict(installation_id=installation_id, repo=repo, pr=pr,
                                                         head_sha=sha, gen=gen, delivery=delivery,
                                                         trigger="comment /meshdiff rerun", approved=True))
            return "rerun"
        comment.create_reaction("+1" if command == "help" else "confused")
        thread.create_comment(help_text(check_name=CHECK_NAME, suggestion=suggestion,
                                            typed=typed if command == "unknown" else None))
        return command
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=retry_delay(exc, self.request.retries))
        log.exception("command %s on %s#%s failed", command, repo, pr)
        return "failed"


@app.task(name=TASK_REAP)
def reap_stale_jobs() -> int:
    return reap_overdue()


def reap_overdue() -> int:
    """Complete the check runs of jobs whose deadline passed (their worker died)."""
    done = 0
    try:
        overdue = ctx.state.overdue_jobs()
    except Exception:
        log.exception("reaper: Redis unreachable")
        return 0
    for job_id in overdue:
        record = ctx.state.job(job_id)
        if not ctx.state.claim_overdue(job_id) or not record:
            continue
        what = record.get("why") or ("The worker stopped while analysing this commit (it was restarted, killed "
                                     "or ran out of memory).")
        if fail_job(record["installation_id"], record["repo"], record["pr"], record["head_sha"],
                    record.get("gen", 0), what):
            done += 1
    return done


# -- worker lifecycle ----------------------------------------------------------------------

def _heartbeat(hostname: str, stop: threading.Event, sandbox: dict | None = None) -> None:
    while not stop.is_set():
        try:
            ctx.state.heartbeat(hostname, sandbox)
        except Exception:
            log.warning("heartbeat: Redis unreachable")
        stop.wait(10)


_stop = threading.Event()


@signals.worker_ready.connect
def _on_worker_ready(sender=None, **_):
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    sandbox = sandbox_status()
    threading.Thread(target=_heartbeat, args=(hostname, _stop, sandbox), daemon=True,
                     name="meshdiff-heartbeat").start()
    try:
        reap_overdue()
    except Exception:
        log.exception("reaper failed at start")


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
    _stop.set()


def run_worker(argv: list[str] | None = None) -> None:
    """Start a worker (``meshdiff worker``): ``celery -A bot.tasks worker`` with sane defaults."""
    settings.require_app_credentials()
    args = ["worker", "--loglevel=INFO", f"--concurrency={settings.worker_concurrency}", "-Q", app.conf.task_default_queue]
    app.worker_main(args + list(argv or []))

