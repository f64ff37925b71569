"""Progress of an analysis on stderr, when stderr is a terminal and ``--quiet`` is not given.

It observes :mod:`analysis.progress` steps: while a step runs, a spinner with its elapsed time
(a bar with a count for the lineage, which advances node by node); when it ends, one line
that stays: the step, whether it came from the cache, and its time::

      ✓ compile shop head (rename-lifetime-value)   dbt ran       14.2 s
      ✓ compile finance against base                cached         0.1 s
      ✓ lineage base                                57 nodes       0.4 s

`rich <https://github.com/Textualize/rich>`_ draws the live part (spinner, bar, redraws
without flicker, terminal width); nothing of it reaches the analysis.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from analysis.progress import ADVANCE, END, START, Observer, Step


class TerminalProgress:
    """A callable observer: ``progress(step)``. Use it inside ``with`` (the live display)."""

    def __init__(self, console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = console
        self.live = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=24),
                             MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True)
        self.tasks: dict[tuple[str, str], int] = {}

    def __enter__(self) -> "TerminalProgress":
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()

    def __call__(self, step: Step) -> None:
        key = (step.stage, step.label)
        if step.state == START:
            self.tasks[key] = self.live.add_task(f"{step.stage} {step.label}", total=step.total or None)
        elif step.state == ADVANCE and key in self.tasks:
            self.live.update(self.tasks[key], completed=step.done, total=step.total or None)
        elif step.state == END:
            task = self.tasks.pop(key, None)
            if task is not None:
                self.live.remove_task(task)
            self.console.print(line(step), highlight=False, markup=False)


def line(step: Step) -> str:
    """The line a finished step leaves on the terminal."""
    mark = "✓" if step.ok else "✗"
    if not step.ok:
        how = "failed"
    elif step.stage == "compile":
        how = "cached" if step.cached else "dbt ran"
    elif step.total:
        how = f"{step.total} nodes"
    else:
        how = ""
    return f"  {mark} {step.stage + ' ' + step.label:<48} {how:<12} {step.seconds:6.1f} s"


@contextmanager
def observer(quiet: bool) -> Iterator[Observer | None]:
    """The progress observer for a command: ``None`` when quiet or stderr is no terminal."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    with TerminalProgress(Console(stderr=True)) as progress:
        yield progress
