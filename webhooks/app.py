"""The web process: a Flask application factory.

``gunicorn 'webhooks.app:create_app()'`` in production, ``flask --app webhooks.app run`` or
``meshdiff serve`` (:func:`serve`) locally. Refuses to start without ``MESHDIFF_WEBHOOK_SECRET``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from flask import Flask

from bot.settings import Settings, load_settings, make_undumpable
from bot.jobs import State

MAX_BODY_BYTES = 25 * 1024 * 1024  # GitHub never delivers more


@dataclass
class WebContext:
    settings: Settings
    state: State
    enqueue: Callable[[str, dict], object]


def create_app(settings: Settings | None = None, *, state: State | None = None,
               enqueue: Callable[[str, dict], object] | None = None) -> Flask:
    settings = settings or load_settings()
    settings.require_webhook_secret()
    make_undumpable()  # the webhook secret in memory: out of reach of other processes of the user
    state = state or State.from_url(settings.redis_url)
    if enqueue is None:
        from bot.celeryapp import make_celery

        celery = make_celery(settings)

        def enqueue(name: str, kwargs: dict):
            return celery.send_task(name, kwargs=kwargs)

    app = Flask("meshdiff")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["meshdiff"] = WebContext(settings, state, enqueue)
    from webhooks.pages import bp as pages
    from webhooks.routes import bp

    app.register_blueprint(bp)
    app.register_blueprint(pages)
    logging.getLogger("meshdiff").setLevel(logging.INFO)
    return app


def serve(host: str = "127.0.0.1", port: int = 8000, *, workers: int = 2, threads: int = 4) -> None:
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
