"""The one exception type of the analysis: what happened, where, and what to do next."""
from __future__ import annotations


class AnalysisError(Exception):
    """An analysis that cannot go on. ``str()`` gives the message and the hint."""

    def __init__(self, message: str, *, hint: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        #: verbatim tool output (e.g. dbt's error text), shown below the message
        self.detail = detail

    def __str__(self) -> str:
        out = self.message
        if self.detail:
            out += "\n" + self.detail.rstrip()
        if self.hint:
            out += f"\n→ {self.hint}"
        return out


#: Exception types that signal "stop now" from outside the analysis (e.g. a task queue's soft
#: time limit). Every broad ``except Exception`` of the analysis re-raises them first
#: (``except errors.INTERRUPTS: raise``). Empty here: the analysis imports no task queue; the
#: App's worker registers Celery's ``SoftTimeLimitExceeded`` (bot/tasks.py).
INTERRUPTS: tuple[type[BaseException], ...] = ()


def register_interrupt(exc_type: type[BaseException]) -> None:
    """Make broad handlers of the analysis re-raise ``exc_type`` (idempotent)."""
    global INTERRUPTS
    if exc_type not in INTERRUPTS:
        INTERRUPTS = (*INTERRUPTS, exc_type)
