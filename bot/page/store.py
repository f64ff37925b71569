"""Impact pages of the App: stored in Redis under an unguessable token, expiring with the report.

The worker stores a job's reports (compressed JSON) under ``meshdiff:page:<token>`` with a TTL
(``MESHDIFF_PAGE_TTL_DAYS``, default 30) and links ``<MESHDIFF_PUBLIC_URL>/pages/<token>`` as the
check run's ``details_url`` and from the comment. The token is an HMAC of the job id under a key
derived from the App's secret (192 bits, URL-safe): a retried job gets the same URL, nobody can
guess another job's. Without ``MESHDIFF_PUBLIC_URL`` there are no pages (nothing is linked).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
import zlib

from analysis.report import Report

log = logging.getLogger("meshdiff.pages")

PREFIX = "meshdiff:page:"
DEFAULT_TTL_DAYS = 30.0
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
#: a page record larger than this (compressed) is not stored
MAX_BYTES = 8 * 1024 * 1024


def ttl_seconds(env=os.environ) -> int:
    try:
        days = float(env.get("MESHDIFF_PAGE_TTL_DAYS", "") or DEFAULT_TTL_DAYS)
    except ValueError:
        days = DEFAULT_TTL_DAYS
    return max(int(days * 86_400), 60)


def public_url(env=os.environ) -> str | None:
    url = (env.get("MESHDIFF_PUBLIC_URL") or "").strip().rstrip("/")
    return url if url.startswith(("https://", "http://")) else None


def token_for(job_id: str, secret: str | bytes | None) -> str:
    """The page token of a job: HMAC-SHA256(key, job id), 24 bytes, URL-safe base64 (32 chars);
    random when there is no secret to derive it from."""
    if not secret:
        return secrets.token_urlsafe(24)
    raw = secret.encode() if isinstance(secret, str) else secret
    key = hashlib.sha256(b"meshdiff-pages\0" + raw).digest()
    digest = hmac.new(key, job_id.encode(), hashlib.sha256).digest()[:24]
    return base64.urlsafe_b64encode(digest).decode()


def save(redis, token: str, reports: list[Report], *, ttl_s: int) -> None:
    payload = {"reports": [r.to_dict() for r in reports], "expires": int(time.time()) + ttl_s}
    blob = zlib.compress(json.dumps(payload).encode("utf-8"), 6)
    if len(blob) > MAX_BYTES:
        raise ValueError(f"impact page of {len(blob)} bytes is over {MAX_BYTES}")
    # as text: the App's Redis client decodes answers as UTF-8
    redis.set(PREFIX + token, base64.b64encode(blob).decode("ascii"), ex=ttl_s)


def load(redis, token: str) -> tuple[list[Report], int] | None:
    """(reports, expiry as a Unix time) of a page, or ``None`` (unknown token or expired)."""
    if not TOKEN_RE.match(token or ""):
        return None
    blob = redis.get(PREFIX + token)
    if blob is None:
        return None
    raw = base64.b64decode(blob if isinstance(blob, (bytes, str)) else str(blob))
    payload = json.loads(zlib.decompress(raw).decode("utf-8"))
    return [Report.from_dict(r) for r in payload["reports"]], int(payload.get("expires") or 0)


def store_page(redis, job_id: str, reports: list[Report], *, secret: str | bytes | None,
               env=os.environ) -> str | None:
    """Store the job's page; its URL, or ``None`` when pages are off (no ``MESHDIFF_PUBLIC_URL``)
    or it could not be stored (the comment and the check run then go out without a link)."""
    base = public_url(env)
    if not base or not reports:
        return None
    token = token_for(job_id, secret)
    try:
        save(redis, token, reports, ttl_s=ttl_seconds(env))
    except Exception:  # noqa: BLE001 - a page is a convenience: never fail the publication for it
        log.exception("could not store the impact page of %s", job_id)
        return None
    return f"{base}/pages/{token}"
