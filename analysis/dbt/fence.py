"""What a sandboxed process sees: a :class:`Fence`, and the bubblewrap command line that builds it.

The view is *path-transparent*: every folder the process may see is mounted at its own host
path, so a command line is the same inside and outside the sandbox. Everything else of the
host is absent. The view holds:

- the system's programs and libraries (``/usr`` and the merged-``/usr`` links), read-only;
- the Python installation running meshdiff (base prefix and virtualenv), read-only: a PR cannot
  drop a ``.pth`` file into ``site-packages`` for a later trusted process to run;
- a few files of ``/etc`` (the dynamic linker's cache, the time zone; name resolution and CA
  certificates only when the network is shared), a generated ``passwd``/``group``; never the
  rest of ``/etc``, never ``HOME``, the meshdiff cache, other jobs' folders or the App's key;
- the :attr:`Fence.readonly` folders (the project's checkout, meshdiff's generated inputs);
- one writable folder, :attr:`Fence.writable`, where every output lands;
- :attr:`Fence.layers`: a folder of a read-only tree shown from a folder of the writable one,
  with each of its entries bound back in read-only (a symbolic link is re-created as a link, so
  it resolves inside the sandbox), e.g. the project with a private ``dbt_packages`` and a
  ``package-lock.yml`` that ``dbt deps`` may write, without touching the host's project;
- its own ``/proc`` (only its own processes), a minimal ``/dev`` with a small ``/dev/shm``,
  a small ``/tmp``; the root itself is read-only.

Namespaces: user, PID, IPC, UTS, cgroup and (unless :attr:`Fence.network`) network are new;
``--die-with-parent``, ``--new-session`` (no terminal to inject input into), no capabilities,
no new privileges (bubblewrap sets ``PR_SET_NO_NEW_PRIVS``).
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

#: merged-/usr links or real folders at the root of the host
_ROOT_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: /etc files every sandbox gets (when present): the linker's cache, the time zone
_ETC_ALWAYS = ("/etc/ld.so.cache", "/etc/localtime")
#: /etc files a sandbox with network gets: name resolution, CA certificates
_ETC_NETWORK = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
                "/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates")
SMALL_TMPFS = 64 << 20


@dataclass(frozen=True)
class Layer:
    """``dest`` (inside a read-only tree) shown from ``source`` (inside the writable folder):
    every entry of ``dest`` but ``hide`` is bound back in read-only; what the sandbox creates in
    it lands in ``source``. ``writable=False`` makes the layer itself read-only too."""

    dest: str
    source: str
    writable: bool = False
    hide: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fence:
    """What one sandboxed run may see (host paths, each mounted at its own path)."""

    #: the only writable folder (outputs, HOME, TMPDIR); must exist
    writable: str
    #: folders (or files) shown read-only
    readonly: tuple[str, ...] = ()
    #: folders of the read-only trees shown from folders of the writable one (mounted last)
    layers: tuple[Layer, ...] = ()
    #: share the host's network (only ``dbt deps`` fetching hub/git packages)
    network: bool = False
    #: the uid/gid the sandboxed process has inside its user namespace
    uid: int = 65534
    gid: int = 65534
    hostname: str = "meshdiff-sandbox"


def python_paths() -> list[str]:
    """Folders of the running Python installation (the virtualenv and its base)."""
    out: list[str] = []
    for path in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                 os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))):
        path = os.path.realpath(path)
        if path not in ("/", "") and not any(_inside(path, p) for p in out):
            out = [p for p in out if not _inside(p, path)] + [path]
    return sorted(out)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def passwd_text(uid: int, gid: int, home: str) -> tuple[bytes, bytes]:
    """``/etc/passwd`` and ``/etc/group`` of the sandbox: its own user and root, nobody else."""
    passwd = f"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\nsandbox:x:{uid}:{gid}:meshdiff sandbox:{home}:/usr/sbin/nologin\n"
    group = f"root:x:0:\nsandbox:x:{gid}:\n"
    return passwd.encode(), group.encode()


def bwrap_argv(fence: Fence, *, bwrap: str, data_fds: tuple[int, int], userns_fd: int | None = None) -> list[str]:
    """The ``bwrap`` options (up to and including ``--``) that build ``fence``.

    ``data_fds``: readable fds holding ``/etc/passwd`` and ``/etc/group``. ``userns_fd``: a user
    namespace made by a root caller (uid 0 and ``fence.uid`` mapped): bwrap joins it, sets up as
    uid 0 and runs the command as uid 0 with only CAP_SETUID/CAP_SETGID, which the command's first
    step uses to become ``fence.uid`` for good (see :mod:`analysis.dbt.sandbox`).
    """
    argv = [bwrap]
    if userns_fd is not None:
        argv += ["--userns", str(userns_fd), "--uid", "0", "--gid", "0",
                 "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-user", "--disable-userns", "--uid", str(fence.uid), "--gid", str(fence.gid),
                 "--cap-drop", "ALL"]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", fence.hostname]
    if not fence.network:
        argv.append("--unshare-net")
    argv += ["--die-with-parent", "--new-session"]
    made: set[str] = {"/"}

    def parents(path: str) -> None:
        """Create the (0755) folders above ``path`` so the unprivileged user can walk to it."""
        parts = path.strip("/").split("/")[:-1]
        current = ""
        for part in parts:
            current += "/" + part
            if current not in made:
                argv.extend(["--perms", "0755", "--dir", current])
                made.add(current)

    def ro(path: str, dest: str | None = None) -> None:
        dest = dest or path
        parents(dest)
        argv.extend(["--ro-bind", path, dest])
        made.add(dest)

    argv += ["--ro-bind", "/usr", "/usr"]
    made.add("/usr")
    for path in _ROOT_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            ro(path)
    for path in _ETC_ALWAYS + (_ETC_NETWORK if fence.network else ()):
        if os.path.exists(path):
            ro(path)
    parents("/etc/passwd")
    argv += ["--ro-bind-data", str(data_fds[0]), "/etc/passwd", "--ro-bind-data", str(data_fds[1]), "/etc/group"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(SMALL_TMPFS), "--perms", "1777", "--tmpfs", "/dev/shm",
             "--remount-ro", "/dev", "--size", str(SMALL_TMPFS), "--perms", "1777", "--tmpfs", "/tmp"]
    made.update({"/proc", "/dev", "/tmp"})
    for path in python_paths():  # after /tmp's tmpfs: a virtualenv under /tmp (a CI clone) stays visible
        if not _inside(path, "/usr"):
            ro(path)
    for path in fence.readonly:
        ro(path)
    parents(fence.writable)
    argv += ["--bind", fence.writable, fence.writable]
    for layer in fence.layers:
        argv += ["--bind", layer.source, layer.dest] + _entries(layer)
        if not layer.writable:
            argv += ["--remount-ro", layer.dest]
    argv += ["--remount-ro", "/", "--chdir", "/", "--"]
    return argv


def _entries(layer: Layer) -> list[str]:
    """Bind every entry of ``layer.dest`` (host) back into the layer, read-only."""
    out: list[str] = []
    try:
        entries = sorted(os.scandir(layer.dest), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        if entry.name in layer.hide:
            continue
        path = os.path.join(layer.dest, entry.name)
        if entry.is_symlink():
            out += ["--symlink", os.readlink(path), path]
        elif entry.is_dir(follow_symlinks=False) or entry.is_file(follow_symlinks=False):
            out += ["--ro-bind", path, path]
    return out
