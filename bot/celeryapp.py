"""The Celery application (broker: Redis), shared by the web process (which only sends tasks by
name, so it never imports the analysis) and the worker (``celery -A bot.tasks worker``)."""
from __future__ import annotations

from celery import Celery

from bot.settings import Settings

TASK_ANALYZE = "meshdiff.analyze_pull_request"
TASK_COMMAND = "meshdiff.handle_command"
TASK_REAP = "meshdiff.reap_stale_jobs"
QUEUE = "meshdiff"


def make_celery(settings: Settings) -> Celery:
    app = Celery("meshdiff", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        # a worker that dies mid-job gives the job back to the queue; jobs are idempotent
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.job_timeout_s,
        task_time_limit=settings.hard_time_limit_s,
        # above the longest job, or Redis hands an unacknowledged job to a second worker
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        # optional safety net: every job schedules its own reaper (bot.tasks.register_running);
        # `celery -A bot.tasks beat` (or a worker with -B) also sweeps every 5 minutes
        beat_schedule={"meshdiff-reap": {"task": TASK_REAP, "schedule": 300.0}},
    )
    return app
