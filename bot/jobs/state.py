"""Shared state in Redis: delivery dedup, the supersede keys, running jobs, stored results.

Keys (all under ``meshdiff:``; nothing here is a credential):

- ``delivery:{guid}``                 SET NX EX 3 days — a redelivered webhook is a no-op
- ``head:{repo}#{pr}``                the latest head sha seen for a PR (advisory; GitHub is asked too)
- ``gen:{repo}#{pr}@{sha}``           generation counter of the job key; a newer run of the same
                                      (repo, PR, sha) supersedes an older one
- ``result:{job}``                    the reports of a finished analysis (JSON), so a retried publish
                                      never recomputes
- ``running`` (sorted set)            job ids by deadline, with ``run:{job}`` records, so a job whose
                                      worker died is still completed by the reaper
- ``suspended:{installation}``        the installation is suspended or deleted (until unsuspended)
- ``removed:{installation}:{repo}``   the repository was removed from the installation (24 h, or
                                      until it is added again): its queued and running jobs are
                                      dropped without publishing, its new events ignored
- ``worker:{hostname}``               worker heartbeats (for ``/healthz``)
- ``sandbox:{hostname}``              whether that worker can make the sandbox for PR code (JSON)
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import redis

PREFIX = "meshdiff:"
DELIVERY_TTL_S = 3 * 24 * 3600  # GitHub's redelivery window
STATE_TTL_S = 14 * 24 * 3600
RESULT_TTL_S = 24 * 3600
HEARTBEAT_TTL_S = 30
#: how long a removed repository stays blocked: longer than any queued job waits
REMOVED_TTL_S = 24 * 3600


def job_key(repo: str, pr: int, sha: str) -> str:
    return f"{repo}#{int(pr)}@{sha}"


def parse_job_id(job_id: str | None) -> tuple[str, int, str, int] | None:
    """``owner/repo#12@sha#3`` → (repo, pr, sha, gen); ``None`` when it is not one of ours."""
    if not job_id or "#" not in job_id or "@" not in job_id:
        return None
    try:
        key, gen = job_id.rsplit("#", 1)
        repo_pr, sha = key.rsplit("@", 1)
        repo, pr = repo_pr.rsplit("#", 1)
        return repo, int(pr), sha, int(gen)
    except ValueError:
        return None


@dataclass
class State:
    r: redis.Redis

    @classmethod
    def from_url(cls, url: str) -> "State":
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3, decode_responses=True))

    # -- webhooks ---------------------------------------------------------------------------
    def first_delivery(self, guid: str) -> bool:
        """True the first time ``guid`` is seen (within three days)."""
        return bool(self.r.set(f"{PREFIX}delivery:{guid}", str(int(time.time())), nx=True, ex=DELIVERY_TTL_S))

    def forget_delivery(self, guid: str) -> None:
        """Let GitHub's redelivery through again (when enqueueing failed)."""
        self.r.delete(f"{PREFIX}delivery:{guid}")

    # -- supersede --------------------------------------------------------------------------
    def set_head(self, repo: str, pr: int, sha: str) -> None:
        self.r.set(f"{PREFIX}head:{repo}#{int(pr)}", sha, ex=STATE_TTL_S)

    def head(self, repo: str, pr: int) -> str | None:
        return self.r.get(f"{PREFIX}head:{repo}#{int(pr)}")

    def bump(self, repo: str, pr: int, sha: str) -> int:
        """A new generation for (repo, PR, sha): any older run of the same key is superseded."""
        key = f"{PREFIX}gen:{job_key(repo, pr, sha)}"
        gen = int(self.r.incr(key))
        self.r.expire(key, STATE_TTL_S)
        return gen

    def generation(self, repo: str, pr: int, sha: str) -> int:
        return int(self.r.get(f"{PREFIX}gen:{job_key(repo, pr, sha)}") or 0)

    # -- results ----------------------------------------------------------------------------
    def save_result(self, job_id: str, payload: dict) -> None:
        self.r.set(f"{PREFIX}result:{job_id}", json.dumps(payload), ex=RESULT_TTL_S)

    def load_result(self, job_id: str) -> dict | None:
        raw = self.r.get(f"{PREFIX}result:{job_id}")
        return json.loads(raw) if raw else None

    # -- running jobs -----------------------------------------------------------------------
    def start_job(self, job_id: str, record: dict, deadline: float) -> None:
        self.r.set(f"{PREFIX}run:{job_id}", json.dumps({**record, "deadline": deadline}), ex=STATE_TTL_S)
        self.r.zadd(f"{PREFIX}running", {job_id: deadline})

    def job(self, job_id: str) -> dict | None:
        raw = self.r.get(f"{PREFIX}run:{job_id}")
        return json.loads(raw) if raw else None

    def attempt(self, job_id: str) -> int:
        key = f"{PREFIX}attempts:{job_id}"
        n = int(self.r.incr(key))
        self.r.expire(key, STATE_TTL_S)
        return n

    def finish_job(self, job_id: str) -> None:
        self.r.zrem(f"{PREFIX}running", job_id)
        self.r.delete(f"{PREFIX}run:{job_id}")

    def overdue_jobs(self, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        return list(self.r.zrangebyscore(f"{PREFIX}running", 0, now))

    def claim_overdue(self, job_id: str) -> bool:
        """Atomically take an overdue job off the running set (one reaper wins)."""
        return bool(self.r.zrem(f"{PREFIX}running", job_id))

    # -- installations ----------------------------------------------------------------------
    def set_suspended(self, installation_id: int, suspended: bool) -> None:
        key = f"{PREFIX}suspended:{int(installation_id)}"
        if suspended:
            self.r.set(key, "1")
        else:
            self.r.delete(key)

    def suspended(self, installation_id: int) -> bool:
        return bool(self.r.exists(f"{PREFIX}suspended:{int(installation_id)}"))

    def _removed_key(self, installation_id: int, repo: str) -> str:
        return f"{PREFIX}removed:{int(installation_id)}:{repo.lower()}"

    def set_repo_removed(self, installation_id: int, repo: str, removed: bool) -> None:
        """``installation_repositories`` removed (True) / added (False)."""
        if removed:
            self.r.set(self._removed_key(installation_id, repo), str(int(time.time())), ex=REMOVED_TTL_S)
        else:
            self.r.delete(self._removed_key(installation_id, repo))

    def repo_removed(self, installation_id: int, repo: str) -> bool:
        return bool(self.r.exists(self._removed_key(installation_id, repo)))

    def blocked(self, installation_id: int, repo: str | None = None) -> str | None:
        """Why work for ``repo`` of ``installation_id`` must be dropped, or ``None``."""
        if self.suspended(installation_id):
            return "installation suspended or deleted"
        if repo and self.repo_removed(installation_id, repo):
            return "repository removed from the installation"
        return None

    # -- health -----------------------------------------------------------------------------
    def heartbeat(self, hostname: str, sandbox: dict | None = None) -> None:
        self.r.set(f"{PREFIX}worker:{hostname}", str(int(time.time())), ex=HEARTBEAT_TTL_S)
        if sandbox is not None:
            self.r.set(f"{PREFIX}sandbox:{hostname}", json.dumps(sandbox), ex=HEARTBEAT_TTL_S)

    def sandboxes(self) -> dict[str, dict]:
        """``{hostname: sandbox status}`` of the workers whose heartbeat says it."""
        out = {}
        for key in self.r.scan_iter(f"{PREFIX}sandbox:*", count=100):
            raw = self.r.get(key)
            try:
                out[key[len(PREFIX) + len("sandbox:"):]] = json.loads(raw) if raw else {}
            except ValueError:
                continue
        return dict(sorted(out.items()))

    def workers(self) -> list[str]:
        return sorted(k[len(PREFIX) + len("worker:"):] for k in self.r.scan_iter(f"{PREFIX}worker:*", count=100))
