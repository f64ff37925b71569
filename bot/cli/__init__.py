"""The ``meshdiff`` command: analyze, lineage, demo, serve, worker (one module per command).

Exit codes: 0 nothing blocks, 1 the policy blocks (``analyze`` only), 2 the work could not be
done or the input is bad (the message says what is wrong and what to do), 130 interrupted.
Never a traceback: bad input is named, and an unexpected failure is one line saying so
(``MESHDIFF_DEBUG=1`` shows its traceback).
"""
from __future__ import annotations

import os
import sys
import traceback

from analysis.errors import AnalysisError
from bot.cli.parser import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, build

__all__ = ["main", "entry"]

#: commands that end the process when they are done (``entry``): nothing runs after them
_ONE_SHOT = {"analyze", "lineage", "demo"}


def _dispatch(args) -> int:
    if args.command == "analyze":
        from bot.cli import analyze

        return analyze.run(args)
    if args.command == "lineage":
        from bot.cli import lineage

        return lineage.run(args)
    if args.command == "demo":
        from bot.cli import demo

        return demo.run(args)
    from bot.cli import service

    return service.serve(args) if args.command == "serve" else service.worker(args)


def _fail(message: str) -> int:
    print(f"meshdiff: {message}", file=sys.stderr)
    return EXIT_ERROR


def entry() -> None:
    """The ``meshdiff`` executable: :func:`main`, then, after a one-shot command, the process
    ends at once (its output flushed) instead of freeing every object of the analysis one by
    one on the way out (a quarter of a second for a 1,000-model project)."""
    code = main()
    pools = sys.modules.get("multiprocessing")
    if len(sys.argv) > 1 and sys.argv[1] in _ONE_SHOT and not (pools and pools.active_children()):
        # (a worker process still alive, e.g. of an analysis that failed mid-way: the usual
        # exit, which ends the pools' processes, not an abrupt one that would leave them)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):  # closed or broken: nothing more can be said anyway
            pass
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = build()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            if args.command != "worker":
                parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
            args.celery_args = [*extra, *args.celery_args]
        return _dispatch(args)
    except SystemExit as exc:  # argparse: --help, --version, a bad flag (its message is printed)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    except AnalysisError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("meshdiff: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `meshdiff ... | head`: the reader left
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the user gets one line, not a traceback
        from bot.settings import SettingsError

        if isinstance(exc, SettingsError):
            return _fail(str(exc))
        if isinstance(exc, OSError):
            return _fail(f"{exc.strerror or exc} ({exc.filename})" if exc.filename else str(exc))
        if os.environ.get("MESHDIFF_DEBUG"):
            traceback.print_exc()
        return _fail(f"internal error: {type(exc).__name__}: {exc}\n→ this is a bug of meshdiff: please report "
                     "it with the command you ran (MESHDIFF_DEBUG=1 shows the traceback)")
