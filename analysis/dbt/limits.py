"""The limits of one sandboxed run, what a run returns, and the error of a host without a sandbox.

:class:`Limits` (address space, CPU time, file size, the writable folder's size, process
count; from ``MESHDIFF_SANDBOX_*``), :class:`RunResult` (exit code, bounded output, time, the
limit that stopped it) and :class:`SandboxError`. Shared by :mod:`analysis.dbt.sandbox` (the
policy) and :mod:`analysis.dbt.launch` (the run).
"""
from __future__ import annotations

import os
from dataclasses import dataclass


class SandboxError(RuntimeError):
    """The sandbox is required and this host cannot make it (the message says why and what to do)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run (environment variables in brackets)."""

    memory_mb: int = 4096  # address space of each process (MESHDIFF_SANDBOX_MEMORY_MB)
    cpu_s: int = 900  # CPU seconds of each process (MESHDIFF_SANDBOX_CPU_S)
    file_mb: int = 1024  # largest file written (MESHDIFF_SANDBOX_FILE_MB)
    disk_mb: int = 4096  # all files in the writable folder (MESHDIFF_SANDBOX_DISK_MB)
    procs: int = 256  # processes and threads of the sandbox user (MESHDIFF_SANDBOX_PROCS)

    @classmethod
    def from_env(cls, env=None) -> "Limits":
        env = os.environ if env is None else env
        values = {}
        for name, var in (("memory_mb", "MESHDIFF_SANDBOX_MEMORY_MB"), ("cpu_s", "MESHDIFF_SANDBOX_CPU_S"),
                          ("file_mb", "MESHDIFF_SANDBOX_FILE_MB"), ("disk_mb", "MESHDIFF_SANDBOX_DISK_MB"),
                          ("procs", "MESHDIFF_SANDBOX_PROCS")):
            raw = str(env.get(var, "")).strip()
            if not raw:
                continue
            if not raw.isdigit() or int(raw) <= 0:
                raise ValueError(f"{var}={raw!r} must be a positive whole number")
            values[name] = int(raw)
        return cls(**values)


@dataclass(frozen=True)
class RunResult:
    argv: tuple[str, ...]
    returncode: int
    output: str
    seconds: float
    timed_out: bool = False
    #: set when a limit stopped the run: what was exceeded, in words
    exceeded: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.exceeded
