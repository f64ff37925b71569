"""``GET /pages/<token>``: the impact page of one analysis (``bot.page``).

A page exists while its report does (Redis TTL); an unknown or expired token gets a small 404
page saying how to get a new one. Answers carry a strict Content-Security-Policy (the page's own
scripts by hash, no network), ``no-referrer`` and ``nosniff``; they are never cached by shared
caches. Reading and building a page takes milliseconds and never touches the webhook path.
"""
from __future__ import annotations

import html
import logging
from datetime import datetime, timezone

from flask import Blueprint, Response, current_app

log = logging.getLogger("meshdiff.pages")
bp = Blueprint("meshdiff_pages", __name__)

_GONE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>meshdiff · page not found</title></head>
<body style="font-family:sans-serif;max-width:640px;margin:48px auto"><h1>This impact page does not exist or has expired</h1>
<p>Impact pages expire with their report. To get a new one, comment <code>/meshdiff rerun</code> on the pull request.</p>
</body></html>"""


def _headers(csp: str) -> dict:
    return {"Content-Security-Policy": csp + "; frame-ancestors 'none'", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, max-age=300", "X-Frame-Options": "DENY"}


@bp.get("/pages/<token>")
def impact_page(token: str):
    from bot.page import store
    from bot.page.build import build_page, csp

    ctx = current_app.extensions["meshdiff"]
    try:
        found = store.load(ctx.state.r, token)
    except Exception:  # Redis down or a damaged record
        log.exception("impact page %s could not be read", token[:6])
        return Response("The impact page could not be read; try again later.", 503, mimetype="text/plain")
    if found is None:
        return Response(_GONE, 404, mimetype="text/html", headers=_headers("default-src 'none'; style-src 'unsafe-inline'"))
    reports, expires = found
    when = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if expires else None
    body = build_page(reports, expires=html.escape(when) if when else None)
    return Response(body, 200, mimetype="text/html", headers=_headers(csp()))
