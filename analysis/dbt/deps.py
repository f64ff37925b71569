"""dbt packages of a project: which it needs, and the separate ``dbt deps`` step that fetches them.

- **vendored**: the ``packages-install-path`` folder (``dbt_packages/``) is in the checkout: used
  as it is, offline;
- **local only** (``local:`` packages, and theirs, inside the checkout): ``dbt deps`` runs
  offline in the compile's own sandbox (it only links them);
- **hub, git, tarball or private packages**: a separate ``dbt deps`` in its own sandbox, the
  only one that may reach the network (``MESHDIFF_DEPS_NETWORK=on``, the default), with no
  secret in reach. What it installed is checked (regular files, folders and links only, bounded
  in size and count) before the trusted process caches it (sealed: ``links.json`` carries a MAC
  and the digest of the whole tree, checked before each use), by the content of ``packages.yml``,
  ``dependencies.yml`` and ``package-lock.yml`` (the project's and its local packages') and the
  dbt version. Each compile gets its own copy; links to local packages are re-made for the
  project being compiled.

With the network off, or when the step fails, the message names the packages and what to do.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from importlib import metadata

from analysis.dbt import sandbox
from analysis.dbt.fence import Layer
from analysis.dbt.invoke import Folders, dbt_env, failure_text, run_dbt
from analysis.dbt.paths import read_inside, resolve_inside, within
from analysis.dbt.project import read_yaml
from analysis.errors import AnalysisError
from analysis.store import Sealer

DEPS_VERSION = "1"
PACKAGE_FILES = ("packages.yml", "dependencies.yml", "package-lock.yml")
MAX_PACKAGES_BYTES = 1 << 30
MAX_PACKAGES_FILES = 100_000
_REMOTE = {"package": "hub", "git": "git", "tarball": "tarball", "private": "private"}


@dataclass(frozen=True)
class Package:
    kind: str  # hub | git | tarball | private | local
    spec: str

    def describe(self) -> str:
        return f"`{self.spec}` ({self.kind})"


@dataclass(frozen=True)
class Needs:
    """The packages a project declares (its local packages' too) and whether they are vendored."""

    packages: tuple[Package, ...] = ()
    vendored: bool = False

    @property
    def remote(self) -> tuple[Package, ...]:
        return tuple(p for p in self.packages if p.kind != "local")

    @property
    def kind(self) -> str:
        if self.vendored:
            return "vendored"
        if not self.packages:
            return "none"
        return "remote" if self.remote else "local"


def needs(project) -> Needs:
    """What ``project`` needs installed before it compiles."""
    if not project.has_packages:
        return Needs()
    if os.path.isdir(os.path.join(project.path, project.packages_dir)):
        return Needs(vendored=True)
    return Needs(tuple(_declared(project.path, project.checkout, set())))


def _declared(folder: str, checkout: str, seen: set[str]) -> list[Package]:
    seen.add(os.path.realpath(folder))
    out: list[Package] = []
    for name in ("packages.yml", "dependencies.yml"):
        if not os.path.lexists(os.path.join(folder, name)):
            continue
        data = read_yaml(folder, name)
        for entry in (data.get("packages") or []) if isinstance(data, dict) else []:
            if not isinstance(entry, dict):
                continue
            if "local" in entry:
                spec = str(entry["local"])
                out.append(Package("local", spec))
                target = os.path.normpath(os.path.join(folder, spec))
                if within(target, checkout) and os.path.isdir(target) and os.path.realpath(target) not in seen \
                        and within(os.path.realpath(target), os.path.realpath(checkout)):
                    out += _declared(target, checkout, seen)
                continue
            for keyname, kind in _REMOTE.items():
                if keyname in entry:
                    out.append(Package(kind, str(entry[keyname])))
                    break
    return out


def key(project) -> str:
    """Content key of the installed packages of ``project``."""
    digest = hashlib.sha256(f"meshdiff-deps-{DEPS_VERSION}\n{_dbt_version()}\n".encode())
    for folder in _package_folders(project):
        for name in PACKAGE_FILES:
            if os.path.lexists(os.path.join(folder, name)):
                try:
                    data = read_inside(folder, name)
                except AnalysisError:
                    data = b"<unreadable>"
                digest.update(f"{os.path.relpath(folder, project.path)}/{name}\n".encode())
                digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def _package_folders(project) -> list[str]:
    out, stack, seen = [], [project.path], set()
    while stack:
        folder = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        out.append(folder)
        for pkg in _declared(folder, project.checkout, set()):
            if pkg.kind == "local":
                target = os.path.normpath(os.path.join(folder, pkg.spec))
                if within(target, project.checkout) and os.path.isdir(target):
                    stack.append(target)
    return sorted(out)


def _dbt_version() -> str:
    try:
        return metadata.version("dbt-core")
    except metadata.PackageNotFoundError:
        return "missing"


@dataclass
class Installed:
    """Packages fetched by the deps step: a folder of the cache, and links to local packages
    (name -> path relative to the project) to re-make in each copy."""

    folder: str
    links: dict[str, str] = field(default_factory=dict)


def network_off_text(project, wanted: Needs) -> str:
    names = ", ".join(p.describe() for p in wanted.remote)
    return (f"{project.name} needs dbt package(s) {names} from the network, but the deps step's network is off "
            f"(MESHDIFF_DEPS_NETWORK=off).\n→ vendor them: run `dbt deps` and commit the `{project.packages_dir}/` "
            "folder; or turn the deps network on (MESHDIFF_DEPS_NETWORK=on)")


def install(project, wanted: Needs, *, cache_dir: str, config: sandbox.SandboxConfig, sandboxed: bool,
            timeout_s: float, sealer: Sealer) -> Installed | str:
    """Fetch the hub/git packages of ``project`` (cached); an error text naming them on failure."""
    if not config.deps_network:
        return network_off_text(project, wanted)
    slot = os.path.join(cache_dir, "deps", (k := key(project))[:2], k)
    found = _cached(slot, sealer)
    if found is not None:
        return found
    work = tempfile.mkdtemp(prefix=f"meshdiff-deps-{project.name}-")
    try:
        folders = Folders(work).make()
        view = os.path.join(folders.out, "project")
        os.makedirs(view)
        copy_lock(project, view)
        layer = Layer(project.path, view, writable=True, hide=(project.packages_dir.split("/")[0], "package-lock.yml"))
        result = run_dbt(["deps", "--project-dir", project.path, "--log-path", os.path.join(folders.out, "logs")],
                         folders, project, env=dbt_env(folders), timeout_s=timeout_s, config=config,
                         sandboxed=sandboxed, layers=(layer,), network=True)
        names = ", ".join(p.describe() for p in wanted.remote)
        if not result.ok:
            return (f"dbt deps could not install {names} for {project.name}:\n{failure_text('dbt deps', result, timeout_s)}"
                    f"\n→ check the names, versions and URLs in packages.yml / package-lock.yml, or vendor the "
                    f"packages (commit `{project.packages_dir}/`)")
        installed = os.path.join(view, project.packages_dir) if sandboxed else os.path.join(project.path, project.packages_dir)
        try:
            return _store(slot, installed, project, sealer)
        except OSError as exc:
            return f"dbt deps installed {names} for {project.name}, but meshdiff refused the result: {exc}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def copy_lock(project, view: str) -> None:
    """Give the layer a writable copy of the project's ``package-lock.yml`` (dbt deps rewrites a
    stale one)."""
    if os.path.lexists(os.path.join(project.path, "package-lock.yml")):
        data = read_inside(project.path, "package-lock.yml")
        with open(os.path.join(view, "package-lock.yml"), "wb") as handle:
            handle.write(data)


def _cached(slot: str, sealer: Sealer) -> Installed | None:
    """The packages of the slot when its record is validly sealed and the tree is the one it
    names; otherwise the slot is removed (fetched again)."""
    try:
        raw = sealer.read(os.path.join(slot, "links.json"))
        record = json.loads(raw) if raw is not None else None
    except (OSError, ValueError):
        record = None
    folder = os.path.join(slot, "packages")
    if not isinstance(record, dict) or not isinstance(record.get("links"), dict) \
            or not os.path.isdir(folder) or tree_digest(folder) != record.get("tree"):
        if os.path.lexists(slot):
            shutil.rmtree(slot, ignore_errors=True)
        return None
    return Installed(folder, {str(k): str(v) for k, v in record["links"].items()})


def tree_digest(folder: str) -> str:
    """sha256 over a tree: each entry's path, kind and content (a link's target), in order."""
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                digest.update(f"L {rel}\0{os.readlink(path)}\n".encode())
            else:
                digest.update(f"F {rel}\0".encode())
                with open(path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                digest.update(b"\n")
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return digest.hexdigest()


def _store(slot: str, installed: str, project, sealer: Sealer) -> Installed:
    """Copy what the sandbox installed into the cache, checking it: folders, regular files and
    links only (never followed), bounded; links at the top are local packages (re-made per copy)."""
    info = os.lstat(installed)
    if not stat.S_ISDIR(info.st_mode):
        raise OSError(f"{project.packages_dir} is not a folder")
    tmp = tempfile.mkdtemp(prefix=".deps-", dir=_ensure(os.path.dirname(slot)))
    try:
        links: dict[str, str] = {}
        total = files = 0
        for entry in sorted(os.scandir(installed), key=lambda e: e.name):
            if entry.is_symlink():
                target = os.path.normpath(os.path.join(installed, os.readlink(entry.path)))
                links[entry.name] = os.path.relpath(target, project.path)
        for dirpath, dirnames, filenames in os.walk(installed):
            rel = os.path.relpath(dirpath, installed)
            dest_dir = os.path.join(tmp, "packages", rel) if rel != "." else os.path.join(tmp, "packages")
            os.makedirs(dest_dir, exist_ok=True)
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                src = os.path.join(dirpath, name)
                if rel == "." and name in links:
                    continue
                mode = os.lstat(src).st_mode
                files += 1
                if stat.S_ISLNK(mode):
                    os.symlink(os.readlink(src), os.path.join(dest_dir, name))
                elif stat.S_ISREG(mode):
                    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
                    total += os.fstat(fd).st_size
                    with os.fdopen(fd, "rb") as reader, open(os.path.join(dest_dir, name), "wb") as writer:
                        shutil.copyfileobj(reader, writer)
                if total > MAX_PACKAGES_BYTES or files > MAX_PACKAGES_FILES:
                    raise OSError(f"the installed packages exceed {MAX_PACKAGES_BYTES >> 20} MB or "
                                  f"{MAX_PACKAGES_FILES} files")
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        record = {"links": links, "tree": tree_digest(os.path.join(tmp, "packages"))}
        with open(os.path.join(tmp, "links.json"), "wb") as handle:
            handle.write(sealer.seal(os.path.join(slot, "links.json"), json.dumps(record).encode()))
        shutil.rmtree(slot, ignore_errors=True)
        os.replace(tmp, slot)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Installed(os.path.join(slot, "packages"), links)


def _ensure(folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    return folder


def restore(installed: Installed, dest: str, project) -> None:
    """A private copy of ``installed`` at ``dest`` (the compile's ``dbt_packages``), with the
    links to local packages made for ``project``."""
    shutil.copytree(installed.folder, dest, symlinks=True)
    for name, rel in installed.links.items():
        target = os.path.normpath(os.path.join(project.path, rel))
        if within(target, project.checkout) and resolve_inside(project.checkout, os.path.join(target, "dbt_project.yml")):
            os.symlink(target, os.path.join(dest, name))
