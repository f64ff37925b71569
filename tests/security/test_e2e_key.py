"""End to end (issue 8): the real Flask app, a real Celery worker, the stand-in GitHub, the App's
key planted in a file (``MESHDIFF_PRIVATE_KEY_PATH``), and a pull request that tries every way
it has to get the key into its comment: ``read_text`` of the key file, of the worker's
``/proc/<pid>/environ`` and of the sandbox's own, and ``env_var``. The check run fails with
dbt's error, saying why; no line of the key is in the comment, the check run or its annotations.
Reuses the e2e harness of ``tests/test_e2e_app.py``.
"""
from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

from bot.jobs.state import State
from tests.app_fixtures import redis_url, settings_for  # noqa: F401 - the session's own Redis
from tests.paths import ROOT
from tests.standin import StandInGitHub
from tests.test_e2e_app import EXEC, FINANCE, INSTALLATION, MESH_YML, SHOP, Mesh, Worker, _copy_project, _wait
from webhooks.app import create_app

pytestmark = [pytest.mark.e2e, pytest.mark.dbt]


@pytest.fixture(scope="module")
def keyed_mesh(tmp_path_factory, redis_url):  # noqa: F811
    tmp = tmp_path_factory.mktemp("e2e-key")
    state = State.from_url(redis_url)
    state.r.flushdb()
    gh = StandInGitHub(root=tmp / "github")
    gh.add_installation(INSTALLATION, "octo-org")
    for repo, project in ((SHOP, "shop"), (FINANCE, "finance"), (EXEC, "exec_reporting")):
        src = tmp / "src" / repo.split("/")[1]
        _copy_project(project, str(src))
        if repo == SHOP:
            (src / ".meshdiff.yml").write_text(MESH_YML)
        gh.add_repo(repo, str(src), installation_id=INSTALLATION)
    keys = tmp / "keys"
    keys.mkdir()
    key_file = keys / "app.pem"
    key_file.write_text(gh.private_key_pem)
    key_file.chmod(0o600)
    app = create_app(settings_for(gh))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHDIFF_")}
    env.update(MESHDIFF_APP_ID=str(gh.app_id), MESHDIFF_PRIVATE_KEY_PATH=str(key_file),
               MESHDIFF_REDIS_URL=redis_url, MESHDIFF_GITHUB_API_URL=gh.api_url, MESHDIFF_GITHUB_URL=gh.web_url,
               MESHDIFF_CACHE_DIR=str(tmp / "cache"), MESHDIFF_WORK_DIR=str(tmp / "work"),
               MESHDIFF_JOB_TIMEOUT_S="1200", PYTHONPATH=ROOT)
    worker = Worker(env, str(tmp / "worker.log"))
    try:
        _wait(lambda: state.workers(), "the worker's first heartbeat", timeout=1200, worker=worker)
        mesh = Mesh(gh, f"http://127.0.0.1:{server.server_port}/webhooks/github", worker, state)
        mesh.key_file = str(key_file)
        yield mesh
    finally:
        worker.stop()
        server.shutdown()
        gh.stop()
        state.r.flushdb()


def _key_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if len(line) > 16 and "PRIVATE KEY" not in line]


def test_a_pr_cannot_put_the_planted_key_into_its_comment_or_check_run(keyed_mesh):
    mesh = keyed_mesh
    worker_pid = mesh.worker.proc.pid
    reads = [mesh.key_file, f"/proc/{worker_pid}/environ", "/proc/self/environ", "/proc/1/environ"]
    steal = "".join(
        "{% set r = run_query(\"select content from read_text('" + path + "')\") %}\n"
        "-- {{ r.columns[0].values()[0] if r else '' }}\n" for path in reads
    ) + "select '{{ env_var(\"MESHDIFF_PRIVATE_KEY\", \"none\") }}' as k, " \
        "'{{ env_var(\"MESHDIFF_PRIVATE_KEY_PATH\", \"none\") }}' as p\n"
    pr = mesh.open_pr(11, "steal-the-key", {"shop/models/steal.sql": steal})
    status, _ = mesh.deliver("pull_request", mesh.pr_event("opened", 11))
    assert status == 202
    [run] = mesh.wait_completed(pr["head_sha"])
    [comment] = mesh.bot_comments(11)
    published = "\n".join([comment["body"], run["output"]["title"], run["output"]["summary"],
                           run["output"]["text"] or "", repr(run.get("annotations"))])
    for line in _key_lines(mesh.gh.private_key_pem):
        assert line not in published, "a line of the App's key reached the comment or the check run"
    # a clear verdict: the check fails because the PR's code does not compile, and says why
    assert run["conclusion"] == "failure", run["output"]
    assert "shop does not compile" in published and "Permission Error" in published, published[:3000]
    assert "sandbox: works" in mesh.worker.log_tail(400)  # the worker said at start that it fences PR code
