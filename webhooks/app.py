"""The web process: a Flask application factory.

``gunicorn --workers 2 --threads 16 'webhooks.app:create_app()'`` in production (the README's
deployment), ``meshdiff serve`` (:func:`serve`) or ``flask --app webhooks.app run`` locally.
Refuses to start without ``MESHDIFF_WEBHOOK_SECRET``.

Each process holds one Redis connection pool (its calls time out after 2 s: ``503``) and a gate:
at most ``MESHDIFF_WEB_MAX_INFLIGHT`` requests (default 12; keep it below gunicorn's
``--threads``) receive their body at once, each within ``MESHDIFF_WEB_BODY_TIMEOUT_S`` (10 s,
else ``408``); past that a request is answered ``503`` with ``Retry-After`` at once instead of
waiting behind clients that send slowly.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field

from flask import Flask

from bot.jobs import State
from bot.settings import Settings, SettingsError, load_settings, make_undumpable

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub never delivers more
#: the whole body must arrive within this many seconds (GitHub sends it at once)
BODY_TIMEOUT_S = float(os.environ.get("MESHDIFF_WEB_BODY_TIMEOUT_S", "10") or 10)
DEFAULT_MAX_INFLIGHT = 12
#: Redis answers the web in well under a millisecond; a slower answer means trouble: fail fast
WEB_REDIS_TIMEOUT_S = 2.0


@dataclass
class WebContext:
    settings: Settings
    state: State
    gate: threading.BoundedSemaphore
    max_inflight: int
    #: (time, warnings) of the last Redis persistence check of /healthz
    health_cache: list = field(default_factory=lambda: [0.0, []])


def _max_inflight() -> int:
    raw = os.environ.get("MESHDIFF_WEB_MAX_INFLIGHT", "").strip()
    try:
        value = int(raw) if raw else DEFAULT_MAX_INFLIGHT
    except ValueError:
        raise SettingsError(f"MESHDIFF_WEB_MAX_INFLIGHT={raw!r} is not an integer") from None
    if value < 1:
        raise SettingsError("MESHDIFF_WEB_MAX_INFLIGHT must be at least 1")
    return value


def create_app(settings: Settings | None = None, *, state: State | None = None,
               max_inflight: int | None = None) -> Flask:
    settings = settings or load_settings()
    settings.require_webhook_secret()
    make_undumpable()  # the webhook secret in memory: out of reach of other processes of the user
    limit = max_inflight or _max_inflight()
    state = state or State.from_url(settings.redis_url, socket_timeout=WEB_REDIS_TIMEOUT_S,
                                    max_connections=limit + 8, retries=1)
    app = Flask("meshdiff")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["meshdiff"] = WebContext(settings, state, threading.BoundedSemaphore(limit), limit)
    from webhooks.pages import bp as pages
    from webhooks.routes import bp

    app.register_blueprint(bp)
    app.register_blueprint(pages)
    logging.getLogger("meshdiff").setLevel(logging.INFO)
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, *, workers: int = 2, threads: int = 16) -> None:
    """Run the web app under gunicorn (as in production) for local use (``meshdiff serve``)."""
    from gunicorn.app.base import BaseApplication

    app = create_app()

    class _App(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", 30)
            self.cfg.set("accesslog", "-")

        def load(self):
            return app

    _App().run()
