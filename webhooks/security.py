"""Webhook signature verification: HMAC-SHA256 of the raw body, compared in constant time."""
from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature(secret: str | bytes, body: bytes) -> str:
    """``sha256=<hex>`` as GitHub computes it."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> bool:
    """True only for a well-formed ``sha256=`` signature of ``body`` with ``secret``.

    Never accepts a missing secret or a missing/other-algorithm header (fail closed)."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(signature(secret, body).encode(), header.strip().encode())
