"""The App manifest and the container image definition say what the README promises."""
import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def test_dockerfile_one_image_two_commands_non_root():
    with open(os.path.join(ROOT, "Dockerfile")) as handle:
        text = handle.read()
    assert re.search(r"^USER meshdiff$", text, re.M)
    assert "webhooks.app:create_app()" in text and "celery -A bot.tasks worker" in text
    assert "ARG DBT_ADAPTERS" in text and "pip install $DBT_ADAPTERS" in text
    with open(os.path.join(ROOT, ".dockerignore")) as handle:
        ignored = handle.read()
    assert "*.pem" in ignored and ".env" in ignored and ".git" in ignored
