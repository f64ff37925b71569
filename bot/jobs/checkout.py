"""Fetch the code a job analyses, over HTTPS with the installation token.

- one bare repository per GitHub repository, fetched shallow (``--depth``) and by commit sha
  (protocol v2), falling back to refs (``refs/pull/N/head``, branches) when a server refuses;
- the token travels in an ``Authorization`` header given to git through ``GIT_CONFIG_*``
  environment variables: it is never in argv, never in a URL, never written to ``.git/config``,
  never logged;
- no submodules, no LFS smudge, no terminal prompts, no user/system git config;
- trees are exported with ``git archive`` into plain folders without ``.git`` (what the analysis
  sees holds no credential), skipping members that would escape the folder (symlinks to ``/etc``);
- everything git writes is read as a stream with its bound enforced while it streams: the tree
  (size and file count; a 5 MB push of a highly compressible blob cannot make the worker hold
  gigabytes), a diff (cut, for annotations only), any other output.
"""
from __future__ import annotations

import base64
import io
import os
import re
import subprocess
import tarfile
import tempfile
import threading
from dataclasses import dataclass

GIT_TIMEOUT_S = 300
MAX_TREE_BYTES = 1 << 30
MAX_TREE_FILES = 100_000
#: largest output of any other git command held in memory
MAX_GIT_OUTPUT = 64 << 20
#: a diff (for annotations) is cut here: the annotations of what follows are left out
MAX_DIFF_BYTES = 16 << 20
_SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_HUNK_RE = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


class CheckoutError(RuntimeError):
    """git could not fetch or export what the job needs (message is safe to show)."""


def _redact(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, "***")
        text = text.replace(base64.b64encode(f"x-access-token:{token}".encode()).decode(), "***")
    return text


def git_env(token: str | None, home: str) -> dict[str, str]:
    """An allow-listed environment for git; the token only as an ``http.extraHeader``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C.UTF-8",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ASKPASS": "/bin/true",
        "GCM_INTERACTIVE": "never",
    }
    config = [("protocol.version", "2"), ("submodule.recurse", "false"), ("fetch.recurseSubmodules", "false"),
              ("core.hooksPath", "/dev/null"), ("advice.detachedHead", "false")]
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    for key in ("SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


@dataclass
class GitRepo:
    """A bare repository fetched from ``url`` (no credentials in it)."""

    git_dir: str
    url: str
    token: str | None = None

    @classmethod
    def init(cls, git_dir: str, url: str, token: str | None) -> "GitRepo":
        if "@" in url.split("://", 1)[-1].split("/", 1)[0]:
            raise CheckoutError("refusing a git URL with embedded credentials")
        os.makedirs(git_dir, exist_ok=True)
        repo = cls(git_dir, url, token)
        repo.git("init", "--bare", "--quiet", git_dir, bare_init=True)
        return repo

    def _home(self) -> str:
        home = os.path.join(self.git_dir, ".meshdiff-home")
        os.makedirs(home, exist_ok=True)
        return home

    def _argv(self, args, bare_init: bool = False) -> list[str]:
        return (["git"] if bare_init else ["git", "--git-dir", self.git_dir]) + list(args)

    def git(self, *args: str, bare_init: bool = False, check: bool = True, binary: bool = False,
            limit: int = MAX_GIT_OUTPUT, cut: bool = False):
        """Run git; its output is read up to ``limit`` bytes (beyond: an error, or with ``cut``
        the output so far)."""
        with self._popen(self._argv(args, bare_init)) as run:
            out = bytearray()
            while chunk := run.proc.stdout.read(65536):
                if len(out) + len(chunk) > limit:
                    if not cut:
                        raise CheckoutError(f"git {args[0]} wrote more than {limit >> 20} MiB")
                    out += chunk[:limit - len(out)]
                    break
                out += chunk
        returncode = run.returncode
        if check and returncode != 0:
            raise CheckoutError(f"git {args[0]} failed: {run.error()}")
        if binary:
            return subprocess.CompletedProcess(run.argv, returncode, bytes(out), b"")
        return bytes(out).decode("utf-8", "replace")

    def _popen(self, argv: list[str]) -> "_GitRun":
        return _GitRun(argv, git_env(self.token, self._home()), self.token)

    def has_commit(self, sha: str) -> bool:
        return self.git("cat-file", "-e", f"{sha}^{{commit}}", check=False, binary=True).returncode == 0

    def fetch(self, *refspecs: str, depth: int | None = 1, deepen: int | None = None) -> None:
        args = ["fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head"]
        if deepen:
            args.append(f"--deepen={deepen}")
        elif depth:
            args.append(f"--depth={depth}")
        self.git(*args, self.url, *refspecs)

    def fetch_commit(self, sha: str, *, fallback_ref: str | None = None, depth: int = 1) -> None:
        """Fetch ``sha``; if the server will not serve an unadvertised sha, fetch ``fallback_ref``
        (a ref expected to contain it) with more history."""
        if not _SHA_RE.match(sha):
            raise CheckoutError(f"not a commit sha: {sha!r}")
        if self.has_commit(sha):
            return
        try:
            self.fetch(f"+{sha}:refs/meshdiff/{sha}", depth=depth)
        except CheckoutError:
            if not fallback_ref:
                raise
            self.fetch(f"+{fallback_ref}:refs/meshdiff/fallback/{sha}", depth=200)
        if not self.has_commit(sha):
            raise CheckoutError(f"commit {sha[:12]} is not reachable from {fallback_ref or 'the server'}")

    def fetch_branch(self, branch: str) -> str:
        """Fetch the tip of ``branch`` (depth 1) and return its sha."""
        self.fetch(f"+refs/heads/{branch}:refs/meshdiff/branches/{branch}", depth=1)
        return self.git("rev-parse", f"refs/meshdiff/branches/{branch}^{{commit}}").strip()

    def merge_base(self, base: str, head: str, *, max_rounds: int = 6) -> str:
        """The merge base of ``base`` and ``head``, deepening the shallow history as needed;
        falls back to ``base`` when none is found within the bound (documented in the report)."""
        for round_ in range(max_rounds + 1):
            proc = self.git("merge-base", base, head, check=False, binary=True)
            if proc.returncode == 0 and proc.stdout.strip():
                return proc.stdout.decode().strip()
            if round_ == max_rounds:
                break
            try:
                self.fetch(f"+refs/meshdiff/{base}:refs/meshdiff/{base}", f"+refs/meshdiff/{head}:refs/meshdiff/{head}",
                           deepen=50 * (2 ** round_))
            except CheckoutError:
                try:
                    self.fetch(f"+{base}:refs/meshdiff/{base}", f"+{head}:refs/meshdiff/{head}", deepen=50 * (2 ** round_))
                except CheckoutError:
                    break
        return base

    def export(self, sha: str, dest: str, *, max_bytes: int = MAX_TREE_BYTES, max_files: int = MAX_TREE_FILES) -> str:
        """Write the tree of ``sha`` into ``dest`` (a plain folder without ``.git``), streaming
        ``git archive`` and stopping it as soon as the tree passes its bounds."""
        if not _SHA_RE.match(sha):
            raise CheckoutError(f"not a commit sha: {sha!r}")
        os.makedirs(dest, exist_ok=True)
        with self._popen(self._argv(["archive", "--format=tar", sha])) as run:
            extract_tar_stream(run.proc.stdout, dest, max_bytes=max_bytes, max_files=max_files)
        if run.returncode != 0:
            raise CheckoutError(f"git archive failed: {run.error()}")
        return dest

    def changed_paths(self, base: str, head: str) -> list[str]:
        """Repo-relative paths changed between ``base`` and ``head`` (both sides of renames)."""
        out = self.git("-c", "core.quotePath=false", "diff", "--name-only", "--no-renames", "-z", base, head)
        return [p for p in out.split("\0") if p]

    def changed_lines(self, base: str, head: str) -> dict[str, list[int]]:
        """For each file at ``head``, the 1-based line numbers added or modified since ``base``."""
        text = self.git("-c", "core.quotePath=false", "diff", "-U0", "--no-color", "--no-ext-diff",
                        "--find-renames", base, head, limit=MAX_DIFF_BYTES, cut=True)
        return parse_changed_lines(text)


class _GitRun:
    """One git process whose stdout the caller streams: killed after ``GIT_TIMEOUT_S`` or when
    the caller stops early (an exception); stderr kept in a temporary file, redacted when shown."""

    def __init__(self, argv: list[str], env: dict[str, str], token: str | None) -> None:
        self.argv, self.token = argv, token
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self.stderr, start_new_session=True)
        self.timer = threading.Timer(GIT_TIMEOUT_S, self._expire)
        self.timer.daemon = True
        self.expired = False
        self.returncode: int | None = None

    def _expire(self) -> None:
        self.expired = True
        self.proc.kill()

    def __enter__(self) -> "_GitRun":
        self.timer.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self.proc.poll() is None:
            self.proc.kill()
        self.proc.stdout.close()
        self.returncode = self.proc.wait()
        self.timer.cancel()
        if self.expired and exc_type is None:
            raise CheckoutError(f"git {self.argv[3] if len(self.argv) > 3 else ''} timed out after {GIT_TIMEOUT_S}s")

    def error(self) -> str:
        self.stderr.seek(0, os.SEEK_END)
        self.stderr.seek(max(0, self.stderr.tell() - 4000))
        return _redact(self.stderr.read().decode("utf-8", "replace"), self.token).strip()[-800:]


def parse_changed_lines(diff_text: str) -> dict[str, list[int]]:
    """Parse ``git diff -U0`` output into ``{path_at_head: [changed line numbers]}``."""
    out: dict[str, list[int]] = {}
    current: str | None = None
    for line in diff_text.splitlines():
        if line.startswith("+++ "):
            target = line[4:].strip()
            current = None if target == "/dev/null" else (target[2:] if target.startswith("b/") else target)
            if current is not None:
                out.setdefault(current, [])
        elif line.startswith("@@") and current is not None:
            match = _HUNK_RE.match(line)
            if match:
                start, count = int(match.group(1)), int(match.group(2) if match.group(2) is not None else 1)
                out[current].extend(range(start, start + count))
    return {path: sorted(set(lines)) for path, lines in out.items()}


def extract_tar(data: bytes, dest: str, *, max_bytes: int = MAX_TREE_BYTES, max_files: int = MAX_TREE_FILES) -> None:
    """:func:`extract_tar_stream` of a tar held in memory."""
    extract_tar_stream(io.BytesIO(data), dest, max_bytes=max_bytes, max_files=max_files)


class _Capped:
    """A stream that refuses to give more than ``limit`` bytes (the tar's own bytes, headers
    included, are bounded while they stream)."""

    def __init__(self, raw, limit: int) -> None:
        self.raw, self.limit, self.read_bytes = raw, limit, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.read_bytes += len(data)
        if self.read_bytes > self.limit:
            raise CheckoutError(f"the repository tree is too large (> {self.limit >> 20} MiB)")
        return data


def extract_tar_stream(stream, dest: str, *, max_bytes: int = MAX_TREE_BYTES, max_files: int = MAX_TREE_FILES) -> None:
    """Extract a tar read as a stream, safely: members escaping ``dest`` (absolute, ``..``, links
    out) are skipped; the total size and file count are checked before each member is written,
    and the stream itself is cut past its bound, so nothing larger is ever held or written."""
    total = files = 0

    def keep(member: tarfile.TarInfo, path: str):
        nonlocal total, files
        try:
            member = tarfile.data_filter(member, path)
        except tarfile.FilterError:
            return None  # skipped: would escape the checkout
        files += 1
        total += member.size
        if files > max_files or total > max_bytes:
            raise CheckoutError(f"the repository tree is too large (> {max_files} files or {max_bytes >> 20} MiB)")
        return member

    capped = _Capped(stream, max_bytes + max(max_files, 1) * 1024 + (16 << 20))  # headers and padding
    with tarfile.open(fileobj=capped, mode="r|") as tar:
        tar.extractall(dest, filter=keep)


def repo_url(web_url: str, full_name: str) -> str:
    """``{web_url}/{owner}/{repo}.git`` from the configured base URL (never from payload hosts)."""
    if not re.match(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", full_name):
        raise CheckoutError(f"not a repository name: {full_name!r}")
    return f"{web_url.rstrip('/')}/{full_name}.git"


def new_workspace(parent: str | None = None) -> str:
    if parent:
        os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix="meshdiff-job-", dir=parent)
