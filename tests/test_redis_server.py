"""The tests' own redis-server: a spare port, nothing persisted, gone with the process that
started it (even a SIGKILLed one), so no test ever needs or flushes the machine's shared Redis."""
import os
import signal
import subprocess
import sys
import time

import redis

from tests.paths import ROOT
from tests.redis_server import RedisServer


def _port_open(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_restart_loses_everything_and_stop_removes_the_dir():
    server = RedisServer().start()
    try:
        assert server.port != 6379
        server.client().set("k", "v")
        port = server.port
        server.restart()
        assert server.port == port and server.client().get("k") is None  # no persistence
        assert server.client().config_get("save") == {"save": ""}
        assert server.client().config_get("appendonly") == {"appendonly": "no"}
    finally:
        server.stop()
    assert not _port_open(port) and not os.path.exists(server.dir)


def test_the_server_dies_with_a_killed_parent():
    code = ("import sys, time; from tests.redis_server import RedisServer; s = RedisServer().start(); "
            "print(s.port, s.proc.pid, flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        port, pid = map(int, parent.stdout.readline().split())
        assert _port_open(port)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}") and \
            open(f"/proc/{pid}/stat").read().split()[2] != "Z":
        time.sleep(0.1)
    assert not _port_open(port)
