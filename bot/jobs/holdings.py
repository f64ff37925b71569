"""What a running job holds: its lease kept alive, results by content, its own work dir.

- :class:`LeaseKeeper` renews the job's lease from a thread and puts back what Redis lost;
- :class:`ResultCache` reuses a result already computed for the same inputs, or waits for the
  job computing it, instead of computing twice;
- :func:`job_workspace` a folder of the job's own (temporary files included), marked so that
  ``bot.jobs.recovery`` removes the ones whose job no longer runs.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time

from bot.ids import JobId
from bot.jobs.state import LEASE_RENEW_S, State
from bot.result import JobResult

log = logging.getLogger("meshdiff.job")

WORKSPACE_PREFIX = "meshdiff-job-"
WORKSPACE_MARK = ".meshdiff-job"


class LeaseKeeper:
    """Renews a job's lease every few seconds from a thread of the process running it, and puts
    back what Redis lost meanwhile (the job's record, its pending mark, the computing mark)."""

    def __init__(self, state: State, job_id: JobId, owner: str, record: dict):
        self.state, self.job_id, self.owner, self.record = state, job_id, owner, record
        self.computing: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"meshdiff-lease-{job_id.pr}")

    def start(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def renew(self) -> None:
        j = self.job_id
        try:
            if not self.state.renew(str(j), self.owner, self.record, computing=self.computing,
                                    pending=(j.repo, j.pr, j.sha, j.gen)):
                if not self.lost:
                    log.warning("job %s: another worker took its lease over", j)
                self.lost = True
        except Exception as exc:  # Redis restarting: try again at the next beat
            log.warning("job %s: lease not renewed (%s)", j, exc)

    def _run(self) -> None:
        while not self._stop.wait(LEASE_RENEW_S):
            self.renew()

    def stop(self) -> None:
        """Stop renewing; returns once a renewal under way is over (it cannot re-create the
        record of a job that just finished)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)


class ResultCache:
    """Results by the content of their inputs: a result already computed is reused, and while
    one job computes a content another job that needs it waits for it instead of computing twice."""

    def __init__(self, state: State, job_id: str, keeper: LeaseKeeper | None = None, *, poll_s: float = 2.0):
        self.state, self.job_id, self.keeper, self.poll_s = state, job_id, keeper, poll_s
        self.reused = False

    def get_or_compute(self, key: str, compute) -> JobResult:
        while True:
            stored = self.state.load_result(key)
            if stored is not None:
                log.info("job %s: inputs %s analysed before, reusing the result", self.job_id, key[:12])
                self.reused = True
                return JobResult.from_dict(stored)
            holder = self.state.claim_computing(key, self.job_id)
            if holder is None or holder == self.job_id:
                return self._compute(key, compute)
            log.info("job %s: job %s is analysing the same inputs, waiting for its result", self.job_id, holder)
            while self.state.computing(key) == holder and self.state.load_result(key) is None:
                time.sleep(self.poll_s)

    def _compute(self, key: str, compute) -> JobResult:
        if self.keeper is not None:
            self.keeper.computing = key
        try:
            result = compute()
            if result.complete:
                self.state.save_result(key, result.to_dict())
            return result
        finally:
            if self.keeper is not None:
                self.keeper.computing = None
            self.state.release_computing(key, self.job_id)


@contextlib.contextmanager
def job_workspace(work_dir: str, job_id: JobId, owner: str):
    """A folder for the job, marked with its id and owner (``bot.jobs.recovery`` removes the ones
    whose job no longer runs); temporary files of the analysis go inside it too."""
    os.makedirs(work_dir, exist_ok=True)
    ws = tempfile.mkdtemp(prefix=WORKSPACE_PREFIX, dir=work_dir)
    with open(os.path.join(ws, WORKSPACE_MARK), "w", encoding="utf-8") as mark:
        json.dump({"job": str(job_id), "owner": owner}, mark)
    tmp = os.path.join(ws, "tmp")
    os.makedirs(tmp)
    saved = (tempfile.tempdir, os.environ.get("TMPDIR"))
    tempfile.tempdir, os.environ["TMPDIR"] = tmp, tmp
    try:
        yield ws
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
        shutil.rmtree(ws, ignore_errors=True)
