"""What is shipped: the App manifest, the container image, and the wheel (the example mesh and
the license inside; a plain install runs the demo from any folder)."""
import json
import os
import re
import subprocess
import sys
import zipfile

import pytest
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


# ----------------------------------------------------------------------------- the wheel
@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    """``pip wheel .`` of this tree (build isolation: as a package index would build it)."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                           "-w", str(out), ROOT], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [name] = os.listdir(out)
    return str(out / name)


@pytest.mark.dbt
def test_the_wheel_holds_the_example_mesh_and_the_license(wheel):
    from bot.demo import PROJECTS, _SOURCE

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    tracked = subprocess.run(["git", "ls-files", "examples"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    expected = {"bot/" + path for path in tracked if path != "examples/build.sh"}
    assert expected <= names, sorted(expected - names)
    assert all(f"bot/examples/{p}/dbt_project.yml" in names for p in PROJECTS) and os.path.isdir(_SOURCE)
    assert not [n for n in names if re.search(r"/(target|logs|dbt_packages)/|\.duckdb", n)]
    [license_file] = [n for n in names if n.endswith("LICENSE") and ".dist-info/" in n]
    with zipfile.ZipFile(wheel) as archive:
        assert b"Apache License" in archive.read(license_file)
        metadata_text = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata_text


@pytest.mark.dbt
def test_a_plain_install_of_the_wheel_runs_the_demo_from_an_empty_folder(wheel, tmp_path, meshdiff_cache):
    """A fresh venv, ``pip install`` of the wheel (not editable; dependencies from pip's cache or
    the index, as a user gets them), then ``meshdiff demo`` in an empty folder. The demo shares
    the session's compile cache (keys are content: the same files, the same dbt)."""
    venv, empty = tmp_path / "venv", tmp_path / "empty"
    empty.mkdir()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", wheel],
                             capture_output=True, text=True, env=env, cwd=str(empty))
    assert install.returncode == 0, install.stdout + install.stderr[-4000:]

    def run(*argv):
        return subprocess.run(argv, capture_output=True, text=True, cwd=str(empty),
                              env={**env, "MESHDIFF_CACHE_DIR": meshdiff_cache})

    where = run(str(venv / "bin" / "python"), "-c", "import bot.demo; print(bot.demo.examples_dir())")
    assert where.returncode == 0 and where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr
    version = run(str(venv / "bin" / "meshdiff"), "--version")
    assert version.returncode == 0 and version.stdout.startswith("meshdiff 0.1.0 (dbt-core 1.11.")
    demo = run(str(venv / "bin" / "meshdiff"), "demo", "--format", "json")
    assert demo.returncode == 0, demo.stderr
    assert "Traceback" not in demo.stderr
    report = json.loads(demo.stdout)
    assert {i["node"] for i in report["impacts"] if i["severity"] == "breaking"} == {
        "model.finance.customer_segments", "exposure.finance.churn_model",
        "test.finance.accepted_values_customer_segments_value_segment__gold__silver__bronze.e82fb21627"}
    assert os.listdir(empty) == []  # it wrote nothing where it ran
