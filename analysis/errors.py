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
