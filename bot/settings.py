"""Settings of the GitHub App, read from environment variables (names are part of the interface).

==============================  =================================================================
``MESHDIFF_APP_ID``             the App's numeric id (worker; required)
``MESHDIFF_PRIVATE_KEY``        the App's private key, PEM text (worker; this or the next one)
``MESHDIFF_PRIVATE_KEY_PATH``   a file holding the PEM private key
``MESHDIFF_WEBHOOK_SECRET``     the webhook secret (web; required, the app refuses to start without)
``MESHDIFF_REDIS_URL``          broker, dedup and job state (default ``redis://127.0.0.1:6379/0``)
``MESHDIFF_GITHUB_API_URL``     REST base (default ``https://api.github.com``; GHES: ``https://HOST/api/v3``)
``MESHDIFF_GITHUB_URL``         web and git base (default ``https://github.com``)
==============================  =================================================================

Optional tuning (documented, with safe defaults): ``MESHDIFF_JOB_TIMEOUT_S`` (soft limit of one
analysis, default 1500), ``MESHDIFF_COMPILE_TIMEOUT_S`` (one dbt invocation, default 300),
``MESHDIFF_WORK_DIR`` (checkouts; default a temp dir), ``MESHDIFF_DETAILS_URL`` (a page linked
from the check run), ``MESHDIFF_WORKER_CONCURRENCY`` (default 1).

Secrets are read here and only here; they are never copied back into ``os.environ`` and never
handed to the analysis subprocesses (``analysis.dbt.sandbox`` builds an allow-listed environment).
``os.environ.pop`` does not erase the environment a process started with (``/proc/<pid>/environ``
keeps it), so the worker, when it was given a secret through its environment, re-executes itself
without it (:func:`protect_worker`): the secrets travel through a pipe, read once at start. The
worker and the web process make themselves non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``): no process
of the same user can read their memory, environment or open files through ``/proc`` or ptrace.
``MESHDIFF_PRIVATE_KEY_PATH`` (a file outside everything the sandbox sees) avoids the environment
altogether.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Mapping

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_WEB_URL = "https://github.com"


#: settings that are secrets: never left in a worker's environment
SECRET_VARS = ("MESHDIFF_PRIVATE_KEY", "MESHDIFF_WEBHOOK_SECRET")
#: the fd of the pipe a re-executed worker reads its secrets from (:func:`protect_worker`)
SECRETS_FD_VAR = "MESHDIFF_SECRETS_FD"
_handed: dict[str, str] = {}


class SettingsError(RuntimeError):
    """A missing or invalid setting; the message names the variable and what to do."""


@dataclass(frozen=True)
class Settings:
    app_id: str = ""
    private_key: str = field(default="", repr=False)
    webhook_secret: str = field(default="", repr=False)
    redis_url: str = DEFAULT_REDIS_URL
    github_api_url: str = DEFAULT_API_URL
    github_url: str = DEFAULT_WEB_URL
    job_timeout_s: float = 1500.0
    compile_timeout_s: float = 300.0
    work_dir: str | None = None
    details_url: str | None = None
    worker_concurrency: int = 1

    @property
    def hard_time_limit_s(self) -> float:
        """Celery's hard limit: the soft limit plus time to complete the check run."""
        return self.job_timeout_s + 120.0

    @property
    def visibility_timeout_s(self) -> int:
        """Redis transport visibility timeout: above the longest a job may take."""
        return int(self.hard_time_limit_s * 2 + 600)

    def cache_key(self, installation_id: int) -> bytes | None:
        """The key sealing the cache records of one installation, derived from the App's private
        key (never stored: whoever can write the cache cannot forge a record, and one
        installation's records do not verify in another's)."""
        if not self.private_key:
            return None
        return hmac.new(self.private_key.encode(), f"meshdiff-cache:installation:{int(installation_id)}".encode(),
                        hashlib.sha256).digest()

    def require_webhook_secret(self) -> None:
        if not self.webhook_secret:
            raise SettingsError(
                "MESHDIFF_WEBHOOK_SECRET is not set: meshdiff refuses to accept unsigned webhooks. "
                "Set it to the webhook secret of your GitHub App (Settings > Developer settings > "
                "GitHub Apps > your app > Webhook secret)."
            )

    def require_app_credentials(self) -> None:
        if not self.app_id or not self.app_id.strip().isdigit():
            raise SettingsError(
                "MESHDIFF_APP_ID is not set (or not a number): set it to your GitHub App's App ID "
                "(shown on the App's settings page)."
            )
        if "PRIVATE KEY" not in self.private_key:
            raise SettingsError(
                "No App private key: set MESHDIFF_PRIVATE_KEY to the PEM text or "
                "MESHDIFF_PRIVATE_KEY_PATH to the .pem file downloaded from the App's settings page."
            )


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``env`` (default: ``os.environ``). Does not check completeness:
    the web app calls :meth:`Settings.require_webhook_secret`, the worker
    :meth:`Settings.require_app_credentials`."""
    if env is None:
        env = {**os.environ, **_take_handed_secrets()}
    key = env.get("MESHDIFF_PRIVATE_KEY", "")
    key_path = env.get("MESHDIFF_PRIVATE_KEY_PATH", "").strip()
    if not key and key_path:
        try:
            with open(key_path, encoding="utf-8") as handle:
                key = handle.read()
        except OSError as exc:
            raise SettingsError(
                f"MESHDIFF_PRIVATE_KEY_PATH={key_path!r} cannot be read ({exc.strerror}); "
                "point it at the App's .pem file"
            ) from None
    # PEM text pasted into one-line env files often carries literal "\n"
    if key and "\\n" in key and "\n" not in key.strip():
        key = key.replace("\\n", "\n")
    try:
        concurrency = int(env.get("MESHDIFF_WORKER_CONCURRENCY", "1") or "1")
    except ValueError:
        raise SettingsError("MESHDIFF_WORKER_CONCURRENCY must be an integer") from None
    return Settings(
        app_id=env.get("MESHDIFF_APP_ID", "").strip(),
        private_key=key,
        webhook_secret=env.get("MESHDIFF_WEBHOOK_SECRET", ""),
        redis_url=env.get("MESHDIFF_REDIS_URL", "").strip() or DEFAULT_REDIS_URL,
        github_api_url=(env.get("MESHDIFF_GITHUB_API_URL", "").strip() or DEFAULT_API_URL).rstrip("/"),
        github_url=(env.get("MESHDIFF_GITHUB_URL", "").strip() or DEFAULT_WEB_URL).rstrip("/"),
        job_timeout_s=_float(env, "MESHDIFF_JOB_TIMEOUT_S", 1500.0),
        compile_timeout_s=_float(env, "MESHDIFF_COMPILE_TIMEOUT_S", 300.0),
        work_dir=env.get("MESHDIFF_WORK_DIR", "").strip() or None,
        details_url=env.get("MESHDIFF_DETAILS_URL", "").strip() or None,
        worker_concurrency=max(1, concurrency),
    )


def make_undumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)``: this process's memory, environment and fds are out of reach
    of other processes of the same user (``/proc/<pid>/…``, ptrace), and it leaves no core dump.
    False where the call is not available (not Linux)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) == 0  # 4 = PR_SET_DUMPABLE
    except (OSError, AttributeError):
        return False


def protect_worker(argv: list[str] | None = None) -> None:
    """Harden a worker process before it does anything: non-dumpable, and when it was handed a
    secret through its environment, re-executed (same command line) without it: the secrets go
    through a pipe that :func:`load_settings` reads once, so ``/proc/<pid>/environ`` never holds them."""
    make_undumpable()
    found = {name: os.environ[name] for name in SECRET_VARS if os.environ.get(name)}
    if not found:
        return
    payload = json.dumps(found).encode()
    if len(payload) > 60_000:  # a pipe holds 64 KiB without a reader
        raise SettingsError("MESHDIFF_PRIVATE_KEY / MESHDIFF_WEBHOOK_SECRET are too large (over 60 KB)")
    read_fd, write_fd = os.pipe()
    os.write(write_fd, payload)
    os.close(write_fd)
    os.set_inheritable(read_fd, True)
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env[SECRETS_FD_VAR] = str(read_fd)
    argv = list(argv or sys.orig_argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *argv[1:]], env)


def _take_handed_secrets() -> dict[str, str]:
    """The secrets a re-executed worker was handed through its pipe (read once, then kept here)."""
    raw = os.environ.pop(SECRETS_FD_VAR, "")
    if raw.isdigit():
        fd = int(raw)
        chunks = []
        try:
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        except OSError:
            pass
        finally:
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            data = json.loads(b"".join(chunks) or b"{}")
        except ValueError:
            data = {}
        _handed.update({k: str(v) for k, v in data.items() if k in SECRET_VARS})
    return dict(_handed)
