"""What a webhook leaves in Redis: deliveries seen, generations of a commit's runs, the App's access.

:class:`IntakeState` records a webhook delivery in one round trip (access check, dedupe,
generation, head, pending mark, enqueue) and keeps each commit's generations and pending
mark; :class:`AccessState` what the App lost access to (a suspended installation, a removed
repository). Both are parts of :class:`bot.jobs.state.State`.
"""
from __future__ import annotations

import time

from bot.ids import commit_key
from bot.jobs.keyspace import (BLOCKED_REMOVED, BLOCKED_SUSPENDED, DELIVERY_TTL_S, PENDING_TTL_S, PREFIX,
                               REMOVED_TTL_S, STATE_TTL_S)

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


class IntakeState:
    """Deliveries and generations. Expects ``r`` (a Redis client) and the scripts
    :class:`~bot.jobs.state.State` registers from ``SCRIPTS``."""

    SCRIPTS = {"_intake": _INTAKE, "_bump": _BUMP, "_restore_gen": _RESTORE_GEN}

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


class AccessState:
    """A suspended installation or a repository removed from it: its work is dropped."""

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
