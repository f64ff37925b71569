"""Secrets out of every child's reach: a worker handed the App's key through its environment
re-executes itself without it (``/proc/<pid>/environ`` keeps what a process started with, whatever
``os.environ.pop`` does), reads it from a pipe, and is non-dumpable; the real Celery worker does
so at start; git gets the installation token only in its own short-lived environment."""
import hashlib
import os
import subprocess
import sys
import time

from bot.jobs.checkout import git_env
from tests.paths import ROOT

KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIplantedKEYline1\nplantedKEYline2\n-----END RSA PRIVATE KEY-----\n"
HOOK = "planted-webhook-secret-zq9"

CHILD = r'''
import ctypes, hashlib, os, sys
sys.path.insert(0, sys.argv[1])
from bot import settings
settings.protect_worker()  # re-executes this script once, without the secrets in its environment
s = settings.load_settings()
environ = open("/proc/self/environ", "rb").read()
sha = lambda text: hashlib.sha256(text.encode()).hexdigest()
print("KEY", sha(s.private_key) == os.environ["EXPECT_KEY_SHA"])
print("HOOK", sha(s.webhook_secret) == os.environ["EXPECT_HOOK_SHA"])
print("ENVIRON-CLEAN", b"plantedKEYline" not in environ and b"planted-webhook" not in environ)
print("FD-GONE", "MESHDIFF_SECRETS_FD" not in os.environ)
print("DUMPABLE", ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE
'''


def test_a_worker_handed_secrets_by_its_environment_reexecutes_without_them(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "MESHDIFF_PRIVATE_KEY": KEY, "MESHDIFF_WEBHOOK_SECRET": HOOK,
           "EXPECT_KEY_SHA": hashlib.sha256(KEY.encode()).hexdigest(),
           "EXPECT_HOOK_SHA": hashlib.sha256(HOOK.encode()).hexdigest()}
    proc = subprocess.run([sys.executable, str(script), ROOT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    seen = dict(line.split(" ", 1) for line in proc.stdout.strip().splitlines())
    assert seen["KEY"] == "True" and seen["HOOK"] == "True", proc.stdout  # the settings hold them ...
    assert seen["ENVIRON-CLEAN"] == "True", proc.stdout  # ... the process environment never does
    assert seen["FD-GONE"] == "True" and seen["DUMPABLE"] == "0", proc.stdout


def test_the_real_worker_keeps_the_key_out_of_its_environment(tmp_path):
    """``celery -A bot.tasks worker`` started with the key in its environment: once it runs, the
    environment of its process (what ``/proc/<pid>/environ`` shows) holds no line of the key."""
    from tests.app_fixtures import session_redis_url
    env = {**os.environ, "MESHDIFF_PRIVATE_KEY": KEY, "MESHDIFF_WEBHOOK_SECRET": HOOK, "MESHDIFF_APP_ID": "1",
           "MESHDIFF_REDIS_URL": session_redis_url()}
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "bot.tasks", "worker", "--pool=solo", "-c", "1",
                             "--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", "secrets@%h"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        text = ""
        while time.monotonic() < deadline and "ready." not in text:
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()
            time.sleep(0.5)
            text = (tmp_path / "worker.log").read_text(errors="replace")
        assert "ready." in text, text
        environ = open(f"/proc/{proc.pid}/environ", "rb").read()
        assert b"plantedKEYline" not in environ and HOOK.encode() not in environ
        assert b"MESHDIFF_APP_ID=1" in environ  # the same process, re-executed with the rest of its environment
        assert "sandbox: works" in text  # the start-up log says whether the sandbox works
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=60)
        log.close()


def test_git_gets_the_token_only_in_its_own_environment(tmp_path, monkeypatch):
    token = "ghs_plantedtoken123"
    env = git_env(token, str(tmp_path))
    assert token not in " ".join(env)  # never a variable name, never argv
    assert not any(token in v for k, v in os.environ.items())  # the caller's environment never holds it
    assert any("Authorization" in v for v in env.values())  # only the git child's short-lived one
