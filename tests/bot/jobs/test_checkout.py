import base64
import io
import os
import subprocess
import tarfile

import pytest

from bot.jobs.checkout import CheckoutError, GitRepo, extract_tar, git_env, parse_changed_lines, repo_url

TOKEN = "ghs_secretTOKENvalue123"


def _git(cwd, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def upstream(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _git(src, "init", "-q", "-b", "main")
    for i in range(4):  # older history that a shallow fetch must not download
        (src / "HISTORY.md").write_text(f"release {i}\n")
        _git(src, "add", ".")
        _git(src, "commit", "-qm", f"old {i}")
    (src / "shop").mkdir()
    (src / "shop" / "a.sql").write_text("select 1\nfrom x\nwhere y\n")
    (src / "shop" / "schema.yml").write_text("models:\n  - name: a\n")
    _git(src, "add", ".")
    _git(src, "commit", "-qm", "base")
    base = _git(src, "rev-parse", "HEAD")
    _git(src, "checkout", "-qb", "feature")
    (src / "shop" / "a.sql").write_text("select 2\nfrom x\nwhere y\nand z\n")
    os.symlink("/etc/hostname", src / "shop" / "escape.txt")
    _git(src, "add", ".")
    _git(src, "commit", "-qm", "head")
    head = _git(src, "rev-parse", "HEAD")
    _git(src, "update-ref", "refs/pull/7/head", head)
    _git(src, "checkout", "-q", "main")
    return src, base, head


def test_fetch_export_diff(upstream, tmp_path):
    src, base, head = upstream
    repo = GitRepo.init(str(tmp_path / "g.git"), f"file://{src}", TOKEN)
    repo.fetch_commit(head, fallback_ref="refs/pull/7/head")
    repo.fetch_commit(base, fallback_ref="refs/heads/main")
    # shallow: only the two commits asked for, not the 4 older ones
    assert (tmp_path / "g.git" / "shallow").is_file()
    assert repo.git("rev-parse", "--is-shallow-repository").strip() == "true"
    assert repo.git("rev-list", "--count", "--all").strip() == "2" and _git(src, "rev-list", "--count", "--all") == "6"
    assert repo.merge_base(base, head) == base
    out = repo.export(head, str(tmp_path / "head"))
    assert open(os.path.join(out, "shop", "a.sql")).read().startswith("select 2")
    assert not os.path.exists(os.path.join(out, ".git"))
    # a symlink pointing out of the checkout is not materialised
    assert not os.path.exists(os.path.join(out, "shop", "escape.txt"))
    assert repo.changed_lines(base, head) == {"shop/a.sql": [1, 4], "shop/escape.txt": [1]}
    assert sorted(repo.changed_paths(base, head)) == ["shop/a.sql", "shop/escape.txt"]
    assert repo.fetch_branch("main") == base
    branch_only = GitRepo.init(str(tmp_path / "b.git"), f"file://{src}", TOKEN)
    assert branch_only.fetch_branch("main") == base  # a downstream repository's branch: its tip only
    assert (tmp_path / "b.git" / "shallow").read_text().split() == [base]
    assert branch_only.git("rev-list", "--count", "--all").strip() == "1"
    config = open(tmp_path / "g.git" / "config").read()
    assert TOKEN not in config and "extraheader" not in config.lower()


def test_token_only_in_env_header(tmp_path):
    env = git_env(TOKEN, str(tmp_path))
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert f"Authorization: Basic {basic}" in env.values()
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_LFS_SKIP_SMUDGE"] == "1"
    assert not any(k.startswith("MESHDIFF_") for k in env)


def test_errors_are_redacted(tmp_path):
    repo = GitRepo.init(str(tmp_path / "g.git"), f"file://{tmp_path}/missing", TOKEN)
    with pytest.raises(CheckoutError) as err:
        repo.fetch_commit("c" * 40)
    assert TOKEN not in str(err.value)
    with pytest.raises(CheckoutError):
        repo.fetch_commit("not-a-sha")
    with pytest.raises(CheckoutError, match="credentials"):
        GitRepo.init(str(tmp_path / "h.git"), "https://x-access-token:abc@github.com/o/r.git", None)


def test_repo_url():
    assert repo_url("https://ghe.example/", "o/r") == "https://ghe.example/o/r.git"
    with pytest.raises(CheckoutError):
        repo_url("https://github.com", "o/r/../../x")


def test_parse_changed_lines():
    diff = """diff --git a/m.sql b/m.sql
--- a/m.sql
+++ b/m.sql
@@ -1 +1 @@
-a
+b
@@ -10,0 +11,3 @@
+x
@@ -20,2 +22,0 @@
-gone
diff --git a/old.sql b/old.sql
--- a/old.sql
+++ /dev/null
@@ -1,2 +0,0 @@
"""
    assert parse_changed_lines(diff) == {"m.sql": [1, 11, 12, 13]}


def test_extract_tar_bounds(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("a.txt", "../evil.txt", "/abs.txt"):
            data = b"x" * 10
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    extract_tar(buf.getvalue(), str(tmp_path / "out"))
    # "../" is dropped; an absolute name is made relative (stays inside)
    assert sorted(os.listdir(tmp_path / "out")) == ["a.txt", "abs.txt"]
    assert not (tmp_path / "evil.txt").exists()
    with pytest.raises(CheckoutError, match="too large"):
        extract_tar(buf.getvalue(), str(tmp_path / "out2"), max_files=0)


EXPORT_PEAK = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
from bot.jobs.checkout import CheckoutError, GitRepo
repo = GitRepo(sys.argv[2], "file:///unused")
try:
    repo.export(sys.argv[3], sys.argv[4], max_bytes=int(sys.argv[5]))
    outcome = "exported"
except CheckoutError as exc:
    outcome = str(exc)
# VmHWM: the peak of this process's own memory (ru_maxrss would count the forking parent too)
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "peak_mb": hwm / 1024}))
'''


def test_a_compressible_push_cannot_make_the_worker_hold_the_tree(tmp_path):
    """A 400 MiB blob of zeros is a few hundred KiB in a push. Exporting it with a 32 MiB bound
    stops while it streams: the exporting process never holds the tree (its peak memory stays
    far below the blob), and nothing past the bound is written."""
    import json
    import sys

    from tests.paths import ROOT

    src = tmp_path / "src"
    src.mkdir()
    _git(src, "init", "-q", "-b", "main")
    zeros = subprocess.Popen(["head", "-c", str(400 << 20), "/dev/zero"], stdout=subprocess.PIPE)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=src, stdin=zeros.stdout, check=True,
                          capture_output=True, text=True).stdout.strip()
    zeros.wait()
    _git(src, "update-index", "--add", "--cacheinfo", f"100644,{blob},big.bin")
    _git(src, "commit", "-qm", "a big blob")
    sha = _git(src, "rev-parse", "HEAD")
    pack_kib = sum(f.stat().st_size for f in (src / ".git" / "objects").rglob("*") if f.is_file()) >> 10
    assert pack_kib < 4096  # what a push of it costs
    probe = tmp_path / "probe.py"
    probe.write_text(EXPORT_PEAK)
    out = subprocess.run([sys.executable, str(probe), ROOT, str(src / ".git"), sha, str(tmp_path / "tree"),
                          str(32 << 20)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert "too large" in seen["outcome"]
    assert seen["peak_mb"] < 150, seen  # the 400 MiB tree was never held
    written = sum(f.stat().st_size for f in (tmp_path / "tree").rglob("*") if f.is_file())
    assert written <= 32 << 20
