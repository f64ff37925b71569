"""Run one command fenced in (:func:`run`): bubblewrap around it, limits inside it, its output bounded.

:func:`run` builds the bubblewrap command line (:mod:`analysis.dbt.fence`) and a first step
inside that sets the :class:`~analysis.dbt.limits.Limits` and, for a root caller, becomes the
sandbox uid for good (in a user namespace meshdiff makes itself); it reads the output while the
command runs (a bounded head and tail), watches the writable folder's size and the wall clock,
kills the whole process group when a limit is exceeded, and names the limit a failed run hit.
:func:`start` does the same and returns at once; with ``hold`` the command (dbt, whose imports
and parse take seconds) waits for a go on its input before it reads its inputs, so that it can
be started before they exist (:mod:`analysis.dbt.prestart`).
Whether to sandbox at all is :mod:`analysis.dbt.sandbox`'s.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

from analysis.dbt.fence import Fence, bwrap_argv, passwd_text
from analysis.dbt.limits import Limits, RunResult, SandboxError

_MAX_OUTPUT = 2_000_000


# -- the first step inside: limits, then (root caller) the sandbox uid for good -----------------
_ENTER = """\
import os, resource as r, sys
a = sys.argv
mem, cpu, fsize, nproc, uid, gid = (int(x) for x in a[1:7])
cwd = a[7]
for k, soft, hard in ((r.RLIMIT_AS, mem, mem), (r.RLIMIT_CPU, cpu, cpu + 5), (r.RLIMIT_FSIZE, fsize, fsize),
                      (r.RLIMIT_NPROC, nproc, nproc), (r.RLIMIT_CORE, 0, 0)):
    r.setrlimit(k, (soft, hard))
if uid >= 0 and os.getuid() == 0:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        sys.exit("meshdiff sandbox: could not drop root")
os.chdir(cwd)
os.environ["PWD"] = cwd
os.execvp(a[8], a[8:])
"""


def _entry(argv: list[str], limits: Limits, uid: int, gid: int, cwd: str) -> list[str]:
    return [sys.executable, "-I", "-S", "-c", _ENTER, str(limits.memory_mb << 20), str(limits.cpu_s),
            str(limits.file_mb << 20), str(limits.procs), str(uid), str(gid), cwd, *argv]


def _userns_for_root(uid: int, gid: int) -> int:
    """A new user namespace with uid/gid 0 and ``uid``/``gid`` mapped to themselves (root only):
    bubblewrap sets up inside it as root, the command then becomes ``uid`` (a real, unprivileged
    kernel uid). No further user namespace can be made inside it (``max_user_namespaces`` 0, as
    bubblewrap's ``--disable-userns`` does). Returns an fd of the namespace."""
    code = ("import ctypes, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "ok = libc.unshare(0x10000000) == 0\nsys.stdout.write('ok\\n' if ok else 'errno %d\\n' % ctypes.get_errno())\n"
            "sys.stdout.flush()\nsys.stdin.readline()\n"
            "open('/proc/sys/user/max_user_namespaces', 'w').write('0')\n"
            "sys.stdout.write('sealed\\n'); sys.stdout.flush(); sys.stdin.read()\n")
    child = subprocess.Popen([sys.executable, "-I", "-S", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"}, close_fds=True)
    try:
        line = child.stdout.readline().decode().strip()
        if line != "ok":
            raise OSError(f"unshare(CLONE_NEWUSER) failed: {line or 'no answer'}")
        for name, text in (("uid_map", f"0 0 1\n{uid} {uid} 1\n"), ("gid_map", f"0 0 1\n{gid} {gid} 1\n")):
            with open(f"/proc/{child.pid}/{name}", "w", encoding="ascii") as handle:
                handle.write(text)
        child.stdin.write(b"go\n")
        child.stdin.flush()
        if child.stdout.readline().decode().strip() != "sealed":
            raise OSError("could not limit user namespaces inside the sandbox: "
                          + child.stderr.read().decode("utf-8", "replace").strip()[-300:])
        return os.open(f"/proc/{child.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        child.stdin.close()
        child.wait()
        child.stdout.close()
        child.stderr.close()


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def run(argv: list[str], *, cwd: str, env: dict[str, str], timeout_s: float, fence: Fence | None = None,
        limits: Limits | None = None) -> RunResult:
    """Run ``argv`` (inside ``fence`` when given, else unsandboxed) with ``limits``; kill the
    whole process group after ``timeout_s`` seconds or when a limit is exceeded."""
    return start(argv, cwd=cwd, env=env, fence=fence, limits=limits).finish(timeout_s)


def start(argv: list[str], *, cwd: str, env: dict[str, str], fence: Fence | None = None,
          limits: Limits | None = None, hold: bool = False) -> "Started":
    """Start ``argv`` as :func:`run` does and return at once. With ``hold``, its standard input
    is a pipe that :meth:`Started.release` writes ``go`` to (the command waits for it before it
    reads its inputs: :mod:`analysis.dbt.invoke`'s hold points) and :meth:`Started.cancel` closes."""
    limits = limits or Limits()
    pass_fds: list[int] = []
    userns = None
    uid = gid = -1
    if fence is not None:
        bwrap = bwrap_path()
        if bwrap is None:
            raise SandboxError("bubblewrap (bwrap) is not installed")
        root = os.geteuid() == 0
        if root:
            uid, gid = fence.uid, fence.gid
            _chown_tree(fence.writable, uid, gid)
            userns = _userns_for_root(uid, gid)
            pass_fds.append(userns)
        passwd, group = passwd_text(fence.uid, fence.gid, env.get("HOME", fence.writable))
        data_fds = (_data_fd(passwd), _data_fd(group))
        pass_fds += data_fds
        argv = bwrap_argv(fence, bwrap=bwrap, data_fds=data_fds, userns_fd=userns) + _entry(argv, limits, uid, gid, cwd)
    else:
        argv = _entry(argv, limits, -1, -1, cwd)
    try:
        proc = subprocess.Popen(argv, cwd="/" if fence is not None else cwd, env=env,
                                stdin=subprocess.PIPE if hold else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, pass_fds=tuple(pass_fds))
    finally:
        for fd in pass_fds:
            os.close(fd)
    return Started(proc, tuple(argv), fence.writable if fence is not None else None, limits)


class Started:
    """A command :func:`start` began: its output is read as it comes; :meth:`finish` waits for it."""

    def __init__(self, proc: subprocess.Popen, argv: tuple[str, ...], watch: str | None, limits: Limits) -> None:
        self.proc, self.argv, self.watch, self.limits = proc, argv, watch, limits
        self.started = time.monotonic()
        self.output = _Output()
        self.reader = threading.Thread(target=self.output.drain, args=(proc.stdout,), daemon=True,
                                       name="meshdiff-sandbox-out")
        self.reader.start()

    def release(self) -> None:
        """Let a held command go on (a command that already ended is left to :meth:`finish`)."""
        self.started = time.monotonic()  # its time and its time limit count from here
        if self.proc.stdin is None:
            return
        try:
            self.proc.stdin.write(b"go\n")
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def cancel(self) -> None:
        """Stop a held command that is not needed: its input closed, its process group killed."""
        if self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        _kill_group(self.proc.pid)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - defensive
            pass
        self.reader.join(timeout=10)

    def finish(self, timeout_s: float) -> RunResult:
        """Wait for the command (kill its group after ``timeout_s`` seconds from its start or
        release, or when a limit is exceeded) and say how it ended."""
        watch, limits = self.watch, self.limits
        left = max(0.01, timeout_s - (time.monotonic() - self.started))
        exceeded = _wait(self.proc, left, lambda: _disk_exceeded(watch, limits) if watch else "")
        self.reader.join(timeout=10)
        timed_out = exceeded == "time"
        text = self.output.text()
        if not exceeded and self.proc.returncode:
            exceeded = _limit_hit(self.proc.returncode, text, limits)
        return RunResult(self.argv, self.proc.returncode if self.proc.returncode is not None else -9, text,
                         time.monotonic() - self.started, timed_out, "" if timed_out else exceeded)


def _wait(proc: subprocess.Popen, timeout_s: float, check: Callable[[], str]) -> str:
    """Wait for ``proc``; ``"time"`` or what ``check`` reports when the group had to be killed."""
    deadline = time.monotonic() + timeout_s
    why = ""
    while proc.poll() is None:
        left = deadline - time.monotonic()
        if left <= 0:
            why = "time"
        else:
            why = check()
        if why:
            _kill_group(proc.pid)
            break
        try:
            proc.wait(timeout=min(0.5, max(left, 0.01)))
        except subprocess.TimeoutExpired:
            pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # pragma: no cover - defensive
        _kill_group(proc.pid)
        proc.wait()
    return why


def _limit_hit(returncode: int, output: str, limits: Limits) -> str:
    """The limit a failed run hit, in words ("" for an ordinary failure): a death by SIGXCPU or
    SIGXFSZ (bubblewrap reports it as 128+signal), or Python's own report of a refused
    allocation or write (Python ignores SIGXFSZ)."""
    sig = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if sig == signal.SIGXCPU:
        return f"CPU time above {limits.cpu_s} s (MESHDIFF_SANDBOX_CPU_S)"
    if sig == signal.SIGXFSZ or "[Errno 27] File too large" in output:
        return f"a file larger than {limits.file_mb} MB (MESHDIFF_SANDBOX_FILE_MB)"
    if "MemoryError" in output:
        return f"memory above {limits.memory_mb} MB (MESHDIFF_SANDBOX_MEMORY_MB)"
    return ""


def _disk_exceeded(folder: str, limits: Limits) -> str:
    total = files = 0
    cap = limits.disk_mb << 20
    stack = [folder]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    files += 1
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except OSError:
                        continue
        except OSError:
            continue
        if total > cap or files > 500_000:
            return f"more than {limits.disk_mb} MB (or 500,000 files) written (MESHDIFF_SANDBOX_DISK_MB)"
    return ""


class _Output:
    """Keeps the first and the last ``_MAX_OUTPUT / 2`` bytes of a stream, whatever its size."""

    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.cut = False

    def drain(self, stream) -> None:
        half = _MAX_OUTPUT // 2
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            if len(self.head) < half:
                room = half - len(self.head)
                self.head += chunk[:room]
                chunk = chunk[room:]
            if chunk:
                self.tail += chunk
                if len(self.tail) > half:
                    self.cut = True
                    del self.tail[:len(self.tail) - half]
        stream.close()

    def text(self) -> str:
        middle = b"\n[... output cut ...]\n" if self.cut else b""
        return (bytes(self.head) + middle + bytes(self.tail)).decode("utf-8", "replace")


def _data_fd(data: bytes) -> int:
    read, write = os.pipe()
    os.write(write, data)  # a few hundred bytes: fits the pipe buffer
    os.close(write)
    return read


def _chown_tree(folder: str, uid: int, gid: int) -> None:
    for dirpath, dirnames, filenames in os.walk(folder):
        os.chown(dirpath, uid, gid, follow_symlinks=False)
        for name in filenames + dirnames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
