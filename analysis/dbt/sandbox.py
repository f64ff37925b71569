"""Run one untrusted tool invocation (dbt) fenced in: bubblewrap, resource limits, bounded output.

Every dbt invocation runs PR code (Jinja, macros, ``run_query``), so every one runs here:

- **the OS sandbox** (:mod:`analysis.dbt.fence`): new user, PID, IPC, UTS and network
  namespaces, an unprivileged uid, a read-only view of the Python installation and of the
  project, one writable folder; nothing else of the host. When meshdiff runs as root, the
  process does not stay root in disguise: meshdiff makes the user namespace itself (uid 0 and
  the sandbox uid mapped), bubblewrap sets up as root inside it, and the command's first step
  becomes the sandbox uid for good (kernel uid 65534 by default, ``MESHDIFF_SANDBOX_UID``), so
  owner rights on root's files and root's exemption from process limits do not apply;
- **resource limits** (:class:`Limits`): address space, CPU time, file size, process count,
  no core dumps; the writable folder's total size is watched and the run stopped above it;
- **an allow-listed environment**: nothing of the caller's (no App key, no token, no Redis URL)
  unless it is named here or passed explicitly;
- a wall-clock limit; on expiry the whole process group is killed (the sandbox dies with it);
- output read while it runs, keeping a bounded head and tail.

:class:`SandboxConfig` says whether the sandbox is ``required`` (the App: no sandbox, no
compile), ``auto`` (the CLI: warn once and run unsandboxed where the host cannot make one) or
``off`` (``MESHDIFF_SANDBOX=off``: unsafe, for hosts where the operator fences the worker).
:func:`probe` tells whether this host can make the sandbox, and if not, why and what to do.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from analysis.dbt.fence import Fence, bwrap_argv, passwd_text

#: variables copied from the parent when present (locale only)
_PASSTHROUGH = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
_MAX_OUTPUT = 2_000_000
POLICIES = ("required", "auto", "off")
#: what to say where the host cannot make the sandbox
HOST_HINT = ("install bubblewrap (`apt-get install bubblewrap`) and allow user namespaces: on Debian/Ubuntu "
             "`sysctl kernel.unprivileged_userns_clone=1` (and on Ubuntu 24.04+ "
             "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`); in a container, a seccomp profile "
             "that allows unshare/clone/setns/mount (see the README's Security model)")


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
class SandboxConfig:
    """How untrusted code is run: the policy, the deps step's network, the limits."""

    policy: str = "auto"
    #: whether the separate `dbt deps` step may fetch hub/git packages (MESHDIFF_DEPS_NETWORK)
    deps_network: bool = True
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_env(cls, default_policy: str = "auto", env=None) -> "SandboxConfig":
        """``MESHDIFF_SANDBOX`` (``off`` turns it off; ``on``/``required``/``auto``),
        ``MESHDIFF_DEPS_NETWORK`` (``on``/``off``), the limits."""
        env = os.environ if env is None else env
        raw = str(env.get("MESHDIFF_SANDBOX", "")).strip().lower()
        policy = {"": default_policy, "on": default_policy, "1": default_policy, "true": default_policy,
                  "off": "off", "0": "off", "false": "off", "required": "required", "auto": "auto"}.get(raw)
        if policy is None:
            raise ValueError(f"MESHDIFF_SANDBOX={raw!r}: use on or off")
        net = str(env.get("MESHDIFF_DEPS_NETWORK", "on")).strip().lower()
        if net not in ("on", "off", "1", "0", "true", "false", ""):
            raise ValueError(f"MESHDIFF_DEPS_NETWORK={net!r}: use on or off")
        return cls(policy=policy, deps_network=net in ("on", "1", "true", ""), limits=Limits.from_env(env))

    def active(self) -> bool:
        """Whether runs are sandboxed. ``required`` and unavailable: :class:`SandboxError`;
        ``auto`` and unavailable: False (with one warning per process on stderr)."""
        if self.policy == "off":
            return False
        status = probe()
        if status.ok:
            return True
        if self.policy == "required":
            raise SandboxError(unavailable_text(status))
        _warn_once(f"meshdiff: warning: dbt runs UNSANDBOXED ({status.reason}); the project's code runs with "
                   f"your user's rights. To fence it: {HOST_HINT}. To refuse instead: --sandbox required.")
        return False


def unavailable_text(status: "Status") -> str:
    return (f"meshdiff did not compile the project's code: the sandbox that fences it cannot be created on this "
            f"host ({status.reason}).\n→ {status.hint or HOST_HINT}; or, where meshdiff is fenced by other means, "
            "set MESHDIFF_SANDBOX=off (unsafe: the code then runs with meshdiff's own rights)")


_warned: set[str] = set()


def _warn_once(text: str) -> None:
    if text not in _warned:
        _warned.add(text)
        print(text, file=sys.stderr, flush=True)


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


@dataclass(frozen=True)
class Status:
    ok: bool
    #: how the sandbox runs (``ok``) or why it cannot be made
    reason: str
    hint: str = ""

    def to_dict(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, **({"hint": self.hint} if self.hint else {})}


def sandbox_env(home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed environment for a child process (HOME and TMPDIR in its own folder)."""
    bindir = os.path.dirname(sys.executable)
    env = {
        "PATH": os.pathsep.join([bindir, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": home,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
        # glibc gives each thread a 64 MB malloc arena: keep the address space near what is used
        "MALLOC_ARENA_MAX": "2",
    }
    for key in _PASSTHROUGH:
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(extra or {})
    return env


def sandbox_uid() -> int:
    raw = os.environ.get("MESHDIFF_SANDBOX_UID", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else 65534


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
    limits = limits or Limits()
    start = time.monotonic()
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
        proc = subprocess.Popen(argv, cwd="/" if fence is not None else cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, pass_fds=tuple(pass_fds))
    finally:
        for fd in pass_fds:
            os.close(fd)
    output = _Output()
    reader = threading.Thread(target=output.drain, args=(proc.stdout,), daemon=True, name="meshdiff-sandbox-out")
    reader.start()
    watch = fence.writable if fence is not None else None
    exceeded = _wait(proc, timeout_s, lambda: _disk_exceeded(watch, limits) if watch else "")
    reader.join(timeout=10)
    timed_out = exceeded == "time"
    text = output.text()
    if not exceeded and proc.returncode:
        exceeded = _limit_hit(proc.returncode, text, limits)
    return RunResult(tuple(argv), proc.returncode if proc.returncode is not None else -9, text,
                     time.monotonic() - start, timed_out, "" if timed_out else exceeded)


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


# -- does this host make the sandbox? ------------------------------------------------------------
_status: list[Status] = []
_status_lock = threading.Lock()


def probe(*, refresh: bool = False) -> Status:
    """Whether this host can make the sandbox (run once per process, then remembered)."""
    with _status_lock:
        if _status and not refresh:
            return _status[0]
        status = _probe()
        _status[:] = [status]
        return status


def _probe() -> Status:
    if bwrap_path() is None:
        return Status(False, "bubblewrap (bwrap) is not installed", "install it: `apt-get install bubblewrap`, " + HOST_HINT)
    work = tempfile.mkdtemp(prefix="meshdiff-probe-")
    try:
        fence = Fence(writable=work, uid=sandbox_uid(), gid=sandbox_uid())
        script = "import os; open('probe', 'w').write(str(os.getuid())); print('sandbox-ok', os.getuid())"
        try:
            result = run([sys.executable, "-I", "-S", "-c", script], cwd=work, env=sandbox_env(work),
                         timeout_s=60, fence=fence, limits=Limits())
        except (OSError, SandboxError) as exc:
            return Status(False, f"the sandbox could not be started: {exc}", HOST_HINT)
        if not result.ok or "sandbox-ok" not in result.output:
            detail = next((ln.strip() for ln in result.output.splitlines() if ln.strip()), f"exit {result.returncode}")
            return Status(False, f"bubblewrap failed: {detail[:300]}", HOST_HINT)
        who = result.output.split("sandbox-ok", 1)[1].split()[0]
        kernel_uid = os.stat(os.path.join(work, "probe")).st_uid
        how = (f"bubblewrap; uid {who} in its own user namespace (kernel uid {kernel_uid}), no network, "
               "read-only system and project, one writable folder")
        return Status(True, how)
    finally:
        shutil.rmtree(work, ignore_errors=True)
