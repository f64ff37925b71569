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
import time
import uuid
from dataclasses import dataclass

import redis

from bot.jobs.intake import AccessState, IntakeState
from bot.jobs.keyspace import (  # noqa: F401  (the constants other modules read here)
    BLOCKED_REMOVED, BLOCKED_SUSPENDED, DELIVERY_TTL_S, HEARTBEAT_TTL_S, LEASE_RENEW_S, LEASE_TTL_S, PENDING_TTL_S,
    PREFIX, REMOVED_TTL_S, RESULT_TTL_S, STATE_TTL_S,
)
from bot.jobs.leases import JobState


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
class State(IntakeState, AccessState, JobState):
    """The App's shared state in Redis (keys: the module docstring). Its parts:
    :class:`~bot.jobs.intake.IntakeState` (deliveries, generations),
    :class:`~bot.jobs.intake.AccessState` (installations), :class:`~bot.jobs.leases.JobState`
    (results, running jobs, leases); here the connection, workers and health."""

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
        for part in type(self).__mro__:
            for name, script in vars(part).get("SCRIPTS", {}).items():
                setattr(self, name, self.r.register_script(script))

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
