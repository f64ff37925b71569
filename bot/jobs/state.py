"""Shared state in Redis: what the web process and the workers tell each other.

Keys (all under ``meshdiff:``; nothing here is a credential):

- ``delivery:{guid}``            a webhook delivery seen (3 days): a redelivery is a no-op
- ``gen:{repo}#{pr}@{sha}``      the newest generation requested for a commit (see ``bot.ids``)
- ``head:{repo}#{pr}``           the latest head sha seen for a PR (advisory; GitHub is asked too)
- ``pending:{repo}#{pr}@{sha}``  a run of the commit is queued or running (reconciliation skips it)
- ``jobs`` (sorted set)          job ids by deadline, each with ``job:{id}``: its task arguments,
                                 check run, state (running / retrying / failing / requeued) and
                                 deaths, and ``lease:{id}``: who runs it, renewed every few seconds
- ``result:{content}``           a complete analysis by the content of its inputs (24 h), with
                                 ``computing:{content}`` while one job computes it; ``resultof:{id}``
                                 the result a job published or will publish (its retries reuse it)
- ``worker:{node}``              a worker's heartbeat: the instance now running under that name
- ``sandbox:{node}``             whether that worker can make the sandbox for PR code (JSON)
- ``epoch``                      set once; its absence means Redis lost its data (see ``recovery``)
- ``suspended:{installation}``, ``removed:{installation}:{repo}``  the App lost access: drop work

A key that is missing is never read as "a newer run": generations are restored from the job that
holds them, leases and records are re-created by the job that owns them, and lost queues are
rebuilt by the reconciliation with GitHub (``bot.jobs.recovery``).
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass

import redis

from bot.ids import commit_key

PREFIX = "meshdiff:"
DELIVERY_TTL_S = 3 * 24 * 3600  # GitHub's redelivery window
STATE_TTL_S = 14 * 24 * 3600
RESULT_TTL_S = 24 * 3600
#: a queued or running commit is skipped by the reconciliation this long at most
PENDING_TTL_S = 6 * 3600
#: a worker's heartbeat (renewed every WATCH_INTERVAL_S by bot.jobs.recovery)
HEARTBEAT_TTL_S = 45
#: a job's lease: renewed every LEASE_RENEW_S while it runs; gone this long after its worker died
LEASE_TTL_S = int(os.environ.get("MESHDIFF_LEASE_TTL_S", "45") or 45)
LEASE_RENEW_S = max(1.0, LEASE_TTL_S / 4)
#: how long a removed repository stays blocked: longer than any queued job waits
REMOVED_TTL_S = 24 * 3600

BLOCKED_SUSPENDED = "installation suspended or deleted"
BLOCKED_REMOVED = "repository removed from the installation"

# One round trip for a webhook: access check, dedupe, generation, head, pending mark, enqueue.
_INTAKE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return {'blocked', ARGV[9]} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'blocked', ARGV[10]} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'duplicate'} end
if ARGV[2] ~= '' then
  local cur = redis.call('GET', KEYS[4])
  if cur and tonumber(cur) >= tonumber(ARGV[2]) then return {'conflict', cur} end
  redis.call('SET', KEYS[4], ARGV[2], 'EX', ARGV[5])
  if ARGV[6] == '1' then redis.call('SET', KEYS[5], ARGV[3], 'EX', ARGV[5]) end
  redis.call('SET', KEYS[6], ARGV[2], 'EX', ARGV[8])
end
redis.call('SET', KEYS[1], ARGV[7], 'EX', ARGV[1])
if ARGV[4] ~= '' then redis.call('LPUSH', KEYS[7], ARGV[4]) end
return {'queued'}
"""
# A new generation for a commit: strictly above the stored one and not below the clock.
_BUMP = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local gen = tonumber(ARGV[1])
if cur >= gen then gen = cur + 1 end
redis.call('SET', KEYS[1], string.format('%d', gen), 'EX', ARGV[2])
redis.call('SET', KEYS[2], string.format('%d', gen), 'EX', ARGV[3])
return string.format('%d', gen)
"""
# Put back a generation Redis forgot (never lowers one).
_RESTORE_GEN = """
local cur = redis.call('GET', KEYS[1])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
"""
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


@dataclass(frozen=True)
class Owner:
    """Who runs a job: the worker's node name, the worker instance (one per start), the process."""

    node: str
    instance: str
    pid: int

    def __str__(self) -> str:
        return f"{self.node}|{self.instance}|{self.pid}"

    @classmethod
    def parse(cls, text: str | None) -> "Owner | None":
        try:
            node, instance, pid = (text or "").rsplit("|", 2)
            return cls(node, instance, int(pid))
        except ValueError:
            return None


@dataclass
class State:
    r: redis.Redis

    @classmethod
    def from_url(cls, url: str, *, socket_timeout: float = 5.0, max_connections: int | None = None,
                 retries: int = 10) -> "State":
        """One connection pool for the process (``max_connections`` bounds it). A command that
        meets a lost connection is retried ``retries`` times with a backoff up to 2 s (about 15 s
        in all by default: a Redis restart does not fail the jobs running meanwhile); every write
        here is idempotent or harmless twice (deliveries are deduplicated, generations only rise)."""
        from redis.backoff import ExponentialBackoff
        from redis.retry import Retry

        pool = redis.ConnectionPool.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=3, decode_responses=True,
            max_connections=max_connections, health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=2.0, base=0.05), retries),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError, ConnectionError])
        return cls(redis.Redis(connection_pool=pool))

    def __post_init__(self) -> None:
        self._intake = self.r.register_script(_INTAKE)
        self._bump = self.r.register_script(_BUMP)
        self._restore_gen = self.r.register_script(_RESTORE_GEN)
        self._renew = self.r.register_script(_RENEW)
        self._release = self.r.register_script(_RELEASE)
        self._claim = self.r.register_script(_CLAIM)

    # -- webhooks ---------------------------------------------------------------------------
    def intake(self, delivery: str, *, installation_id: int | None, repo: str | None, queue: str = "",
               message: str = "", commit: tuple[str, int, str] | None = None, gen: int | None = None,
               set_head: bool = False) -> tuple[str, str | None]:
        """One round trip: ``("blocked", why)`` when the App lost access to ``repo``,
        ``("duplicate", None)`` for a delivery seen before, ``("conflict", stored)`` when ``gen`` is
        not above the commit's stored generation (nothing done: ask again with a larger one), else
        ``("queued", None)``: the delivery recorded, the generation, head and pending mark set and
        ``message`` pushed onto ``queue`` (nothing pushed when ``message`` is empty)."""
        ckey = commit_key(*commit) if commit else "-"
        keys = [f"{PREFIX}delivery:{delivery}",
                f"{PREFIX}suspended:{int(installation_id)}" if installation_id is not None else f"{PREFIX}-",
                self._removed_key(installation_id, repo) if installation_id is not None and repo else f"{PREFIX}-",
                f"{PREFIX}gen:{ckey}", f"{PREFIX}head:{commit[0]}#{int(commit[1])}" if commit else f"{PREFIX}-",
                f"{PREFIX}pending:{ckey}", queue or f"{PREFIX}-"]
        args = [DELIVERY_TTL_S, str(gen) if commit and gen else "", commit[2] if commit else "", message,
                STATE_TTL_S, "1" if set_head else "0", int(time.time()), PENDING_TTL_S, BLOCKED_SUSPENDED,
                BLOCKED_REMOVED]
        reply = self._intake(keys=keys, args=args)
        return reply[0], (reply[1] if len(reply) > 1 else None)

    def first_delivery(self, guid: str) -> bool:
        """True the first time ``guid`` is seen (within three days)."""
        return bool(self.r.set(f"{PREFIX}delivery:{guid}", str(int(time.time())), nx=True, ex=DELIVERY_TTL_S))

    def forget_delivery(self, guid: str) -> None:
        """Let GitHub's redelivery through again (when enqueueing failed)."""
        self.r.delete(f"{PREFIX}delivery:{guid}")

    # -- generations ------------------------------------------------------------------------
    def set_head(self, repo: str, pr: int, sha: str) -> None:
        self.r.set(f"{PREFIX}head:{repo}#{int(pr)}", sha, ex=STATE_TTL_S)

    def head(self, repo: str, pr: int) -> str | None:
        return self.r.get(f"{PREFIX}head:{repo}#{int(pr)}")

    def bump(self, repo: str, pr: int, sha: str, *, now_gen: int | None = None) -> int:
        """A new generation for the commit (any older run of it is superseded), marked pending."""
        from bot.ids import new_generation

        ckey = commit_key(repo, pr, sha)
        return int(self._bump(keys=[f"{PREFIX}gen:{ckey}", f"{PREFIX}pending:{ckey}"],
                              args=[now_gen or new_generation(), STATE_TTL_S, PENDING_TTL_S]))

    def generation(self, repo: str, pr: int, sha: str) -> int | None:
        """The newest generation requested for the commit; ``None`` when Redis has none (it was
        never set, it expired, or Redis lost it: not a newer run)."""
        raw = self.r.get(f"{PREFIX}gen:{commit_key(repo, pr, sha)}")
        return int(raw) if raw else None

    def restore_generation(self, repo: str, pr: int, sha: str, gen: int) -> int:
        """Put ``gen`` back when Redis has no generation (or a lower one) for the commit; returns
        the newest generation."""
        return int(self._restore_gen(keys=[f"{PREFIX}gen:{commit_key(repo, pr, sha)}"], args=[int(gen), STATE_TTL_S]))

    def pending(self, repo: str, pr: int, sha: str) -> bool:
        return bool(self.r.exists(f"{PREFIX}pending:{commit_key(repo, pr, sha)}"))

    def clear_pending(self, repo: str, pr: int, sha: str, gen: int) -> None:
        """The run ``gen`` of the commit ended: the pending mark goes unless a newer run set it."""
        self._release(keys=[f"{PREFIX}pending:{commit_key(repo, pr, sha)}"], args=[str(int(gen))])

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
        keys = [f"{PREFIX}suspended:{int(installation_id)}"]
        if repo:
            keys.append(self._removed_key(installation_id, repo))
        found = self.r.mget(keys)
        if found[0] is not None:
            return BLOCKED_SUSPENDED
        if repo and found[1] is not None:
            return BLOCKED_REMOVED
        return None

    # -- workers and health -----------------------------------------------------------------
    def heartbeat(self, node: str, instance: str = "", sandbox: dict | None = None) -> None:
        self.r.set(f"{PREFIX}worker:{node}", instance or str(int(time.time())), ex=HEARTBEAT_TTL_S)
        if sandbox is not None:
            self.r.set(f"{PREFIX}sandbox:{node}", json.dumps(sandbox), ex=HEARTBEAT_TTL_S)

    def sandboxes(self) -> dict[str, dict]:
        """``{node: sandbox status}`` of the workers whose heartbeat says it."""
        out = {}
        for key in self.r.scan_iter(f"{PREFIX}sandbox:*", count=100):
            raw = self.r.get(key)
            try:
                out[key[len(PREFIX) + len("sandbox:"):]] = json.loads(raw) if raw else {}
            except ValueError:
                continue
        return dict(sorted(out.items()))

    def worker_instance(self, node: str) -> str | None:
        return self.r.get(f"{PREFIX}worker:{node}")

    def workers(self) -> list[str]:
        return sorted(k[len(PREFIX) + len("worker:"):] for k in self.r.scan_iter(f"{PREFIX}worker:*", count=100))

    def ensure_epoch(self) -> tuple[str, bool]:
        """The id of Redis' current dataset, and whether it was created just now (the first run
        ever, or Redis lost its data since the epoch was set)."""
        key = f"{PREFIX}epoch"
        fresh = uuid.uuid4().hex
        if self.r.set(key, fresh, nx=True):
            return fresh, True
        return self.r.get(key) or fresh, False

    def persistence_warnings(self) -> list[str]:
        """What makes Redis lose the App's state on a restart or under memory pressure."""
        warnings: list[str] = []
        try:
            persistence = self.r.info("persistence")
            memory = self.r.info("memory")
        except redis.ResponseError:  # INFO disabled (a managed Redis): nothing to say
            return warnings
        if not int(persistence.get("aof_enabled", 0)):
            warnings.append("Redis has no append-only file (appendonly no): a restart loses queued jobs and the "
                            "App's state; set `appendonly yes` (the reconciliation re-creates lost jobs, later)")
        policy = memory.get("maxmemory_policy", "noeviction")
        if int(memory.get("maxmemory", 0) or 0) and policy != "noeviction":
            warnings.append(f"Redis evicts keys under memory pressure (maxmemory-policy {policy}): queued jobs can "
                            "be lost; set `maxmemory-policy noeviction`")
        return warnings
