"""Bare git repositories of the stand-in GitHub, and ``git http-backend`` as CGI."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

ZERO_SHA = "0" * 40


class GitError(RuntimeError):
    pass


def _git_binary() -> str:
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("the stand-in GitHub needs the `git` binary on PATH")
    return git


class GitStore:
    """Bare repositories under ``root/<owner>/<repo>.git``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.home = self.root.parent / ".git-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.git = _git_binary()
        self._clock = int(time.time())
        self._clock_lock = threading.Lock()

    # ------------------------------------------------------------------ helpers
    def env(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "LANG": "C",
            "LC_ALL": "C",
        }

    def run(self, git_dir: Path, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        p = subprocess.run(
            [self.git, "--git-dir", str(git_dir), "--literal-pathspecs", *args],
            input=input,
            capture_output=True,
            env=self.env(),
        )
        if check and p.returncode != 0:
            raise GitError(f"git {' '.join(args)} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
        return p.stdout

    def _tick(self) -> int:
        with self._clock_lock:
            self._clock = max(self._clock + 1, int(time.time()))
            return self._clock

    def path(self, owner: str, name: str) -> Path:
        return self.root / owner / f"{name}.git"

    # ------------------------------------------------------------------ repos
    def create(self, owner: str, name: str, default_branch: str) -> Path:
        git_dir = self.path(owner, name)
        if git_dir.exists():
            raise GitError(f"{owner}/{name} exists")
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [self.git, "init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(git_dir)],
            check=True,
            env=self.env(),
            capture_output=True,
        )
        for key, value in (
            ("http.uploadpack", "true"),
            ("http.receivepack", "false"),
            ("uploadpack.allowReachableSHA1InWant", "true"),  # `git fetch origin <sha>` like GitHub
            ("uploadpack.allowFilter", "true"),  # partial clone (--filter=blob:none)
            ("protocol.version", "2"),
        ):
            self.run(git_dir, "config", key, value)
        self.run(git_dir, "symbolic-ref", "HEAD", f"refs/heads/{default_branch}")
        return git_dir

    def rev_parse(self, git_dir: Path, rev: str) -> str | None:
        out = self.run(git_dir, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        sha = out.decode().strip()
        return sha or None

    def resolve_ref(self, git_dir: Path, ref: str) -> str | None:
        """A branch / tag / sha / refs/... name to a commit sha (GitHub's `ref` params)."""
        if re.fullmatch(r"[0-9a-fA-F]{40}", ref):
            return self.rev_parse(git_dir, ref)
        for cand in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref if ref.startswith("refs/") else None):
            if cand:
                sha = self.rev_parse(git_dir, cand)
                if sha:
                    return sha
        return None

    def update_ref(self, git_dir: Path, ref: str, sha: str) -> None:
        self.run(git_dir, "update-ref", ref, sha)

    def commit(
        self,
        git_dir: Path,
        ref: str,
        changes: dict[str, str | bytes | None],
        message: str,
        *,
        parent: str | None,
        author: str = "Stand-in GitHub <standin@example.invalid>",
        executable: frozenset[str] = frozenset(),
    ) -> str:
        """One commit on ``ref`` from ``parent`` applying ``changes`` (None deletes)."""
        ts = self._tick()
        msg = message.encode() if isinstance(message, str) else message
        if not msg.endswith(b"\n"):
            msg += b"\n"
        parts = [
            f"commit {ref}\n".encode(),
            f"author {author} {ts} +0000\n".encode(),
            f"committer {author} {ts} +0000\n".encode(),
            f"data {len(msg)}\n".encode(),
            msg,
        ]
        if parent:
            parts.append(f"from {parent}\n".encode())
        for path, content in changes.items():
            _check_path(path)
            if content is None:
                parts.append(f"D {path}\n".encode())
                continue
            data = content.encode() if isinstance(content, str) else bytes(content)
            mode = "100755" if path in executable else "100644"
            parts.append(f"M {mode} inline {path}\n".encode())
            parts.append(f"data {len(data)}\n".encode())
            parts.append(data)
            parts.append(b"\n")
        parts.append(b"done\n")
        p = subprocess.run(
            [self.git, "--git-dir", str(git_dir), "fast-import", "--quiet", "--done", "--date-format=raw"],
            input=b"".join(parts),
            capture_output=True,
            env=self.env(),
        )
        if p.returncode != 0:
            raise GitError(f"fast-import failed: {p.stderr.decode(errors='replace')}")
        sha = self.rev_parse(git_dir, ref)
        assert sha
        return sha

    def test_merge(self, git_dir: Path, base: str, head: str, message: str) -> str | None:
        """GitHub's test merge (``refs/pull/N/merge``): a merge commit of head into base, or
        None on conflicts."""
        p = subprocess.run([self.git, "--git-dir", str(git_dir), "merge-tree", "--write-tree", base, head],
                           capture_output=True, env=self.env())
        if p.returncode != 0:
            return None
        tree = p.stdout.decode().split()[0]
        ts = self._tick()
        env = {**self.env(), "GIT_AUTHOR_NAME": "GitHub", "GIT_AUTHOR_EMAIL": "noreply@github.com",
               "GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com",
               "GIT_AUTHOR_DATE": f"{ts} +0000", "GIT_COMMITTER_DATE": f"{ts} +0000"}
        p = subprocess.run([self.git, "--git-dir", str(git_dir), "commit-tree", tree, "-p", base, "-p", head,
                            "-m", message], capture_output=True, env=env, check=True)
        return p.stdout.decode().strip()

    def delete_ref(self, git_dir: Path, ref: str) -> None:
        self.run(git_dir, "update-ref", "-d", ref, check=False)

    # ------------------------------------------------------------------ reading
    def ls(self, git_dir: Path, commit: str, path: str) -> tuple[str, str, str, int] | None:
        """(mode, type, sha, size) of ``path`` at ``commit``, or None."""
        out = self.run(git_dir, "ls-tree", "-z", "-l", commit, "--", path.rstrip("/"), check=False)
        for entry in out.split(b"\0"):
            if not entry:
                continue
            meta, name = entry.split(b"\t", 1)
            if name.decode() != path.rstrip("/"):
                continue
            mode, typ, sha, size = meta.decode().split()
            return mode, typ, sha, (0 if size == "-" else int(size))
        return None

    def ls_dir(self, git_dir: Path, commit: str, path: str) -> list[tuple[str, str, str, int, str]]:
        """[(mode, type, sha, size, path)] of the children of directory ``path``."""
        args = ["--", path.rstrip("/") + "/"] if path.strip("/") else []
        out = self.run(git_dir, "ls-tree", "-z", "-l", commit, *args, check=False)
        rows = []
        for entry in out.split(b"\0"):
            if not entry:
                continue
            meta, name = entry.split(b"\t", 1)
            mode, typ, sha, size = meta.decode().split()
            rows.append((mode, typ, sha, 0 if size == "-" else int(size), name.decode()))
        return rows

    def blob(self, git_dir: Path, sha: str) -> bytes:
        return self.run(git_dir, "cat-file", "blob", sha)

    def merge_base(self, git_dir: Path, a: str, b: str) -> str:
        out = self.run(git_dir, "merge-base", a, b, check=False).decode().strip()
        return out or a

    def count_commits(self, git_dir: Path, base: str, head: str) -> int:
        return int(self.run(git_dir, "rev-list", "--count", f"{base}..{head}").decode().strip() or 0)

    def diff(self, git_dir: Path, base: str, head: str) -> list[dict]:
        """Files changed from merge-base(base, head) to head, GitHub `diff-entry` style."""
        mb = self.merge_base(git_dir, base, head)
        raw = self.run(git_dir, "diff", "-z", "-M", "--raw", "--no-abbrev", mb, head).split(b"\0")
        files: list[dict] = []
        i = 0
        while i < len(raw):
            meta = raw[i].decode()
            if not meta.startswith(":"):
                i += 1
                continue
            _old_mode, _new_mode, old_sha, new_sha, status = meta[1:].split()
            if status[0] in "RC":
                old_path, new_path = raw[i + 1].decode(), raw[i + 2].decode()
                i += 3
            else:
                old_path = new_path = raw[i + 1].decode()
                i += 2
            gh_status = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}[
                status[0]
            ]
            entry = {
                "sha": new_sha if status[0] != "D" else old_sha,
                "filename": new_path,
                "status": gh_status,
            }
            if status[0] == "R":
                entry["previous_filename"] = old_path
            files.append(entry)
        numstat = self.run(git_dir, "diff", "-z", "-M", "--numstat", mb, head).split(b"\0")
        stats: dict[str, tuple[int, int]] = {}
        i = 0
        while i < len(numstat):
            line = numstat[i].decode()
            if not line:
                i += 1
                continue
            add, dele, path = line.split("\t", 2)
            if path == "":  # rename: "add\tdel\t\0old\0new"
                path = numstat[i + 2].decode()
                i += 3
            else:
                i += 1
            stats[path] = (0 if add == "-" else int(add), 0 if dele == "-" else int(dele))
        patches = _split_patches(self.run(git_dir, "diff", "-M", "--no-color", "--no-ext-diff", mb, head))
        for f in files:
            add, dele = stats.get(f["filename"], (0, 0))
            f["additions"], f["deletions"], f["changes"] = add, dele, add + dele
            patch = patches.get(f["filename"])
            if patch:
                f["patch"] = patch
        return files

    # ------------------------------------------------------------------ smart HTTP
    def http_backend(self, *, path_info: str, method: str, query: str, content_type: str | None,
                     body: bytes, git_protocol: str | None, content_encoding: str | None,
                     remote_user: str) -> tuple[int, list[tuple[str, str]], bytes]:
        env = self.env()
        env.update(
            {
                "GIT_PROJECT_ROOT": str(self.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path_info,
                "REQUEST_METHOD": method,
                "QUERY_STRING": query,
                "REMOTE_USER": remote_user,
                "REMOTE_ADDR": "127.0.0.1",
                "CONTENT_LENGTH": str(len(body)),
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
            }
        )
        if content_type:
            env["CONTENT_TYPE"] = content_type
        if git_protocol:
            env["GIT_PROTOCOL"] = git_protocol
        if content_encoding:
            env["HTTP_CONTENT_ENCODING"] = content_encoding
        p = subprocess.run([self.git, "http-backend"], input=body, capture_output=True, env=env)
        out = p.stdout
        sep = out.find(b"\r\n\r\n")
        sep_len = 4
        if sep < 0:
            sep, sep_len = out.find(b"\n\n"), 2
        if sep < 0:
            return 500, [("Content-Type", "text/plain")], p.stderr or b"git http-backend failed\n"
        status = 200
        headers: list[tuple[str, str]] = []
        for line in out[:sep].decode("latin-1").splitlines():
            if not line.strip():
                continue
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            else:
                headers.append((k.strip(), v.strip()))
        return status, headers, out[sep + sep_len:]


def _check_path(path: str) -> None:
    if not path or path.startswith("/") or "\n" in path or any(p in ("", ".", "..", ".git") for p in path.split("/")):
        raise ValueError(f"bad repository path {path!r}")


def _split_patches(diff: bytes) -> dict[str, str]:
    """{new filename: hunk text} from a unified diff (GitHub's `patch` field starts at @@)."""
    out: dict[str, str] = {}
    text = diff.decode("utf-8", errors="replace")
    for section in re.split(r"(?m)^diff --git ", text):
        if not section.strip():
            continue
        lines = section.split("\n")
        name = None
        for ln in lines:
            if ln.startswith("+++ "):
                name = ln[4:]
                if name.startswith("b/"):
                    name = name[2:]
                break
            if ln.startswith("rename to "):
                name = ln[len("rename to "):]
        if name is None or name == "/dev/null":
            for ln in lines:
                if ln.startswith("--- a/"):
                    name = ln[len("--- a/"):]
                    break
        if name is None:
            continue
        for idx, ln in enumerate(lines):
            if ln.startswith("@@"):
                out[name] = "\n".join(lines[idx:]).rstrip("\n")
                break
    return out
