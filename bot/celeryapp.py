"""The Celery application (broker: Redis), and the one message format the web process writes.

The worker loads it through ``celery -A bot.tasks worker``. The web process never imports Celery
to send: :func:`task_message` builds the message exactly as Celery (protocol 2) and kombu's Redis
transport store it, so the web can push it in the same Lua script that dedupes the delivery and
bumps the commit's generation: one Redis round trip per webhook (``bot.jobs.state.State.intake``).
"""
from __future__ import annotations

import base64
import json
import os
import socket
import uuid

from bot.settings import Settings

TASK_ANALYZE = "meshdiff.analyze_pull_request"
TASK_COMMAND = "meshdiff.handle_command"
QUEUE = "meshdiff"
_ORIGIN = f"meshdiff-web@{socket.gethostname()}"
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def make_celery(settings: Settings):
    from celery import Celery

    app = Celery("meshdiff", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        # a worker that dies mid-job gives the job back: at once when only its pool process died,
        # within a minute when the whole worker died (bot.jobs.recovery: leases and heartbeats)
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=settings.job_timeout_s,
        task_time_limit=settings.hard_time_limit_s,
        # above the longest job: a message Redis hands out again after this is a duplicate of a
        # job the recovery already ran, and ends at once (its check run is completed)
        broker_transport_options={"visibility_timeout": settings.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
    )
    return app


def task_message(name: str, kwargs: dict, *, queue: str = QUEUE) -> str:
    """The JSON Celery's ``send_task(name, kwargs=kwargs)`` would push onto ``queue`` in Redis
    (protocol 2, JSON body, base64 body encoding): what ``LPUSH queue <this>`` enqueues."""
    task_id = str(uuid.uuid4())
    body = json.dumps([[], kwargs, _EMBED])
    message = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py", "task": name, "id": task_id, "shadow": None, "eta": None, "expires": None,
            "group": None, "group_index": None, "retries": 0, "timelimit": [None, None], "root_id": task_id,
            "parent_id": None, "argsrepr": "()", "kwargsrepr": repr(kwargs)[:1024], "origin": f"{_ORIGIN}:{os.getpid()}",
            "ignore_result": None, "replaced_task_nesting": 0, "stamped_headers": None, "stamps": {},
        },
        "properties": {
            "correlation_id": task_id, "reply_to": task_id, "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
            "body_encoding": "base64", "delivery_tag": str(uuid.uuid4()),
        },
    }
    return json.dumps(message)


def message_kwargs(raw: str | bytes) -> tuple[str, dict] | None:
    """(task name, kwargs) of a message as stored in Redis; ``None`` when it is not one."""
    try:
        message = json.loads(raw)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        _, kwargs, _ = json.loads(body)
        return message["headers"]["task"], kwargs
    except (ValueError, KeyError, TypeError):
        return None
