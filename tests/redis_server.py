"""A private ``redis-server`` for tests and drills: a spare port, a temp dir, no persistence.

The machine's Redis on 6379 is shared by everyone working on it: tests never flush or restart
it. Each test session (and each drill of ``bench/drills``) starts its own server instead, so
parallel runs never collide, and can kill it or restart it (empty, like a Redis without
persistence) to drill state loss. The server dies with the process that started it (Linux
parent-death signal), even if that process is killed.

    server = RedisServer(tmp_dir).start()
    server.url            # redis://127.0.0.1:PORT/0
    server.restart()      # same port, empty (no persistence)
    server.stop()
"""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis

_PR_SET_PDEATHSIG = 1


def spare_port() -> int:
    """A TCP port nobody listens on right now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    os.setsid()


class RedisServer:
    """One ``redis-server`` process of our own (``--save "" --appendonly no``)."""

    def __init__(self, directory: str | None = None, *, port: int | None = None, appendonly: bool = False):
        self._own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="meshdiff-redis-")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or spare_port()
        self.appendonly = appendonly
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, decode_responses=True)

    def start(self, timeout: float = 30.0) -> "RedisServer":
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed: `apt-get install -y redis-server` (the tests start "
                               "their own on a spare port)")
        for attempt in range(5):
            log = open(os.path.join(self.dir, "redis.log"), "ab")
            self.proc = subprocess.Popen(
                [exe, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", self.dir, "--save", "",
                 "--appendonly", "yes" if self.appendonly else "no", "--daemonize", "no",
                 "--protected-mode", "yes", "--loglevel", "warning", "--maxclients", "2000"],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
            log.close()
            if self._wait_ready(timeout):
                return self
            self._kill()
            self.port = spare_port()  # somebody took the port between our probe and the bind
        raise RuntimeError(f"redis-server did not start (see {os.path.join(self.dir, 'redis.log')})")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if self.client().ping():
                    return True
            except redis.RedisError:
                pass
            time.sleep(0.05)
        return False

    def _kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: whatever the server held is gone (there is no persistence)."""
        self._kill()

    def restart(self) -> "RedisServer":
        """Kill and start again on the same port: an empty Redis (unless ``appendonly``)."""
        self._kill()
        return self.start()

    def stop(self) -> None:
        self._kill()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
