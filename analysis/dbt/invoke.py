"""How meshdiff invokes dbt: the executable, the environment, one sandboxed run, its error text.

A run's folders: ``in/`` (read-only to dbt: the generated ``profiles.yml`` and
``dbt_loom.config.yml``, copies of upstream manifests) and ``out/`` (the only writable folder:
``target/``, ``logs/``, ``home/``, ``tmp/``, the DuckDB file, the project's layer).
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from analysis.dbt import sandbox
from analysis.dbt.fence import Fence, Layer

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TIMESTAMP = re.compile(r"^\d{2}:\d{2}:\d{2}(\.\d+)?\s+", re.M)


@dataclass(frozen=True)
class Folders:
    """The two folders of one dbt run (see the module docstring)."""

    work: str

    @property
    def inputs(self) -> str:
        return os.path.join(self.work, "in")

    @property
    def out(self) -> str:
        return os.path.join(self.work, "out")

    def make(self) -> "Folders":
        for sub in (self.inputs, os.path.join(self.inputs, "profiles"), os.path.join(self.inputs, "upstream"),
                    self.out, *(os.path.join(self.out, s) for s in ("target", "logs", "home", "tmp"))):
            os.makedirs(sub, exist_ok=True)
        return self


#: where a dbt started ahead waits for ``go`` on its input (:mod:`analysis.dbt.prestart`):
#: ``HOLD_START``: its imports done, before it reads anything of the project (a compile whose
#: parse state is copied in before the go); ``HOLD_INPUTS``: until it needs what the compile
#: writes into ``in/`` at the go (the upstream manifests and dbt-loom's config, read by the one
#: dbt plugin as dbt makes its plugin manager): dbt reads the project, parses its macros and
#: models, then waits before it injects the upstream nodes (``ManifestLoader.load``)
HOLD_START, HOLD_INPUTS = "start", "inputs"

#: dbt's command line (``MESHDIFF_HOLD``: a hold point above, ``0``: none), with one change: a
#: compilation error dbt raises for an exception without text (a Jinja expression refused memory
#: by the sandbox's limit raises a bare MemoryError) says what the exception was, instead of nothing
_DBT_MAIN = """\
import sys
from dbt_common.exceptions import base as _base
_init = _base.CompilationError.__init__
def _init_named(self, msg="", node=None):
    cause = sys.exc_info()[1]
    if not str(msg).strip() and cause is not None:
        msg = ("MemoryError: out of memory: the Jinja needed more memory than the sandbox allows"
               if isinstance(cause, MemoryError) else type(cause).__name__)
    _init(self, msg, node)
_base.CompilationError.__init__ = _init_named
from dbt.cli.main import cli
import os
_hold = os.environ.pop("MESHDIFF_HOLD", "0")  # popped: the project's env_var() never sees it
def _go():
    if sys.stdin.readline() != "go\\n":
        sys.stdout.flush()
        os._exit(0)  # started ahead and not needed after all
if _hold in ("start", "inputs"):
    try:  # what a compile imports once it runs, imported while it waits
        import dbt.adapters.duckdb.impl, dbt.compilation, dbt.parser.sql, dbt.task.compile, dbt_loom  # noqa
        import agate, babel.dates, duckdb, sqlparse  # noqa: E401,F401
    except ImportError:
        pass  # another dbt's layout: imported later, as usual
if _hold == "start":
    _go()
elif _hold == "inputs":  # the plugin manager (dbt-loom reads in/) made at its first use, after the go
    import dbt.cli.requires, dbt.plugins
    _made = dbt.plugins.get_plugin_manager
    def _after_go(project_name, _waited=[]):
        if not _waited:
            _waited.append(True)
            if dbt.plugins.PLUGIN_MANAGER is not None:  # made before the hold (another dbt's layout):
                os._exit(70)  # it ends unused, and the compile runs dbt as usual
            _go()
        return _made(project_name)
    dbt.cli.requires.set_up_plugin_manager = lambda project_name: None
    dbt.plugins.get_plugin_manager = _after_go
sys.argv[0] = "dbt"
sys.exit(cli())
"""


def dbt_argv(*args: str) -> list[str]:
    """The command line of ``dbt <args>`` (see ``_DBT_MAIN``)."""
    return [sys.executable, "-c", _DBT_MAIN, *args]


def dbt_env(folders: Folders, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment of a dbt run: nothing of the caller's but the locale."""
    return sandbox.sandbox_env(os.path.join(folders.out, "home"), {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_PROFILES_DIR": os.path.join(folders.inputs, "profiles"),
        "TMPDIR": os.path.join(folders.out, "tmp"),
        **(extra or {}),
    })


def run_dbt(args: list[str], folders: Folders, project, *, env: dict[str, str], timeout_s: float,
            config: sandbox.SandboxConfig, sandboxed: bool, layers: tuple[Layer, ...] = (),
            network: bool = False) -> sandbox.RunResult:
    """``dbt <args>`` for ``project``: inside a fence seeing the project's checkout and ``in/``
    read-only, ``out/`` writable (``sandboxed``), or unsandboxed with the same environment."""
    return start_dbt(args, folders, project, env=env, config=config, sandboxed=sandboxed, layers=layers,
                     network=network, hold="").finish(timeout_s)


def start_dbt(args: list[str], folders: Folders, project, *, env: dict[str, str], config: sandbox.SandboxConfig,
              sandboxed: bool, layers: tuple[Layer, ...] = (), network: bool = False,
              hold: str = HOLD_START) -> sandbox.Started:
    """``dbt <args>`` as :func:`run_dbt` runs it, started; with ``hold`` (``HOLD_START`` or
    ``HOLD_INPUTS``), it goes as far as that point, then waits for
    :meth:`~analysis.dbt.launch.Started.release` (its inputs written meanwhile)."""
    fence = None
    if sandboxed:
        fence = Fence(writable=folders.out, readonly=(project.checkout, folders.inputs), layers=layers,
                      network=network, uid=sandbox.sandbox_uid(), gid=sandbox.sandbox_uid())
    return sandbox.start(dbt_argv("--no-use-colors", *args), cwd=folders.out,
                         env={**env, "MESHDIFF_HOLD": hold or "0"}, fence=fence, limits=config.limits,
                         hold=bool(hold))


def failure_text(what: str, result: sandbox.RunResult, timeout_s: float) -> str:
    if result.timed_out:
        return f"{what} did not finish within {timeout_s:.0f} s and was stopped"
    if result.exceeded:
        detail = dbt_error_text(result.output)
        return f"{what} was stopped: {result.exceeded}" + (f"\n{detail}" if detail else "")
    return dbt_error_text(result.output) or f"{what} failed with exit code {result.returncode}"


def dbt_error_text(output: str, limit: int = 4000) -> str:
    """dbt's own error lines from its console output (timestamps and colours removed)."""
    text = _TIMESTAMP.sub("", _ANSI.sub("", output))
    lines = [line.rstrip() for line in text.splitlines()]
    start = next(
        (i for i, line in enumerate(lines)
         if re.search(r"(Compilation|Parsing|Runtime|Database|Dependency|Internal|Env var)? ?Error", line)
         and "Encountered an error" not in line and not line.startswith("Done.")),
        None,
    )
    if start is None:
        return ""
    picked = [ln for ln in lines[start:] if ln.strip() and not ln.startswith(("Done.", "Finished running"))]
    out = "\n".join(picked).strip()
    return out if len(out) <= limit else out[:limit] + "\n[...]"
