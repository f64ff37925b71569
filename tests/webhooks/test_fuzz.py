"""Fuzzed, validly signed deliveries (tests/webhook_fuzz.py) through the real app and a real
Redis: none is answered 5xx, and every job that reaches the queue carries valid ids (the drill
``python -m bench.drills`` sends 10,000 of them through gunicorn)."""
from collections import Counter

from tests.app_fixtures import TEST_SECRET, queued, redis_state, redis_url, settings_for  # noqa: F401
from tests.webhook_fuzz import cases, invalid_job
from webhooks.app import create_app


def test_fuzzed_deliveries_never_5xx_and_queue_only_valid_jobs(redis_state):
    client = create_app(settings_for(), state=redis_state).test_client()
    statuses = Counter()
    for event, body, headers in cases(600, TEST_SECRET, seed=7):
        resp = client.post("/webhooks/github", data=body, headers=headers)
        statuses[resp.status_code] += 1
        assert resp.status_code < 500, (event, body[:300], resp.get_json())
        if resp.status_code == 400:
            assert resp.get_json()["error"]  # with the reason
    jobs = queued(redis_state)
    assert [invalid_job(name, kwargs) for name, kwargs in jobs if invalid_job(name, kwargs)] == []
    # the fuzz reaches every kind of answer (a fuzzer that only produced 400s would prove little)
    assert statuses[400] > 100 and statuses[200] > 20 and statuses[202] > 20, statuses
    assert len(jobs) == statuses[202]
