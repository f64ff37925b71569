"""dbt packages, on real dbt compiles in the sandbox:

- a ``local:`` package inside the checkout works offline (dbt links it in the compile's fence);
- a vendored ``dbt_packages/`` works offline;
- a git package served from a local bare repository (``git daemon``) is fetched by the separate
  deps step, the only one with network, and cached by the content of ``packages.yml``: a second
  project with the same packages compiles with the server gone;
- with the deps network off, or when the fetch fails, the message names the package and what to do;
- the host's project folder is never written (no ``dbt_packages/``, no ``package-lock.yml``).
"""
import os
import signal
import socket
import subprocess
import time

import pytest

from analysis.dbt import compile as dbt
from analysis.dbt.sandbox import SandboxConfig

pytestmark = pytest.mark.dbt

MACRO = "{% macro shout(x) %}upper({{ x }}){% endmacro %}\n"


def _git(cwd, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def _project(root, name, packages: str | None, model: str = "select {{ shouting.shout(\"'a'\") }} as v") -> str:
    path = root / name
    (path / "models").mkdir(parents=True)
    (path / "dbt_project.yml").write_text(f"name: {name}\nprofile: {name}\nconfig-version: 2\nversion: '1.0'\n")
    (path / "models" / "m.sql").write_text(model)
    if packages is not None:
        (path / "packages.yml").write_text(packages)
    return str(path)


def _package(path, name="shouting"):
    (path / "macros").mkdir(parents=True)
    (path / "dbt_project.yml").write_text(f"name: {name}\nconfig-version: 2\nversion: '1.0'\n")
    (path / "macros" / "shout.sql").write_text(MACRO)


def _compiled(result) -> str:
    assert result.ok, result.error
    from analysis.dbt.manifest import load_manifest

    project = load_manifest(result.manifest_path, project_dir=result.project_dir)
    return " ".join(next(n for n in project.nodes.values() if n.name == "m").compiled_sql.split())


def _untouched(path: str) -> None:
    assert not os.path.exists(os.path.join(path, "dbt_packages")), "the sandbox wrote into the host's project"
    assert not os.path.exists(os.path.join(path, "package-lock.yml"))
    assert not os.path.exists(os.path.join(path, "target"))


def test_a_local_package_inside_the_checkout_works_offline(tmp_path):
    _package(tmp_path / "repo" / "shared")
    path = _project(tmp_path / "repo", "app", "packages:\n  - local: ../shared\n")
    (tmp_path / "repo" / ".git").mkdir()  # the checkout's root: what the sandbox may read
    project = dbt.read_project(path)
    assert project.root == str(tmp_path / "repo")
    result = dbt.compile_project(project, {}, cache_dir=str(tmp_path / "cache"),
                                 sandbox=SandboxConfig(policy="required", deps_network=False))
    assert "select upper('a') as v" in _compiled(result)
    _untouched(path)


def _served_by_a_dbt_started_ahead(project, cache: str, sandbox: SandboxConfig):
    """``project`` compiled by a dbt made ready (packages included) and started ahead, held, on
    the prestart thread; the compile's result and the held compile it used."""
    from analysis.dbt.prepare import ahead_of
    from analysis.dbt.prestart import Prestarts

    made = []
    prestarts = Prestarts(lambda f: made.append(ahead_of(f, cache_dir=cache, sandbox=sandbox)) or made[-1],
                          {"upstream": [project]}, idle=lambda: 1)
    prestarts.started("upstream")
    deadline = time.monotonic() + 300
    while not made and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        result = dbt.compile_project(project, {}, cache_dir=cache, sandbox=sandbox, prestarts=prestarts)
    finally:
        prestarts.close()
    return result, made[0]


def test_a_project_with_local_packages_compiled_by_a_dbt_started_ahead(tmp_path):
    """The packages are put in place (an offline `dbt deps` in its own fence) before the held
    dbt starts: it sees them, and the host's project stays untouched."""
    _package(tmp_path / "repo" / "shared")
    path = _project(tmp_path / "repo", "app", "packages:\n  - local: ../shared\n")
    (tmp_path / "repo" / ".git").mkdir()
    on = SandboxConfig(policy="required", deps_network=False)
    result, ahead = _served_by_a_dbt_started_ahead(dbt.read_project(path), str(tmp_path / "cache"), on)
    assert ahead is not None and ahead.started.proc.returncode == 0  # the held dbt ran this compile
    assert "select upper('a') as v" in _compiled(result)
    _untouched(path)


def test_a_project_with_git_packages_compiled_by_a_dbt_started_ahead(tmp_path, git_server):
    url, _ = git_server
    path = _project(tmp_path / "one", "app", f'packages:\n  - git: "{url}"\n    revision: main\n')
    on = SandboxConfig(policy="required", deps_network=True)
    result, ahead = _served_by_a_dbt_started_ahead(dbt.read_project(path), str(tmp_path / "cache"), on)
    assert ahead is not None and ahead.started.proc.returncode == 0
    assert "select upper('a') as v" in _compiled(result)
    _untouched(path)


def test_vendored_packages_work_offline(tmp_path):
    path = _project(tmp_path / "repo", "app", "packages:\n  - package: example/shouting\n    version: 1.0.0\n")
    _package(tmp_path / "repo" / "app" / "dbt_packages" / "shouting")
    result = dbt.compile_project(dbt.read_project(path), {}, cache_dir=str(tmp_path / "cache"),
                                 sandbox=SandboxConfig(policy="required", deps_network=False))
    assert "select upper('a') as v" in _compiled(result)
    assert not os.path.exists(os.path.join(path, "package-lock.yml"))


@pytest.fixture
def git_server(tmp_path):
    """``git daemon`` serving ``pkg.git`` (a bare repository of the package) on 127.0.0.1."""
    served = tmp_path / "served"
    work = tmp_path / "pkg-src"
    _package(work)
    _git(work, "init", "-q", "-b", "main")
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "package")
    served.mkdir()
    _git(tmp_path, "clone", "-q", "--bare", str(work), str(served / "pkg.git"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served}",
                             "--listen=127.0.0.1", f"--port={port}", str(served)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"git://127.0.0.1:{port}/pkg.git", proc
    _stop(proc)


def _stop(daemon: subprocess.Popen) -> None:
    """Kill ``git daemon`` and the children it forked per connection (its own process group):
    killing the daemon alone leaves them running after the test."""
    try:
        os.killpg(daemon.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    daemon.wait()


def test_a_git_package_is_fetched_by_the_deps_step_and_cached(tmp_path, git_server):
    url, daemon = git_server
    packages = f'packages:\n  - git: "{url}"\n    revision: main\n'
    cache = str(tmp_path / "cache")
    on = SandboxConfig(policy="required", deps_network=True)
    first = _project(tmp_path / "one", "app", packages)
    result = dbt.compile_project(dbt.read_project(first), {}, cache_dir=cache, sandbox=on)
    assert "select upper('a') as v" in _compiled(result)
    _untouched(first)
    _stop(daemon)
    # same packages.yml, another project: the installed packages come from the cache
    second = _project(tmp_path / "two", "app", packages, model="select {{ shouting.shout(\"'b'\") }} as v")
    again = dbt.compile_project(dbt.read_project(second), {}, cache_dir=cache, sandbox=on)
    assert "select upper('b') as v" in _compiled(again)
    # a third packages.yml, the server gone: the deps step fails and names the package
    third = _project(tmp_path / "three", "app", packages.replace("main", "v2"))
    failed = dbt.compile_project(dbt.read_project(third), {}, cache_dir=cache, sandbox=on)
    assert not failed.ok
    assert failed.error.startswith(f"dbt deps could not install `{url}` (git) for app")
    assert "vendor the packages (commit `dbt_packages/`)" in failed.error


def test_with_the_deps_network_off_the_message_names_the_package(tmp_path, git_server):
    url, daemon = git_server
    path = _project(tmp_path, "app", f'packages:\n  - git: "{url}"\n    revision: main\n'
                                      "  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n")
    result = dbt.compile_project(dbt.read_project(path), {}, cache_dir=str(tmp_path / "cache"),
                                 sandbox=SandboxConfig(policy="required", deps_network=False))
    assert not result.ok
    assert f"`{url}` (git)" in result.error and "`dbt-labs/dbt_utils` (hub)" in result.error
    assert "MESHDIFF_DEPS_NETWORK=off" in result.error and "commit the `dbt_packages/` folder" in result.error
    _untouched(path)
