"""End to end (issue 8): the web process under gunicorn, a real Celery worker, the stand-in GitHub, the App's
key planted in a file (``MESHDIFF_PRIVATE_KEY_PATH``), and a pull request that tries every way
it has to get the key into its comment: ``read_text`` of the key file, of the worker's
``/proc/<pid>/environ`` and of the sandbox's own, and ``env_var``. The check run fails with
dbt's error, saying why; no line of the key is in the comment, the check run or its annotations.
Reuses the e2e harness of ``tests/test_e2e_app.py`` (``tests/app_rig.py``).
"""
from __future__ import annotations

import pytest

from tests.app_fixtures import redis_url  # noqa: F401 - the session's own Redis
from tests.app_rig import Rig
from tests.test_e2e_app import Mesh

pytestmark = [pytest.mark.e2e, pytest.mark.dbt]


@pytest.fixture(scope="module")
def keyed_mesh(tmp_path_factory, redis_url):  # noqa: F811
    tmp = tmp_path_factory.mktemp("e2e-key")
    rig = Rig(tmp, redis_url=redis_url)
    rig.state.r.flushdb()
    keys = tmp / "keys"
    keys.mkdir()
    key_file = keys / "app.pem"
    key_file.write_text(rig.gh.private_key_pem)
    key_file.chmod(0o600)
    try:
        mesh = Mesh(rig, MESHDIFF_PRIVATE_KEY="", MESHDIFF_PRIVATE_KEY_PATH=str(key_file),
                    MESHDIFF_JOB_TIMEOUT_S="1200")
        mesh.key_file = str(key_file)
        yield mesh
    finally:
        rig.stop()
        rig.state.r.flushdb()


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
