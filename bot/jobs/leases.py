"""Running jobs in Redis: their records and leases, and results by content.

:class:`JobState` keeps the set of running jobs by deadline with each one's record, the
lease of the worker running it (renewed while it runs; the renewal re-creates what Redis
lost), the mark of the job computing a result, and results by the content of their inputs.
Part of :class:`bot.jobs.state.State`.
"""
from __future__ import annotations

import json
import time

import redis

from bot.ids import commit_key
from bot.jobs.keyspace import LEASE_TTL_S, PREFIX, RESULT_TTL_S, STATE_TTL_S

# Renew a lease held by ARGV[1] (or take a free one) and re-create what Redis may have lost.
_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[6])
end
if ARGV[7] ~= '' then redis.call('SET', KEYS[4], ARGV[7], 'EX', ARGV[8]) end
if ARGV[9] ~= '' and redis.call('EXISTS', KEYS[5]) == 0 then
  redis.call('SET', KEYS[5], ARGV[9], 'EX', ARGV[5])
end
return 1
"""
# Take a job out of the running set (one caller wins) and store its new record.
_CLAIM = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""
# Release a key only when it still holds ARGV[1].
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class JobState:
    """Results, running jobs, leases. Expects ``r`` (a Redis client) and the scripts
    :class:`~bot.jobs.state.State` registers from ``SCRIPTS``."""

    SCRIPTS = {"_renew": _RENEW, "_release": _RELEASE, "_claim": _CLAIM}

    # -- results ----------------------------------------------------------------------------
    def save_result(self, content_key: str, payload: dict) -> None:
        self.r.set(f"{PREFIX}result:{content_key}", json.dumps(payload), ex=RESULT_TTL_S)

    def load_result(self, content_key: str) -> dict | None:
        raw = self.r.get(f"{PREFIX}result:{content_key}")
        return json.loads(raw) if raw else None

    def save_job_result(self, job_id: str, payload: dict) -> None:
        self.r.set(f"{PREFIX}resultof:{job_id}", json.dumps(payload), ex=RESULT_TTL_S)

    def load_job_result(self, job_id: str) -> dict | None:
        raw = self.r.get(f"{PREFIX}resultof:{job_id}")
        return json.loads(raw) if raw else None

    def claim_computing(self, content_key: str, job_id: str) -> str | None:
        """Take the right to compute ``content_key``; ``None`` when taken, else who holds it."""
        key = f"{PREFIX}computing:{content_key}"
        if self.r.set(key, job_id, nx=True, ex=LEASE_TTL_S):
            return None
        return self.r.get(key) or ""

    def computing(self, content_key: str) -> str | None:
        return self.r.get(f"{PREFIX}computing:{content_key}")

    def release_computing(self, content_key: str, job_id: str) -> None:
        self._release(keys=[f"{PREFIX}computing:{content_key}"], args=[job_id])

    # -- running jobs -----------------------------------------------------------------------
    def register_job(self, job_id: str, record: dict, deadline: float) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.set(f"{PREFIX}job:{job_id}", json.dumps({**record, "deadline": deadline}), ex=STATE_TTL_S)
            pipe.zadd(f"{PREFIX}jobs", {job_id: deadline})
            pipe.execute()

    def job(self, job_id: str) -> dict | None:
        raw = self.r.get(f"{PREFIX}job:{job_id}")
        return json.loads(raw) if raw else None

    def jobs(self) -> list[str]:
        return list(self.r.zrange(f"{PREFIX}jobs", 0, -1))

    def overdue_jobs(self, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        return list(self.r.zrangebyscore(f"{PREFIX}jobs", 0, now))

    def finish_job(self, job_id: str) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.zrem(f"{PREFIX}jobs", job_id)
            pipe.delete(f"{PREFIX}job:{job_id}")
            pipe.delete(f"{PREFIX}lease:{job_id}")
            pipe.execute()

    def claim_job(self, job_id: str, record: dict) -> bool:
        """Atomically take a job out of the running set to act on it (one worker wins); its
        record is kept (with the state the caller gives) for the next execution."""
        return bool(self._claim(keys=[f"{PREFIX}jobs", f"{PREFIX}job:{job_id}"],
                                args=[job_id, json.dumps(record), STATE_TTL_S]))

    # -- leases -----------------------------------------------------------------------------
    def lease(self, job_id: str) -> str | None:
        return self.r.get(f"{PREFIX}lease:{job_id}")

    def leases(self, job_ids: list[str]) -> list[str | None]:
        if not job_ids:
            return []
        return self.r.mget([f"{PREFIX}lease:{j}" for j in job_ids])

    def take_lease(self, job_id: str, owner: str, *, replace: str | None = None) -> bool:
        """Hold ``job_id`` (free, or held by ``replace``: a holder known to be dead)."""
        key = f"{PREFIX}lease:{job_id}"
        if self.r.set(key, owner, nx=True, ex=LEASE_TTL_S):
            return True
        if replace is not None:
            with self.r.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    if pipe.get(key) not in (replace, None):
                        return False
                    pipe.multi()
                    pipe.set(key, owner, ex=LEASE_TTL_S)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    return False
        return False

    def renew(self, job_id: str, owner: str, record: dict | None, *, computing: str | None = None,
              pending: tuple[str, int, str, int] | None = None) -> bool:
        """Renew ``owner``'s lease; re-create the job's record, the ``computing`` mark it holds and
        the commit's pending mark when Redis lost them. False: someone else holds the lease."""
        deadline = (record or {}).get("deadline", time.time() + STATE_TTL_S)
        ckey = commit_key(*pending[:3]) if pending else "-"
        return bool(self._renew(
            keys=[f"{PREFIX}lease:{job_id}", f"{PREFIX}job:{job_id}", f"{PREFIX}jobs",
                  f"{PREFIX}computing:{computing or '-'}", f"{PREFIX}pending:{ckey}"],
            args=[owner, LEASE_TTL_S, json.dumps(record or {}), deadline, STATE_TTL_S, job_id,
                  job_id if computing else "", LEASE_TTL_S, str(pending[3]) if pending else ""]))

    def release_lease(self, job_id: str, owner: str) -> None:
        self._release(keys=[f"{PREFIX}lease:{job_id}"], args=[owner])
