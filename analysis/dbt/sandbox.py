"""Run one untrusted tool invocation (dbt) in its own subprocess, fenced in.

- the environment is an allow-list: nothing of the caller's (no App key, no tokens, no
  Redis URL) reaches the child unless it is named here or passed explicitly;
- the working directory is a fresh temporary directory the PR does not control, so no
  ``.env``, ``profiles.yml`` or ``dbt_loom.config.yml`` is picked up from it;
- a wall-clock limit; on expiry the whole process group is killed (dbt may fork);
- output is read up to a bound.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

#: variables copied from the parent when present (locale and temp dirs only)
_PASSTHROUGH = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
_MAX_OUTPUT = 2_000_000


@dataclass(frozen=True)
class RunResult:
    argv: tuple[str, ...]
    returncode: int
    output: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def sandbox_env(home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment for a child process."""
    bindir = os.path.dirname(sys.executable)
    env = {
        "PATH": os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": home,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
    }
    for key in _PASSTHROUGH:
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra or {})
    return env


def run(argv: list[str], *, cwd: str, env: dict[str, str], timeout_s: float) -> RunResult:
    """Run ``argv`` in its own session; kill the process group after ``timeout_s`` seconds."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    timed_out = False
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        out, _ = proc.communicate()
    finally:
        if proc.poll() is None:  # pragma: no cover - defensive
            _kill_group(proc.pid)
            proc.wait()
    text = out.decode("utf-8", "replace")
    if len(text) > _MAX_OUTPUT:
        text = text[:_MAX_OUTPUT // 2] + "\n[... output cut ...]\n" + text[-_MAX_OUTPUT // 2:]
    return RunResult(tuple(argv), proc.returncode, text, time.monotonic() - start, timed_out)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
