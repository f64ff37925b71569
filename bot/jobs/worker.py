"""What a worker process holds for its jobs (:class:`WorkerContext`), and whether a job's owner lives.

:class:`WorkerContext`: the worker's settings, its Redis connection (:class:`~bot.jobs.state.State`),
the App's credentials and who it is (:class:`~bot.jobs.state.Owner`); :func:`owner_alive` tells a
lease held by a live process from one a dead worker left.
"""
from __future__ import annotations

import os
import tempfile
import threading
import uuid
from dataclasses import dataclass, field

from bot.jobs.state import Owner, State
from bot.settings import Settings


@dataclass
class WorkerContext:
    """What a worker process holds: its settings, Redis, the App's credentials, who it is."""

    settings: Settings
    owner: Owner = field(default_factory=lambda: Owner("worker", uuid.uuid4().hex[:12], os.getpid()))
    _state: State | None = None
    _auth: object | None = None
    #: whether this worker can fence PR code in (``bot.tasks.sandbox_status``), sent with its heartbeat
    sandbox: dict | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def state(self) -> State:
        if self._state is None:
            self._state = State.from_url(self.settings.redis_url)
        return self._state

    @property
    def auth(self):
        from bot.github import AppAuthenticator

        with self._lock:
            if self._auth is None:
                self.settings.require_app_credentials()
                self._auth = AppAuthenticator(self.settings.app_id, self.settings.private_key,
                                              self.settings.github_api_url)
            return self._auth

    def me(self) -> Owner:
        """This process as a job owner (a pool process forked from the worker has its own pid)."""
        return Owner(self.owner.node, self.owner.instance, os.getpid())

    def github(self, installation_id: int):
        from bot.github import make_github

        token = self.auth.installation_token(installation_id)
        return make_github(token, self.settings.github_api_url), token

    def __post_init__(self) -> None:
        # fixed now: a job points the process' temporary folder into its own work dir meanwhile
        self.work_dir = self.settings.work_dir or os.path.join(tempfile.gettempdir(), "meshdiff-work")


def owner_alive(state: State, owner_text: str | None, me: Owner) -> bool:
    """Whether the process that holds a lease still runs: a worker that restarted under the same
    node name (its heartbeat names another instance) or a pool process of this worker that is gone
    (its pid) does not. Unknown: alive (the lease's expiry decides)."""
    owner = Owner.parse(owner_text)
    if owner is None:
        return False
    if owner.instance == me.instance:
        if owner.pid == me.pid:
            return True
        try:
            os.kill(owner.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    current = state.worker_instance(owner.node)
    return current is None or current == owner.instance
