"""The drills' cores as end-to-end tests (``tests/app_drills.py``; ``python -m bench.drills`` runs
them longer and prints the figures): gunicorn as the README runs it, real Celery workers, a
redis-server each test starts, kills and restarts, the stand-in GitHub and, for the worker and
Redis faults, the real analysis. What is asserted holds on a busy machine too: exactly once,
no 5xx, one check run, no false "superseded"; deadlines are generous and never a figure."""
import pytest

from tests import app_drills as drills
from tests.app_rig import Rig


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path)
    try:
        yield rig
    finally:
        rig.stop()
    assert rig.gh.violations == [], "requests broke GitHub's contract:\n" + "\n".join(rig.gh.violations)


@pytest.mark.e2e
def test_the_web_under_gunicorn_queues_each_delivery_once_and_never_5xx(rig):
    rig.start_web(MESHDIFF_WEB_BODY_TIMEOUT_S=3)
    load = drills.load(rig, rate=40, seconds=5, redeliver=0.1)
    assert load["statuses"].get(0, 0) == 0, load  # every delivery answered
    assert set(load["statuses"]) <= {200, 202, 503}, load
    # exactly once: no delivery queued twice, none lost unless refused (503: GitHub's redelivery)
    assert load["queued_twice"] == 0 and load["lost"] <= load["refused_503"], load
    fuzz = drills.fuzz(rig, 400, rate=80)
    assert fuzz["five_xx"] == 0 and fuzz["no_answer"] == 0 and fuzz["invalid_jobs"] == 0, fuzz
    assert drills.oversized_chunked(rig) == 413  # refused for its size before its (missing) signature


@pytest.mark.e2e
def test_stalled_clients_do_not_hold_up_other_deliveries(rig):
    rig.start_web(MESHDIFF_WEB_BODY_TIMEOUT_S=3)
    slow = drills.slow_clients(rig, stalled=8, probes=20, rate=10)
    assert slow["probe_statuses"] == {202: 20}, slow  # every probe answered while 8 clients stall
    assert slow["slow_statuses"] == {408: 8}, slow  # and the stalled ones are let go (body timeout)


@pytest.mark.e2e
@pytest.mark.dbt
def test_a_killed_worker_s_job_is_finished_on_the_same_check_run(rig):
    rig.start_web()
    kill = drills.worker_kill(rig)
    assert kill["killed_mid_analysis"], "the analysis ended before the kill: the drill proved nothing"
    assert kill["runs"] == 1 and kill["same_run"] and kill["comments"] == 1, kill
    # the breaking change's verdict, not a report of the crash
    assert kill["conclusion"] == "failure" and kill["title"].startswith("Blocks the merge"), kill
    assert kill["work_dirs_after_kill"] and kill["work_dirs_left"] == 0, kill


@pytest.mark.e2e
@pytest.mark.dbt
def test_redis_restarted_without_persistence_loses_no_pr(rig):
    rig.start_web()
    restart = drills.redis_restart(rig)
    assert restart["queued_when_restarted"] >= 1, restart  # a queued job was lost with Redis' data
    assert restart["false_superseded"] == 0 and restart["prs_with_a_run"] == 2, restart
    assert restart["conclusions"][1][-1] == "failure" and restart["conclusions"][2][-1] == "success", restart
    assert restart["titles"][1][-1].startswith("Blocks the merge"), restart  # a verdict, not an error
    assert restart["comments"] == {1: 1, 2: 1}, restart
