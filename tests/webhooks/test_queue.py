"""The web app with its real queue: Celery ``send_task`` into the test session's own redis-server."""
import base64
import json

from bot.celeryapp import QUEUE, TASK_ANALYZE
from tests.app_fixtures import TEST_SECRET, adapt_event, redis_state, redis_url, settings_for  # noqa: F401
from tests.standin import webhooks as wh
from webhooks.app import create_app

REPO = "octo-org/shop-dbt"


def test_enqueues_ids_only_on_real_queue(redis_state):
    client = create_app(settings_for(), state=redis_state).test_client()
    payload = adapt_event(wh.load_example("pull_request", "opened", variant="with-installation"),
                          repo_full_name=REPO, installation_id=9, pr_number=3, head_sha="4" * 40)
    raw, hdrs = wh.delivery("pull_request", payload, "wrong secret")
    assert client.post("/webhooks/github", data=raw, headers=hdrs).status_code == 401
    assert redis_state.r.llen(QUEUE) == 0
    raw, hdrs = wh.delivery("pull_request", payload, TEST_SECRET)
    assert client.post("/webhooks/github", data=raw, headers=hdrs).status_code == 202
    assert client.post("/webhooks/github", data=raw, headers=hdrs).status_code == 200  # redelivery
    assert redis_state.r.llen(QUEUE) == 1
    message = json.loads(redis_state.r.lindex(QUEUE, 0))
    assert message["headers"]["task"] == TASK_ANALYZE
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args == [] and kwargs == {"installation_id": 9, "repo": REPO, "pr": 3, "head_sha": "4" * 40,
                                     "gen": redis_state.generation(REPO, 3, "4" * 40),
                                     "delivery": hdrs["X-GitHub-Delivery"], "trigger": "pull_request.opened"}
    assert "token" not in json.dumps(message).lower()


def test_the_web_writes_the_message_celery_itself_writes(redis_state, redis_url):
    """The web pushes the task message in its own Lua script: it must be what Celery's
    ``send_task`` stores, key for key (a real worker reads it in tests/test_e2e_app.py)."""
    from bot.celeryapp import make_celery, task_message

    make_celery(settings_for()).send_task(TASK_ANALYZE, kwargs={"repo": REPO, "pr": 3})
    celery_made = json.loads(redis_state.r.rpop(QUEUE))
    ours = json.loads(task_message(TASK_ANALYZE, {"repo": REPO, "pr": 3}))

    def shape(message):
        return {k: sorted(v) if isinstance(v, dict) else type(v).__name__ for k, v in message.items()}

    assert shape(ours) == shape(celery_made)
    assert ours["properties"]["delivery_info"] == celery_made["properties"]["delivery_info"]
    for key in ("lang", "task", "retries", "timelimit", "argsrepr", "kwargsrepr", "stamps"):
        assert ours["headers"][key] == celery_made["headers"][key], key
    assert base64.b64decode(ours["body"]) == base64.b64decode(celery_made["body"])
