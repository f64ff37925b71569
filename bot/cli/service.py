"""``meshdiff serve`` and ``meshdiff worker``: the GitHub App's two processes, for local use."""
from __future__ import annotations

from bot.cli.parser import EXIT_OK


def serve(args) -> int:
    from webhooks.app import serve as run_server

    run_server(args.host, args.port)
    return EXIT_OK


def worker(args) -> int:
    from bot.tasks import run_worker

    return run_worker(args.celery_args) or EXIT_OK
