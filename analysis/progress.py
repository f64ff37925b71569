"""Progress of an analysis, told to an observer the caller passes: a plain function.

The analysis knows nothing of terminals: it calls ``observer(Step(...))`` when a step starts,
advances and ends, and the caller (the CLI) decides what to show. A step is one of:

- ``compile``: one dbt compile of one project (``label`` e.g. ``shop @ head``); its end says
  whether the result came from the cache and how long the step took;
- ``lineage``: the column lineage of one world (``base``, ``head``, or ``mesh`` at rest),
  advancing node by node (``done`` of ``total``);
- ``impact``: the diff, the propagation and the policy.

An observer that raises stops the analysis like any other error: keep it simple.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Iterator

START, ADVANCE, END = "start", "advance", "end"


@dataclass(frozen=True)
class Step:
    stage: str            # compile | lineage | impact
    label: str            # what it is about: "shop @ head", "base", ...
    state: str = START    # start | advance | end
    seconds: float = 0.0  # wall time of the step (at its end)
    cached: bool = False  # at the end of a compile: taken from the cache, dbt did not run
    ok: bool = True       # at the end: whether it succeeded
    done: int = 0         # advance/end of a counted step: items done ...
    total: int = 0        # ... of this many (0: not counted)


Observer = Callable[[Step], None]


def ignore(step: Step) -> None:
    """The observer of a caller that wants no progress."""


@contextmanager
def step(observer: Observer | None, stage: str, label: str, *, total: int = 0) -> Iterator[dict]:
    """Report ``stage``/``label`` started, then ended with its time. The block may set
    ``info["cached"]``, ``info["ok"]`` and ``info["done"]`` to say how it ended."""
    observer = observer or ignore
    info: dict = {"cached": False, "ok": True, "done": total}
    started = time.monotonic()
    first = Step(stage, label, START, total=total)
    observer(first)
    try:
        yield info
    except BaseException:
        observer(replace(first, state=END, seconds=time.monotonic() - started, ok=False))
        raise
    observer(replace(first, state=END, seconds=time.monotonic() - started, cached=bool(info["cached"]),
                     ok=bool(info["ok"]), done=int(info["done"])))


def counter(observer: Observer | None, stage: str, label: str,
            every: int = 25) -> Callable[[int, int], None] | None:
    """A ``tick(done, total)`` function reporting ``advance`` steps (one per ``every`` items, and
    the last one), or ``None`` when nobody observes."""
    if observer is None or observer is ignore:
        return None

    def tick(done: int, total: int) -> None:
        if done == total or done % every == 0:
            observer(Step(stage, label, ADVANCE, done=done, total=total))

    return tick
