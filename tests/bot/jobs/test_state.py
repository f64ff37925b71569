"""The shared state in a real Redis (the test session's own): one-round-trip intake, generations
that survive a Redis that forgot them, leases, and the registry of running jobs."""
import json
import time

from bot.celeryapp import QUEUE, TASK_ANALYZE, task_message
from bot.ids import JobId, new_generation
from bot.jobs.state import LEASE_TTL_S, Owner
from tests.app_fixtures import queued, redis_state, redis_url  # noqa: F401

REPO, SHA = "octo-org/shop-dbt", "a" * 40


def _intake(state, delivery, gen, **kw):
    kwargs = {"repo": REPO, "pr": 5, "head_sha": SHA, "gen": gen}
    return state.intake(delivery, installation_id=77, repo=REPO, queue=QUEUE,
                        message=task_message(TASK_ANALYZE, kwargs), commit=(REPO, 5, SHA), gen=gen, **kw)


def test_intake_is_one_script_dedupe_generation_head_pending_and_the_message(redis_state):
    state = redis_state
    gen = new_generation()
    assert _intake(state, "d-1", gen, set_head=True) == ("queued", None)
    assert state.generation(REPO, 5, SHA) == gen and state.head(REPO, 5) == SHA and state.pending(REPO, 5, SHA)
    assert [kw["gen"] for _, kw in queued(state)] == [gen]
    assert _intake(state, "d-1", gen + 5) == ("duplicate", None)
    assert _intake(state, "d-2", gen) == ("conflict", str(gen))  # not above the stored one: nothing done
    assert len(queued(state)) == 1 and state.r.exists("meshdiff:delivery:d-2") == 0
    state.set_repo_removed(77, REPO, True)
    assert _intake(state, "d-3", gen + 1) == ("blocked", "repository removed from the installation")
    state.set_suspended(77, True)
    assert _intake(state, "d-4", gen + 2) == ("blocked", "installation suspended or deleted")
    assert len(queued(state)) == 1


def test_generations_rise_above_the_stored_one_and_the_clock(redis_state):
    state = redis_state
    first = state.bump(REPO, 5, SHA)
    assert abs(first / 1e6 - time.time()) < 600
    assert state.bump(REPO, 5, SHA, now_gen=1) == first + 1  # a clock behind the stored one
    assert state.pending(REPO, 5, SHA)
    state.r.flushdb()  # Redis lost its data
    assert state.generation(REPO, 5, SHA) is None  # unknown, not 0 (not "a newer run")
    assert state.restore_generation(REPO, 5, SHA, first) == first
    assert state.restore_generation(REPO, 5, SHA, first - 10) == first  # never lowered
    assert state.bump(REPO, 5, SHA) > first + 1  # the clock keeps newer runs newer after a loss


def test_pending_is_cleared_only_by_the_newest_run(redis_state):
    state = redis_state
    old = state.bump(REPO, 5, SHA)
    state.bump(REPO, 5, SHA)
    state.clear_pending(REPO, 5, SHA, old)
    assert state.pending(REPO, 5, SHA)


def test_leases_renewal_recreates_what_redis_lost(redis_state):
    state = redis_state
    job = str(JobId(REPO, 5, SHA, 9))
    me, other = str(Owner("w@a", "i1", 10)), str(Owner("w@b", "i2", 11))
    record = {"repo": REPO, "pr": 5, "head_sha": SHA, "gen": 9, "state": "running", "deadline": time.time() + 99}
    assert state.take_lease(job, me) and not state.take_lease(job, other)
    assert state.take_lease(job, other, replace=me)  # the holder is known dead
    assert not state.renew(job, me, record)  # someone else holds it now
    state.release_lease(job, me)
    assert state.lease(job) == other  # only the holder releases
    state.r.flushdb()
    assert state.renew(job, me, record, computing="content", pending=(REPO, 5, SHA, 9))
    assert state.lease(job) == me and state.job(job) == record and state.jobs() == [job]
    assert state.computing("content") == job and state.pending(REPO, 5, SHA)
    assert 0 < state.r.ttl(f"meshdiff:lease:{job}") <= LEASE_TTL_S


def test_one_worker_claims_a_job(redis_state):
    state = redis_state
    state.register_job("j", {"state": "running"}, 0)
    assert state.claim_job("j", {"state": "requeued"}) and not state.claim_job("j", {"state": "other"})
    assert state.job("j") == {"state": "requeued"} and state.jobs() == []


def test_the_epoch_tells_a_redis_that_lost_its_data(redis_state):
    state = redis_state
    epoch, created = state.ensure_epoch()
    assert created and state.ensure_epoch() == (epoch, False)
    state.r.flushdb()
    again, created = state.ensure_epoch()
    assert created and again != epoch


def test_persistence_warnings(redis_state):
    [warning] = redis_state.persistence_warnings()  # the tests' redis-server: --appendonly no
    assert "appendonly yes" in warning
    info = json.dumps(redis_state.r.info("persistence"))
    assert '"aof_enabled": 0' in info
