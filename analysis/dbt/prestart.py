"""dbt started ahead of its compile: its imports and its parse run while the upstream compiles do.

A downstream project's compile waits for the compiles it reads (dbt-loom injects nodes from
their manifests). Yet most of a small project's ``dbt compile`` needs nothing of them: Python
importing dbt, then parsing the project's macros and models; in a chain of projects (A read by
B read by C) each compile used to wait for the one before it, then spend those seconds. Here,
when a compile starts dbt, the compiles of the projects that read it are made ready ahead
(:func:`~analysis.dbt.prepare.ahead_of`: their folders, profile and packages) and their dbt
started *held* (:func:`~analysis.dbt.invoke.start_dbt`): it imports dbt, reads and parses the
project, and waits for a go on its input before it makes its plugin manager (dbt-loom, which
reads ``in/``: ``HOLD_INPUTS``). The compile that needs it (:class:`Prestarts`,
:meth:`Prestarts.take`) writes the upstream manifests and the dbt-loom config into ``in/`` and
lets it go: what is left is the injection, the refs and the compile, about 0.9 s of the
examples' 2.4 s. The changed project's head compile is started ahead too when its base compile
starts dbt (the head runs after the base, from its parse state: :mod:`analysis.dbt.schedule`);
it waits before it reads anything of the project (``HOLD_START``), since dbt looks for a parse
state first: the base's is copied into its folder before the go. If both of a project's
compiles turn out to be cache hits, the held process is stopped when the analysis ends.

Safety: a held dbt is the process the compile would have started, in the same fence, with the
same folders, limits and environment, only earlier. Before the go it reads only what it would
read anyway and what does not change during the analysis (the project's files, its packages,
the profile); what the compile writes at the go goes to ``in/`` (read-only to it) and is read
after the go; a parse state is copied only into a dbt held at ``HOLD_START`` (one held later
has run the project's Jinja in that folder: :meth:`Ahead.serves`), and never through a link
(:func:`~analysis.dbt.partialparse.seed`). Its time limit and its disk watch count from the
go; before it, the CPU, memory and file-size limits hold, and the analysis's end stops it.

Cost: held processes are made once a core holds no dbt run (:data:`~analysis.dbt.slots.DBT_SLOTS`),
and they then import and parse on it, beside the compile that runs: on the example mesh that
compile takes 6.2-6.5 s instead of 4.4 s, and the whole analysis is still faster (the work is
done, not waited for). At most :func:`~analysis.dbt.slots.compile_slots` + 1 are held or being
made at once (a held finance after its parse: 127 MB); the changed project's head comes first
among its base's readers. ``MESHDIFF_PRESTART=0`` turns it off.
"""
from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.dbt.invoke import HOLD_START
from analysis.dbt.limits import RunResult
from analysis.dbt.slots import DBT_SLOTS, compile_slots


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether compiles are started ahead (``MESHDIFF_PRESTART``, default on)."""
    value = (os.environ if env is None else env).get("MESHDIFF_PRESTART", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


@dataclass
class Ahead:
    """One compile made ready and its dbt started, held (see the module docstring)."""

    project_dir: str
    #: what the compile must be run with for this process to serve it (target, sandboxing, limits, env, vars)
    terms: tuple
    work: str
    ready: Any  # analysis.dbt.prepare.Prepared
    started: Any  # analysis.dbt.launch.Started
    #: where it waits (analysis.dbt.invoke: HOLD_START, before it reads anything; HOLD_INPUTS)
    hold: str = ""
    done: bool = field(default=False, repr=False)

    def serves(self, terms: tuple, seeded: bool) -> bool:
        """Whether it may run a compile of ``terms``: alive, made for the same terms, and, for a
        compile given a parse state, held before it read anything (one held later has run the
        project's Jinja in the folder the parse state is copied into)."""
        return self.alive() and self.terms == terms and (not seeded or self.hold == HOLD_START)

    def alive(self) -> bool:
        """Whether the held process still waits (one that ended meanwhile cannot serve)."""
        return not self.done and self.started.proc.poll() is None

    def run(self, timeout_s: float) -> RunResult:
        """Let dbt go (its inputs are written) and wait for it."""
        self.started.release()
        result = self.started.finish(timeout_s)
        self.done = True
        return result

    def cancel(self) -> None:
        """Stop the held process (its folder stays for whoever owns it)."""
        if not self.done:
            self.done = True
            self.started.cancel()

    def discard(self) -> None:
        """Stop the held process and remove its folder: nobody will use it."""
        self.cancel()
        shutil.rmtree(self.work, ignore_errors=True)


def _who(project_file) -> tuple[str, str]:
    """Whose a held compile is: a project's name and folder (the changed project's base and head
    share a name)."""
    return project_file.name, os.path.abspath(project_file.path)


class Prestarts:
    """Held compiles of one analysis, by project (name and folder).

    ``make(project_file)`` makes one ready (``None``: it cannot be, the compile will do it all
    itself); ``readers`` maps a project name to the project files to start ahead when it starts
    dbt (those that read it; the changed project's head for its base). One thread of its own makes them and lives until :meth:`close`:
    the sandbox dies with the thread that started it (bubblewrap's ``--die-with-parent``)."""

    def __init__(self, make: Callable[[Any], Ahead | None], readers: Mapping[str, Sequence[Any]],
                 limit: int | None = None, idle: Callable[[], int] = DBT_SLOTS.idle) -> None:
        self.make, self.readers, self.idle = make, readers, idle
        self.limit = limit if limit is not None else compile_slots() + 1
        self._held: dict[tuple[str, str], Ahead] = {}
        self._queue: list[Any] = []
        self._pending: set[tuple[str, str]] = set()  # asked for, not made yet
        self._wanted: set[tuple[str, str]] = set()
        self._closed = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    enabled = staticmethod(enabled)

    def started(self, name: str) -> None:
        """``name``'s compile starts dbt: start the compiles of its readers ahead."""
        for reader in self.readers.get(name, ()):
            self._want(reader)

    def take(self, project_file) -> Ahead | None:
        """The held compile of ``project_file`` for the one compile that runs dbt for it (waits
        for one being made; one still waiting for a core is dropped); ``None`` when there is none."""
        who = _who(project_file)
        with self._changed:
            queued = [p for p in self._queue if _who(p) == who]
            if queued:  # not being made yet: the compile does it all itself, now
                self._queue.remove(queued[0])
                self._pending.discard(who)
                return None
            self._changed.wait_for(lambda: who not in self._pending)
            return self._held.pop(who, None)

    def close(self) -> None:
        """The analysis ends (no compile runs any more): stop every held process nobody took,
        then the thread that started them."""
        with self._changed:
            self._closed = True
            self._queue.clear()
            self._pending.clear()
            held, self._held = list(self._held.values()), {}
            self._changed.notify_all()
        for ahead in held:
            ahead.discard()
        if self._thread is not None:
            self._thread.join()

    def _want(self, project_file) -> None:
        who = _who(project_file)
        with self._changed:
            if self._closed or who in self._wanted or len(self._held) + len(self._pending) >= self.limit:
                return
            self._wanted.add(who)
            self._pending.add(who)
            self._queue.append(project_file)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, daemon=True, name="meshdiff-prestart")
                self._thread.start()
            self._changed.notify_all()

    def _work(self) -> None:
        try:
            while self._next():
                pass
        finally:  # whatever ended it, nobody waits for a compile it would have made
            with self._changed:
                self._closed = True
                self._pending.clear()
                self._queue.clear()
                self._changed.notify_all()

    def _next(self) -> bool:
        """Make the next wanted compile ready once a core is idle; ``False`` once closed."""
        with self._changed:
            # a core no dbt run holds (checked again every 0.1 s: runs end without telling us)
            while not self._closed and not (self._queue and self.idle() > 0):
                self._changed.wait(timeout=0.1)
            if self._closed:
                return False
            project_file = self._queue.pop(0)
        ahead = None
        try:
            ahead = self.make(project_file)
        except Exception:  # noqa: BLE001 - the compile itself will do it all and say what fails
            ahead = None
        finally:
            with self._changed:
                self._pending.discard(_who(project_file))
                if ahead is not None and not self._closed:
                    self._held[_who(project_file)] = ahead
                    ahead = None
                self._changed.notify_all()
            if ahead is not None:  # closed meanwhile
                ahead.discard()
        return True
        # every process it started has ended (close() runs after the last compile): it may go
