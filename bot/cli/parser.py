"""The ``meshdiff`` command line: sub-commands, their flags, types, defaults, exit codes and
examples. Values are checked here when their type says it all (numbers, ports, formats);
paths and files are checked in :mod:`bot.cli.inputs` before any work starts."""
from __future__ import annotations

import argparse
import math
import sys

EXIT_OK, EXIT_BLOCK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130
FORMATS = ("markdown", "json")
#: exit codes per command, as help and README state them
EXIT_CODES = {
    "analyze": ((EXIT_OK, "nothing blocks"), (EXIT_BLOCK, "the policy blocks the change (conclusion: failure)"),
                (EXIT_ERROR, "the analysis could not be done, or bad input (the message says what to do)")),
    "lineage": ((EXIT_OK, "lineage written"), (EXIT_ERROR, "it could not be computed, or bad input")),
    "demo": ((EXIT_OK, "the report was shown (its verdict: the change blocks)"),
             (EXIT_ERROR, "the analysis could not be done, or bad input")),
    "serve": ((EXIT_OK, "stopped"), (EXIT_ERROR, "bad input or missing settings")),
    "worker": ((EXIT_OK, "stopped"), (EXIT_ERROR, "bad input or missing settings")),
}
EXAMPLES = {
    "analyze": "meshdiff analyze --project shop --base main --downstream ../finance --output report.md",
    "lineage": "meshdiff lineage --project shop --downstream ../finance --column model.shop.customers.lifetime_value",
    "demo": "meshdiff demo --format json",
    "serve": "meshdiff serve --host 0.0.0.0 --port 8000",
    "worker": "meshdiff worker --concurrency=2",
}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Help that states each flag's default (when it has one) and marks required flags."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.required and "(required" not in text:
            text += " (required)"
        default = action.default
        if ("default" not in text and default not in (None, [], False, argparse.SUPPRESS)
                and action.option_strings and action.nargs != 0):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse with an error that also says where to look: ``meshdiff CMD --help``."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n→ see `{self.prog} --help`\n")


def _epilog(command: str) -> str:
    codes = "\n".join(f"  {code:>3}  {what}" for code, what in EXIT_CODES[command])
    return f"exit codes:\n{codes}\n  {EXIT_INTERRUPTED:>3}  interrupted (Ctrl-C)\n\nexample:\n  {EXAMPLES[command]}"


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds (e.g. 300)")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (a whole number from 1 to 65535)")
    return value


def nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty value; give one, e.g. 127.0.0.1")
    return text


def column(text: str) -> str:
    """``<unique_id>.<column>``: a node's unique id (``<type>.<project>.<name>[.v<N>]``) and a column."""
    parts = text.split(".")
    if len(parts) < 4 or not all(parts):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not <unique_id>.<column>: e.g. model.shop.customers.lifetime_value")
    return text


class _VersionAction(argparse.Action):
    """``--version``: the versions are looked up when asked for (reading package metadata costs
    tens of milliseconds every run otherwise)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show the versions of meshdiff and its tools and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from bot.cli.version import version_text

        parser._print_message(version_text() + "\n", sys.stdout)
        parser.exit()


def build() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="meshdiff", formatter_class=_Formatter,
        description="Column-level, mesh-wide impact of a dbt change: which nodes of which projects it reaches.",
        epilog="exit codes: 0 nothing blocks, 1 the policy blocks (analyze), 2 bad input or the work could not\n"
               "be done (the message says what to do), 130 interrupted.\n"
               "run `meshdiff COMMAND --help` for a command's flags, defaults, exit codes and an example.\n\n"
               "example:\n  meshdiff demo",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    parser.commands = {}  # name -> its parser (for errors found after parsing)

    def command(name: str, help_text: str, usage: str | None = None) -> argparse.ArgumentParser:
        parser.commands[name] = sub.add_parser(
            name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".", usage=usage,
            epilog=_epilog(name), formatter_class=_Formatter)
        return parser.commands[name]

    a = command("analyze", "impact of the changes between two git refs of a dbt project",
                "meshdiff analyze (--project DIR | --mesh FILE) --base REF [--head REF] [options]")
    a.add_argument("--project", metavar="DIR",
                   help="dbt project directory inside a git checkout: the changed project (required unless --mesh)")
    a.add_argument("--base", required=True, metavar="REF", help="git ref to compare against, e.g. main")
    a.add_argument("--head", default="HEAD", metavar="REF",
                   help="git ref with the change (default: HEAD, the last commit; uncommitted edits are not analysed)")
    _mesh_flags(a)
    a.add_argument("--mesh", metavar="FILE",
                   help="a .meshdiff.yml listing the projects instead; paths are relative to the file")
    _catalog_flag(a)
    _common(a, html=True)

    lin = command("lineage", "column lineage of a mesh as it is on disk",
                  "meshdiff lineage --project DIR [--column UNIQUE_ID.COLUMN ...] [--catalog PROJECT=FILE ...] [options]")
    lin.add_argument("--project", required=True, metavar="DIR", help="dbt project directory")
    _mesh_flags(lin)
    lin.add_argument("--column", action="append", default=[], type=column, metavar="UNIQUE_ID.COLUMN",
                     help="the columns it reaches, for a column such as model.shop.orders.v2.amount "
                          "(repeatable; default: the lineage of every model)")
    _catalog_flag(lin)
    _common(lin)

    d = command("demo", "run the analysis on the bundled example mesh with a breaking change")
    _output_flags(d, output=False)
    d.add_argument("--examples", metavar="DIR",
                   help="folder holding the example mesh's projects shop, finance and exec_reporting "
                        "(default: the copy bundled with meshdiff)")
    d.add_argument("--cache-dir", metavar="DIR",
                   help="compile and lineage cache (default: $MESHDIFF_CACHE_DIR, else ~/.cache/meshdiff)")

    s = command("serve", "run the GitHub App's webhook receiver (gunicorn)")
    s.add_argument("--host", default="127.0.0.1", type=nonempty, help="address to listen on")
    s.add_argument("--port", default=8000, type=port, help="TCP port to listen on")
    w = command("worker", "run the GitHub App's Celery worker (same as `celery -A bot.tasks worker`)",
                "meshdiff worker [celery worker arguments]")
    w.add_argument("celery_args", nargs=argparse.REMAINDER, metavar="...",
                   help="further `celery worker` arguments, e.g. --concurrency=2")
    return parser


def _mesh_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--downstream", action="append", default=[], metavar="DIR",
                   help="a dbt project that consumes the changed one, used as it is on disk (repeatable)")
    p.add_argument("--upstream", action="append", default=[], metavar="DIR",
                   help="a dbt project the changed one reads through dbt-loom (repeatable)")


def _catalog_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", action="append", default=[], metavar="PROJECT=FILE",
                   help="the catalog.json of `dbt docs generate` for PROJECT: real column types (repeatable)")


def _output_flags(p: argparse.ArgumentParser, *, output: bool = True, html: bool = False) -> None:
    if html:
        p.add_argument("--format", choices=(*FORMATS, "html"), default="markdown",
                       help="report format; html: the impact page as one self-contained file")
    else:
        p.add_argument("--format", choices=FORMATS, default="markdown", help="report format")
    if output:
        p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout "
                                                         "(its folder must exist)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress on stderr (progress is shown only when stderr is a terminal)")


def _common(p: argparse.ArgumentParser, *, html: bool = False) -> None:
    _output_flags(p, html=html)
    p.add_argument("--dialect", action="append", default=[], metavar="PROJECT=DIALECT",
                   help="sqlglot dialect for PROJECT (repeatable; default: from the manifest's adapter)")
    p.add_argument("--target", action="append", default=[], metavar="PROJECT=NAME",
                   help="dbt target name PROJECT is compiled with, i.e. what `target.name` renders to "
                        "(repeatable; default: meshdiff)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment variable dbt's env_var() reads, for every project compiled (repeatable; "
                        "not secrets: PR code can print it; part of the compile key)")
    p.add_argument("--vars", metavar="YAML",
                   help="dbt vars for every project compiled, as dbt's --vars takes them (part of the compile key)")
    p.add_argument("--cache-dir", metavar="DIR",
                   help="compile and lineage cache (default: $MESHDIFF_CACHE_DIR, else ~/.cache/meshdiff)")
    p.add_argument("--compile-timeout", type=seconds, default=300, metavar="SECONDS",
                   help="time limit of one dbt invocation")
    p.add_argument("--lineage-timeout", type=seconds, default=10, metavar="SECONDS",
                   help="time limit of the column lineage of one model; a model that takes longer gets "
                        "unknown lineage")
    p.add_argument("--sandbox", choices=("auto", "required", "off"), default=None,
                   help="how dbt is fenced in: auto (the bubblewrap sandbox; where this machine cannot make "
                        "it, say so once and run unsandboxed), required (refuse instead), off (unsafe) "
                        "(default: $MESHDIFF_SANDBOX, else auto)")
