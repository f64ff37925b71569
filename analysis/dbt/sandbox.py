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

The policy, the environment and the probe are here; running one command fenced in is
:func:`analysis.dbt.launch.run` (re-exported as :func:`run`), its limits and result
:mod:`analysis.dbt.limits`.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field

from analysis.dbt.fence import Fence
from analysis.dbt.launch import Started, bwrap_path, run, start  # noqa: F401  (run/start: the one way to run PR code)
from analysis.dbt.limits import Limits, RunResult, SandboxError  # noqa: F401

#: variables copied from the parent when present (locale only)
_PASSTHROUGH = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
POLICIES = ("required", "auto", "off")
#: what to say where the host cannot make the sandbox
HOST_HINT = ("install bubblewrap (`apt-get install bubblewrap`) and allow user namespaces: on Debian/Ubuntu "
             "`sysctl kernel.unprivileged_userns_clone=1` (and on Ubuntu 24.04+ "
             "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`); in a container, a seccomp profile "
             "that allows unshare/clone/setns/mount (see the README's Security model)")


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
