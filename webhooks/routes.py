"""HTTP routes: ``POST /webhooks/github`` and ``GET /healthz``.

The webhook answers in milliseconds: read the body within a deadline and a size cap (``413``
before anything else, chunked bodies included; at most ``max_inflight`` bodies read at once, else
``503`` + ``Retry-After`` at once: slow clients cannot take every thread), verify the signature over the raw body (``401`` before any JSON parsing),
read and check the fields meshdiff uses (``400`` with the reason for a wrong shape), then one
Redis round trip: access check, dedupe on ``X-GitHub-Delivery``, the commit's generation and the
job pushed onto the queue (``202``). Anything not handled gets a ``200`` and is ignored.
"""
from __future__ import annotations

import json
import logging
import re
import socket
import time

import redis
from flask import Blueprint, current_app, jsonify, request

from bot.celeryapp import QUEUE, task_message
from bot.ids import new_generation
from webhooks.app import BODY_TIMEOUT_S, MAX_BODY_BYTES
from webhooks.events import BadPayload, Decision, route
from webhooks.security import SIGNATURE_HEADER, verify_signature

log = logging.getLogger("meshdiff.webhooks")
bp = Blueprint("meshdiff", __name__)
_DELIVERY_RE = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_EVENT_RE = re.compile(r"^[a-z_]{1,64}$")
RETRY_AFTER_S = 10
HEALTH_CHECK_EVERY_S = 60.0


class _Refused(Exception):
    def __init__(self, status: int, error: str):
        super().__init__(error)
        self.status, self.error = status, error


def _ctx():
    return current_app.extensions["meshdiff"]


def _unavailable(error: str):
    resp = jsonify(error=error)
    resp.status_code = 503
    resp.headers["Retry-After"] = str(RETRY_AFTER_S)
    return resp


@bp.post("/webhooks/github")
def github_webhook():
    ctx = _ctx()
    try:
        return _handle(ctx)
    except _Refused as refused:
        if refused.status == 503:
            return _unavailable(refused.error)
        resp = jsonify(error=refused.error)
        resp.status_code = refused.status
        if refused.status in (408, 413):
            resp.headers["Connection"] = "close"
        return resp


def _read_body_gated(ctx) -> bytes:
    """The body, read by at most ``max_inflight`` requests at once: clients that send slowly
    (or not at all) cannot take every thread; past that, ``503`` + ``Retry-After`` at once."""
    if not ctx.gate.acquire(blocking=False):
        log.warning("busy: %d requests are receiving their body, answering 503", ctx.max_inflight)
        raise _Refused(503, "busy; redeliver this event later")
    try:
        return read_body(request.environ)
    finally:
        ctx.gate.release()


def read_body(environ: dict, limit: int = MAX_BODY_BYTES, timeout: float = BODY_TIMEOUT_S) -> bytes:
    """The raw body: ``413`` above ``limit`` (announced or chunked, before reading it all), ``408``
    when it does not arrive within ``timeout`` seconds."""
    length = environ.get("CONTENT_LENGTH") or ""
    if length:
        if not length.isdigit():
            raise _Refused(400, "invalid Content-Length")
        if int(length) > limit:
            raise _Refused(413, f"body larger than {limit} bytes")
        remaining: int | None = int(length)
    elif environ.get("wsgi.input_terminated") or "gunicorn.socket" in environ:
        remaining = None  # chunked: read to the end, up to the limit
    else:
        return b""
    stream = environ["wsgi.input"]
    sock = environ.get("gunicorn.socket")
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    size = 0
    prior = sock.gettimeout() if sock is not None else None
    try:
        while remaining is None or remaining > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Refused(408, f"body not received within {timeout:.0f} s")
            if sock is not None:
                sock.settimeout(left)
            want = 65536 if remaining is None else min(65536, remaining)
            try:
                chunk = stream.read(want)
            except (socket.timeout, TimeoutError):
                raise _Refused(408, f"body not received within {timeout:.0f} s") from None
            if not chunk:
                if remaining:
                    raise _Refused(400, "body shorter than its Content-Length")
                break
            size += len(chunk)
            if size > limit:
                raise _Refused(413, f"body larger than {limit} bytes")
            chunks.append(chunk)
            if remaining is not None:
                remaining -= len(chunk)
    finally:
        if sock is not None:
            try:
                sock.settimeout(prior)
            except OSError:
                pass
    return b"".join(chunks)


def parse_payload(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except RecursionError:
        raise _Refused(400, "body is JSON nested too deeply") from None
    except ValueError:
        raise _Refused(400, "body is not JSON") from None
    if not isinstance(payload, dict):
        raise _Refused(400, "body is not a JSON object")
    return payload


def _handle(ctx):
    body = _read_body_gated(ctx)
    if not verify_signature(ctx.settings.webhook_secret, body, request.headers.get(SIGNATURE_HEADER)):
        log.warning("rejected a webhook with a missing or invalid signature")
        return jsonify(error="invalid or missing X-Hub-Signature-256"), 401
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if not _EVENT_RE.match(event) or not _DELIVERY_RE.match(delivery):
        return jsonify(error="missing X-GitHub-Event or X-GitHub-Delivery"), 400
    payload = parse_payload(body)
    try:
        decision = route(event, payload, delivery=delivery)
    except BadPayload as exc:
        log.warning("delivery %s: %s payload refused: %s", delivery, event, exc)
        return jsonify(error=f"unexpected {event} payload: {exc}"), 400
    if not decision.jobs and decision.installation is None and not decision.access:
        return jsonify(ignored=decision.ignored), 200
    try:
        if decision.jobs:
            status, why = _enqueue(ctx, delivery, decision)
        else:
            status, why = _record_access(ctx, delivery, decision), None
    except redis.RedisError as exc:  # GitHub does not retry by itself: say so loudly
        log.error("delivery %s: Redis unavailable (%s)", delivery, exc)
        return _unavailable("queue unavailable; redeliver this event later")
    if status == "blocked":  # the App lost access: nothing may run or publish there
        log.info("delivery %s: %s ignored (%s)", delivery, event, why)
        return jsonify(ignored=why), 200
    if status == "duplicate":
        log.info("delivery %s: redelivery, nothing to do", delivery)
        return jsonify(duplicate=delivery), 200
    if not decision.jobs:
        return jsonify(ignored=decision.ignored), 200
    name = decision.jobs[0][0]
    log.info("delivery %s: %s.%s queued %s", delivery, event, payload.get("action"), name)
    return jsonify(queued=[name], delivery=delivery), 202


def _enqueue(ctx, delivery: str, decision: Decision) -> tuple[str, str | None]:
    """One Redis round trip (two when another delivery took the same microsecond)."""
    [(name, kwargs)] = decision.jobs
    commit = decision.head
    gen = new_generation() if commit else None
    for _ in range(5):
        if commit:
            kwargs = {**kwargs, "gen": gen}
        status, extra = ctx.state.intake(delivery, installation_id=kwargs["installation_id"], repo=kwargs["repo"],
                                         queue=QUEUE, message=task_message(name, kwargs), commit=commit, gen=gen,
                                         set_head=decision.set_head)
        if status != "conflict":
            return status, extra
        gen = max(int(extra) + 1, new_generation())
    raise redis.RedisError("could not take a generation for the commit")


def _record_access(ctx, delivery: str, decision: Decision) -> str:
    status, _ = ctx.state.intake(delivery, installation_id=None, repo=None)
    if status == "duplicate":
        return status
    try:
        if decision.installation is not None:
            ctx.state.set_suspended(*decision.installation)
        for installation_id, repo, removed in decision.access:
            ctx.state.set_repo_removed(installation_id, repo, removed)
    except redis.RedisError:
        try:
            ctx.state.forget_delivery(delivery)  # let a redelivery through
        except redis.RedisError:
            pass
        raise
    return "recorded"


@bp.get("/healthz")
def healthz():
    """``200`` when Redis answers (the app can accept work), ``503`` when it does not. Lists the
    workers seen by their heartbeats, whether each can make the sandbox for PR code, and
    ``warnings``: no worker, a worker that cannot fence PR code in, or a Redis that loses the
    App's state on a restart (no append-only file) or under memory pressure (eviction).
    ``status`` is ``ok`` only without warnings (else ``degraded``)."""
    ctx = _ctx()
    out: dict = {"redis": "ok"}
    try:
        ctx.state.r.ping()
    except Exception as exc:
        return jsonify(status="down", redis=f"unreachable: {type(exc).__name__}", workers=[],
                       warnings=["Redis is unreachable: webhooks are answered 503"]), 503
    try:
        out["workers"] = ctx.state.workers()
        out["sandbox"] = {node: info for node, info in ctx.state.sandboxes().items() if node in out["workers"]}
    except redis.RedisError:
        out["workers"], out["sandbox"] = [], {}
    checked, warnings = ctx.health_cache
    if time.monotonic() - checked > HEALTH_CHECK_EVERY_S or not checked:
        try:
            warnings = ctx.state.persistence_warnings()
        except redis.RedisError:
            warnings = []
        ctx.health_cache[:] = [time.monotonic(), warnings]
    out["warnings"] = list(warnings) + ([] if out["workers"] else
                                        ["no worker sent a heartbeat in the last 45 s: jobs wait in the queue"])
    out["warnings"] += [f"worker {node} cannot fence pull-request code in ({info.get('reason')}): its analyses fail"
                        for node, info in out["sandbox"].items() if not (info.get("ok") or info.get("policy") == "off")]
    out["status"] = "degraded" if out["warnings"] else "ok"
    return jsonify(out), 200
