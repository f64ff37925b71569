"""HTTP routes: ``POST /webhooks/github`` and ``GET /healthz``.

The webhook answers in milliseconds: verify the signature over the raw body (401 before any
JSON parsing), dedupe on ``X-GitHub-Delivery`` (a redelivery is a no-op), route, enqueue ids,
answer ``202``. Anything not handled gets a ``200`` and is ignored.
"""
from __future__ import annotations

import json
import logging
import re

from flask import Blueprint, current_app, jsonify, request

from webhooks.events import route
from webhooks.security import SIGNATURE_HEADER, verify_signature

log = logging.getLogger("meshdiff.webhooks")
bp = Blueprint("meshdiff", __name__)
_DELIVERY_RE = re.compile(r"^[A-Za-z0-9-]{1,100}$")
_EVENT_RE = re.compile(r"^[a-z_]{1,64}$")


def _ctx():
    return current_app.extensions["meshdiff"]


@bp.post("/webhooks/github")
def github_webhook():
    ctx = _ctx()
    body = request.get_data(cache=False)  # raw bytes; raises 413 above MAX_CONTENT_LENGTH
    if not verify_signature(ctx.settings.webhook_secret, body, request.headers.get(SIGNATURE_HEADER)):
        log.warning("rejected a webhook with a missing or invalid signature")
        return jsonify(error="invalid or missing X-Hub-Signature-256"), 401
    event = request.headers.get("X-GitHub-Event", "")
    delivery = request.headers.get("X-GitHub-Delivery", "")
    if not _EVENT_RE.match(event) or not _DELIVERY_RE.match(delivery):
        return jsonify(error="missing X-GitHub-Event or X-GitHub-Delivery"), 400
    try:
        payload = json.loads(body)
    except ValueError:
        return jsonify(error="body is not JSON"), 400
    if not isinstance(payload, dict):
        return jsonify(error="body is not a JSON object"), 400

    decision = route(event, payload, delivery=delivery)
    if not decision.jobs and decision.installation is None and not decision.access:
        log.info("delivery %s: %s ignored (%s)", delivery, event, decision.ignored)
        return jsonify(ignored=decision.ignored), 200
    try:
        blocked = next((why for _, kwargs in decision.jobs
                        if (why := ctx.state.blocked(kwargs["installation_id"], kwargs["repo"]))), None)
        if blocked:  # the App lost access: nothing may run or publish there
            log.info("delivery %s: %s ignored (%s)", delivery, event, blocked)
            return jsonify(ignored=blocked), 200
        if not ctx.state.first_delivery(delivery):
            log.info("delivery %s: redelivery, nothing to do", delivery)
            return jsonify(duplicate=delivery), 200
    except Exception:  # Redis down: GitHub does not retry, say so loudly
        log.exception("delivery %s: Redis unreachable", delivery)
        return jsonify(error="queue unavailable; redeliver this event later"), 503
    try:
        if decision.installation is not None:
            ctx.state.set_suspended(*decision.installation)
        for installation_id, repo, removed in decision.access:
            ctx.state.set_repo_removed(installation_id, repo, removed)
        queued = []
        for name, kwargs in decision.jobs:
            if decision.head is not None:
                repo, pr, sha = decision.head
                if decision.set_head:
                    ctx.state.set_head(repo, pr, sha)
                kwargs = {**kwargs, "gen": ctx.state.bump(repo, pr, sha)}
            ctx.enqueue(name, kwargs)
            queued.append(name)
    except Exception:
        log.exception("delivery %s: enqueueing failed", delivery)
        try:
            ctx.state.forget_delivery(delivery)  # let a manual redelivery through
        except Exception:
            pass
        return jsonify(error="queue unavailable; redeliver this event later"), 503
    log.info("delivery %s: %s.%s queued %s", delivery, event, payload.get("action"), queued)
    if not queued:
        return jsonify(ignored=decision.ignored), 200
    return jsonify(queued=queued, delivery=delivery), 202


@bp.get("/healthz")
def healthz():
    """``200`` when Redis answers (the app can accept work), ``503`` when it does not; the
    workers seen by their heartbeats are listed with whether each can make the sandbox for PR code
    (``status: degraded`` when there is no worker, or one cannot fence PR code in)."""
    ctx = _ctx()
    out: dict = {"redis": "ok"}
    try:
        ctx.state.r.ping()
    except Exception as exc:
        return jsonify(status="down", redis=f"unreachable: {type(exc).__name__}", workers=[]), 503
    try:
        out["workers"] = ctx.state.workers()
        out["sandbox"] = {host: info for host, info in ctx.state.sandboxes().items() if host in out["workers"]}
    except Exception:
        out["workers"], out["sandbox"] = [], {}
    fenced = all(info.get("ok") or info.get("policy") == "off" for info in out["sandbox"].values())
    out["status"] = "ok" if out["workers"] and fenced else "degraded"
    return jsonify(out), 200
