"""The App manifest and the container image definition say what the README promises."""
import json
import os
import re

import yaml

from tests.paths import ROOT


def test_app_manifest_least_privilege():
    with open(os.path.join(ROOT, "app.yml")) as handle:
        manifest = yaml.safe_load(handle)
    assert manifest["default_permissions"] == {"metadata": "read", "contents": "read", "checks": "write",
                                               "pull_requests": "write"}
    assert manifest["default_events"] == ["pull_request", "check_run", "issue_comment"]
    assert manifest["hook_attributes"]["url"].endswith("/webhooks/github") and manifest["url"]
    allowed = {"name", "url", "hook_attributes", "redirect_url", "callback_urls", "setup_url", "description",
               "public", "default_events", "default_permissions", "request_oauth_on_install", "setup_on_update"}
    assert set(manifest) <= allowed


def _instructions(text: str) -> list[str]:
    """The Dockerfile's instructions (comments dropped, continuation lines joined)."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    return [i.strip() for i in re.sub(r"\\\n\s*", " ", "\n".join(lines)).splitlines() if i.strip()]


def test_dockerfile_one_image_two_commands_non_root():
    with open(os.path.join(ROOT, "Dockerfile")) as handle:
        instructions = _instructions(handle.read())
    assert "USER meshdiff" in instructions
    # web: the image's default command (a real instruction, not a comment)
    [cmd] = [json.loads(i[len("CMD "):]) for i in instructions if i.startswith("CMD ")]
    assert cmd[0] == "gunicorn" and cmd[-1] == "webhooks.app:create_app()"
    assert "ARG DBT_ADAPTERS=\"\"" in instructions
    assert any(i.startswith("RUN pip install . ") and "pip install $DBT_ADAPTERS" in i for i in instructions)
    # worker: the same image with the command the README gives it (celery comes with `pip install .`)
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        docker = handle.read().split("### Docker", 1)[1].split("\n## ", 1)[0]
    runs = re.sub(r"\\\n\s*", " ", docker)
    worker = [ln for ln in runs.splitlines() if ln.startswith("docker run") and "--name meshdiff-worker" in ln]
    assert len(worker) == 1 and worker[0].split(" meshdiff ", 1)[1].startswith("celery -A bot.tasks worker")
    from celery import Celery

    import bot.tasks

    assert isinstance(bot.tasks.app, Celery)  # what `celery -A bot.tasks` loads
    with open(os.path.join(ROOT, ".dockerignore")) as handle:
        ignored = handle.read()
    assert "*.pem" in ignored and ".env" in ignored and ".git" in ignored
