"""The check run ``meshdiff / impact``: one per head sha, ``in_progress`` while working,
completed with the policy's conclusion, output within GitHub's limits, annotations in batches
of 50 on the changed lines of the changed models and YAML files, and a "Re-run" button.

One run per sha: a job reuses the sha's ``meshdiff / impact`` run of this App (found by name,
head sha and App id) when it is its own (``external_id`` = the job id: a retry) or when it is
still open and belongs to an older run of the same commit (a dead or superseded job): it takes
it over (``external_id``, fresh ``started_at``). A *completed* run is final on GitHub (its status
and conclusion cannot change any more), so a rerun after completion gets a new run; GitHub
shows, and branch protection uses, the latest run of the name. Before completing, a job
re-reads its run and leaves it alone when a newer job took it over or it is already completed.

Conclusions used (documented in the README):

- ``success``   the analysis completed and the policy found nothing blocking;
- ``failure``   the policy blocks (breaking / unknown impact, governance), or the analysis could
                not be completed (errors, timeout, crash): never ``neutral`` for a block;
- ``neutral``   nothing to analyse (no dbt project in the repository, or the PR changes none);
- ``cancelled`` this run was superseded by a newer commit or a newer run of the same commit;
- ``action_required`` a fork PR by an outside contributor waits for a maintainer's go-ahead
                (``/meshdiff rerun`` or Re-run): it blocks like ``failure``.
"""
from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

from analysis.report import Report
from bot.ids import parse_job_id

log = logging.getLogger("meshdiff.checks")

CHECK_NAME = "meshdiff / impact"
RERUN_ACTION = {"label": "Re-run", "identifier": "rerun", "description": "Run meshdiff again"}
#: GitHub: output.summary and output.text maxLength 65535; keep a margin
OUTPUT_LIMIT = 65_000
ANNOTATIONS_PER_REQUEST = 50
MAX_ANNOTATIONS = 500
MAX_RANGES_PER_FILE = 10


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def clip(text: str, limit: int = OUTPUT_LIMIT, note: str = "\n\n… (cut to fit GitHub's limit)") -> str:
    return text if len(text) <= limit else text[: limit - len(note)] + note


def conclusion_of(reports: list[Report]) -> str:
    return "failure" if any(r.conclusion == "failure" for r in reports) else "success"


def verdict_title(reports: list[Report]) -> str:
    """One line of plain text: what blocks, or that nothing does (never "safe")."""
    from bot.render import verdict

    return verdict.title(reports)


def check_summary(reports: list[Report], page_url: str | None = None) -> str:
    """The check's ``summary``: short (verdict, counts per project, where the rest is)."""
    from bot.render import checkrun

    return clip(checkrun.summary(reports, page_url=page_url))


def details_text(reports: list[Report], page_url: str | None = None) -> str:
    """The check's ``text``: every change and impact with its path, errors and warnings."""
    from bot.render import checkrun

    return clip(checkrun.text(reports, page_url=page_url, limit=OUTPUT_LIMIT))


def _ranges(lines: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in sorted(set(lines)):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def _short(node: str) -> str:
    parts = node.split(".")
    return parts[2] if len(parts) >= 3 else node


def _impacts_of(report: Report, node: str) -> list:
    return [i for i in report.impacts if i.via and (i.via[0] == node or i.via[0].startswith(node + "."))]


def gating(report: Report, change) -> bool:
    """Does this change make the gate fail? (its own category, or what it reaches, blocks)"""
    if report.conclusion != "failure":
        return False
    if change.category in ("breaking", "unknown") or any(r.startswith("governance:") for r in change.reasons):
        return True
    return any(i.severity in ("breaking", "unknown") for i in _impacts_of(report, change.node))


def build_annotations(reports: list[Report], changed_lines: dict[str, list[int]],
                      head_root: str | None = None) -> list[dict]:
    """Annotations on the changed lines (from ``git diff -U0``) of changed models' files, and of
    changed YAML files that describe changed models. They follow the gate: ``failure`` where a
    change blocks the merge (breaking or unknown), ``notice`` otherwise (never a warning on a
    passing PR). Titles and messages are plain text, escaped (``bot.render.escape.plain``)."""
    from bot.render.escape import plain

    out: list[dict] = []
    for r in reports:
        for c in r.changes:
            lines = changed_lines.get(c.file or "") or []
            if not c.file or not lines:
                continue
            level = "failure" if gating(r, c) else "notice"
            reached = _impacts_of(r, c.node)
            msg = [f"{c.node}: {c.category} change"]
            msg += [f"- {reason.strip()}" for reason in c.reasons[:10]]
            if reached:
                by_project: dict[str, dict[str, int]] = {}
                for i in reached:
                    per = by_project.setdefault(i.project, {})
                    per[i.severity] = per.get(i.severity, 0) + 1
                msg.append("Reaches " + "; ".join(
                    f"{p}: " + ", ".join(f"{n} {s}" for s, n in sorted(per.items())) for p, per in sorted(by_project.items())))
            for start, end in _ranges(lines)[:MAX_RANGES_PER_FILE]:
                out.append({"path": c.file, "start_line": start, "end_line": end, "annotation_level": level,
                            "title": plain(f"meshdiff: {c.category} change to {_short(c.node)}", limit=255, one_line=True),
                            "message": plain("\n".join(msg), limit=60_000)})
        out += _yaml_annotations(r, changed_lines, head_root)
    return out[:MAX_ANNOTATIONS]


def _yaml_annotations(report: Report, changed_lines: dict[str, list[int]], head_root: str | None) -> list[dict]:
    from bot.render.escape import plain

    if not head_root:
        return []
    out: list[dict] = []
    model_files = {c.file for c in report.changes if c.file}
    for path, lines in sorted(changed_lines.items()):
        if not path.endswith((".yml", ".yaml")) or not lines or path in model_files:
            continue
        full = os.path.join(head_root, path)
        if os.path.islink(full) or not os.path.isfile(full) or os.path.getsize(full) > 2_000_000:
            continue
        with open(full, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        named = [c for c in report.changes if f"name: {_short(c.node)}" in text or f"'{_short(c.node)}'" in text]
        if not named:
            continue
        level = "failure" if any(gating(report, c) for c in named) else "notice"
        msg = plain("Describes changed nodes: " + ", ".join(f"{c.node} ({c.category})" for c in named[:20]))
        for start, end in _ranges(lines)[:MAX_RANGES_PER_FILE]:
            out.append({"path": path, "start_line": start, "end_line": end, "annotation_level": level,
                        "title": "meshdiff: YAML change of changed models", "message": msg})
    return out


class CheckRun:
    """The lifecycle of one job's check run (PyGithub objects underneath)."""

    def __init__(self, repo, head_sha: str, external_id: str, *, details_url: str | None = None,
                 app_id: int | str | None = None):
        self.repo = repo
        self.head_sha = head_sha
        self.external_id = external_id
        self.details_url = details_url
        self.app_id = int(app_id) if app_id and str(app_id).strip().isdigit() else None
        self.run = None

    def _runs(self) -> list:
        from github.CheckRun import CheckRun as _GhCheckRun
        from github.PaginatedList import PaginatedList

        params: dict = {"check_name": CHECK_NAME, "filter": "all"}
        if self.app_id:
            params["app_id"] = self.app_id  # another App's run of the same name is not ours to edit
        return list(PaginatedList(_GhCheckRun, self.repo._requester, f"{self.repo.url}/commits/{self.head_sha}/check-runs",
                                  params, list_item="check_runs"))

    def _may_take_over(self, external_id: str | None) -> bool:
        """An open run of an older run (generation) of the same PR and commit."""
        mine, theirs = parse_job_id(self.external_id), parse_job_id(external_id)
        return bool(mine and theirs and mine[:3] == theirs[:3] and theirs[3] < mine[3])

    def _find(self, *, take_over: bool = True):
        runs = self._runs()
        own = [r for r in runs if r.external_id == self.external_id]
        if own:
            return max(own, key=lambda r: r.id)
        if take_over:
            open_runs = [r for r in runs if r.status != "completed" and self._may_take_over(r.external_id)]
            if open_runs:
                return max(open_runs, key=lambda r: r.id)
        return None

    def attach(self, check_run_id: int):
        self.run = self.repo.get_check_run(int(check_run_id))
        return self.run

    def start(self, title: str = "Analysing the mesh…", summary: str = "meshdiff is compiling and comparing the projects.",
              *, replace_completed: bool = False) -> int:
        """This job's run ``in_progress``: its own (idempotent under retries), an open one of an
        older run of the same commit taken over, or a new one. ``replace_completed``: when the
        job's own run is already completed (the reaper failed it after the worker died and Celery
        delivered the job again), report on a new run instead (a completed run is final)."""
        if self.run is None:
            self.run = self._find()
        output = {"title": title, "summary": summary}
        if self.run is not None and replace_completed and self.run.status == "completed" \
                and self.run.external_id == self.external_id:
            self.run = None
        if self.run is None:
            kwargs = dict(name=CHECK_NAME, head_sha=self.head_sha, external_id=self.external_id, status="in_progress",
                          started_at=now_utc(), output=output)
            if self.details_url:
                kwargs["details_url"] = self.details_url
            self.run = self.repo.create_check_run(**kwargs)
        elif self.run.external_id != self.external_id:
            log.info("check run %s: %s takes it over from %s", self.run.id, self.external_id, self.run.external_id)
            self.run.edit(external_id=self.external_id, status="in_progress", started_at=now_utc(), output=output)
        elif self.run.status not in ("in_progress", "completed"):  # queued; a completed run is final
            self.run.edit(status="in_progress", output=output)
        return self.run.id

    def complete(self, conclusion: str, title: str, summary: str, text: str | None = None,
                 annotations: list[dict] | None = None, *, details_url: str | None = None,
                 create: bool = True) -> bool:
        """Complete this job's run; False (nothing sent) when a newer job took the run over or it
        is already completed. ``create=False``: only a run this job already has is completed."""
        assert conclusion in ("success", "failure", "neutral", "cancelled", "timed_out", "action_required", "skipped")
        if self.run is None:
            if create:
                self.start()
            else:
                self.run = self._find(take_over=False)
                if self.run is None:
                    return False
        else:
            self.run = self.repo.get_check_run(self.run.id)  # fresh: someone may have taken it over
        if self.run.external_id != self.external_id or self.run.status == "completed":
            log.info("check run %s not completed by %s: it is %s by %s", self.run.id, self.external_id,
                     self.run.status, self.run.external_id)
            return False
        title = title.splitlines()[0][:250] if title else conclusion
        summary = clip(summary or title)
        annotations = list(annotations or [])
        batches = [annotations[i:i + ANNOTATIONS_PER_REQUEST] for i in range(0, len(annotations), ANNOTATIONS_PER_REQUEST)]
        output: dict = {"title": title, "summary": summary}
        if text:
            output["text"] = clip(text)
        if batches:
            output["annotations"] = batches[0]
        extra = {"details_url": details_url} if details_url else {}
        self.run.edit(status="completed", conclusion=conclusion, completed_at=now_utc(), output=output,
                      actions=[RERUN_ACTION], **extra)
        for batch in batches[1:]:
            self.run.edit(output={"title": title, "summary": summary, "annotations": batch})
        return True
