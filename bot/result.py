"""What one analysis job produces, as JSON-able data: the reports (``Report.to_dict()``), the
check run's annotations, or why there was nothing to analyse. The job stores it (by the content
of its inputs) and the publishing step renders it; neither needs the other's code."""
from __future__ import annotations

from dataclasses import dataclass, field

from analysis.report import Report


@dataclass
class JobResult:
    reports: list[Report] = field(default_factory=list)
    annotations: list[dict] = field(default_factory=list)
    #: set when nothing was analysed: why (the check run is ``neutral``)
    nothing: str | None = None
    notes: list[str] = field(default_factory=list)
    #: the publishing policy (``bot.config.Notify.to_dict()``): comment, mention, request_reviews
    notify: dict = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """An analysis that ran to its end without errors: the same inputs give the same result,
        so it may be reused (errors may be transient: a fetch or a compile that timed out)."""
        return self.nothing is None and bool(self.reports) and not any(r.errors for r in self.reports)

    def to_dict(self) -> dict:
        return {"reports": [r.to_dict() for r in self.reports], "annotations": self.annotations,
                "nothing": self.nothing, "notes": self.notes, "notify": self.notify}

    @classmethod
    def from_dict(cls, data: dict) -> "JobResult":
        return cls([Report.from_dict(r) for r in data.get("reports", [])], list(data.get("annotations", [])),
                   data.get("nothing"), list(data.get("notes", [])), dict(data.get("notify") or {}))
