"""The webhook endpoint with real payloads (@octokit/webhooks-examples), the real Flask app and
a real Redis (the test session's own redis-server): what a delivery queues is read back from the
worker queue in Redis (test_queue.py checks a real Celery worker reads it)."""
import time

import pytest

from bot.celeryapp import TASK_ANALYZE, TASK_COMMAND
from bot.settings import Settings, SettingsError
from tests.app_fixtures import TEST_REDIS_OVERRIDE, TEST_SECRET, adapt_event, queued, redis_state, redis_url, settings_for  # noqa: F401
from tests.standin import webhooks as wh
from webhooks.app import MAX_BODY_BYTES, create_app
from webhooks.security import signature, verify_signature

REPO = "octo-org/shop-dbt"
HEAD = "1" * 40


class Queue:
    """The jobs a test's deliveries queued (read from Redis)."""

    def __init__(self, state):
        self.state = state

    @property
    def calls(self):
        return queued(self.state)


@pytest.fixture
def web(redis_state):
    app = create_app(settings_for(), state=redis_state)
    return app.test_client(), Queue(redis_state), redis_state


def post(client, event, payload, *, secret=TEST_SECRET, delivery=None, body=None):
    raw, hdrs = wh.delivery(event, payload, secret, delivery)
    return client.post("/webhooks/github", data=body if body is not None else raw, headers=hdrs)


def pr_event(action, variant="with-installation", **kw):
    return adapt_event(wh.load_example("pull_request", action, variant=variant), repo_full_name=REPO,
                    installation_id=77, pr_number=5, head_sha=HEAD, **kw)


def test_docs_test_vector():
    assert signature("It's a Secret to Everybody", b"Hello, World!") == \
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify_signature("It's a Secret to Everybody", b"Hello, World!",
                            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
    assert not verify_signature("", b"x", signature("", b"x"))
    assert not verify_signature("s", b"x", None)
    assert not verify_signature("s", b"x", "sha1=" + signature("s", b"x")[7:])


def test_signature_compared_in_constant_time(web, monkeypatch):
    """The endpoint's verdict comes from ``hmac.compare_digest`` (never ``==``)."""
    import hmac

    client, rec, _ = web
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return verdict[0]

    verdict = [False]
    monkeypatch.setattr(hmac, "compare_digest", spy)
    payload = pr_event("opened")
    raw, hdrs = wh.delivery("pull_request", payload, TEST_SECRET)
    assert client.post("/webhooks/github", data=raw, headers=hdrs).status_code == 401  # a correct signature...
    [(computed, given)] = calls  # ...rejected because compare_digest said so
    assert given == hdrs["X-Hub-Signature-256"].encode() and real(computed, given)
    verdict[0] = True
    raw, hdrs = wh.delivery("pull_request", payload, "not the secret")
    assert client.post("/webhooks/github", data=raw, headers=hdrs).status_code == 202  # ...and the other way round
    assert len(calls) == 2 and not real(*calls[1]) and len(rec.calls) == 1


def test_refuses_to_start_without_secret(redis_state, redis_url):
    with pytest.raises(SettingsError, match="MESHDIFF_WEBHOOK_SECRET"):
        create_app(Settings(redis_url=redis_url), state=redis_state)


@pytest.mark.parametrize("action, variant", [("opened", "with-installation"), ("synchronize", "with-installation"),
                                             ("reopened", "with-installation"),
                                             ("ready_for_review", "with-installation")])
def test_pull_request_actions_enqueue_ids_only(web, action, variant):
    client, rec, state = web
    t = time.monotonic()
    resp = post(client, "pull_request", pr_event(action, variant))
    assert time.monotonic() - t < 10  # milliseconds when idle; the bound proves only that nothing heavy runs inline
    assert resp.status_code == 202, resp.get_json()
    [(name, kwargs)] = rec.calls
    assert name == TASK_ANALYZE
    assert kwargs == {"installation_id": 77, "repo": REPO, "pr": 5, "head_sha": HEAD, "gen": kwargs["gen"],
                      "delivery": kwargs["delivery"], "trigger": f"pull_request.{action}"}
    assert abs(kwargs["gen"] / 1e6 - time.time()) < 600  # a generation is the request's time (µs)
    assert state.head(REPO, 5) == HEAD and state.generation(REPO, 5, HEAD) == kwargs["gen"]
    assert state.pending(REPO, 5, HEAD)  # the reconciliation leaves a queued commit alone


def test_redelivery_is_a_noop(web):
    client, rec, state = web
    payload = pr_event("opened")
    assert post(client, "pull_request", payload, delivery="d-1").status_code == 202
    again = post(client, "pull_request", payload, delivery="d-1")
    assert again.status_code == 200 and again.get_json() == {"duplicate": "d-1"}
    [(_, kwargs)] = rec.calls
    assert state.generation(REPO, 5, HEAD) == kwargs["gen"]


@pytest.mark.parametrize("mangle", ["missing", "wrong-secret", "tampered", "sha1-only"])
def test_bad_signature_401_and_nothing_enqueued(web, mangle):
    client, rec, state = web
    payload = pr_event("opened")
    raw, hdrs = wh.delivery("pull_request", payload, TEST_SECRET)
    if mangle == "missing":
        hdrs.pop("X-Hub-Signature-256")
    elif mangle == "wrong-secret":
        hdrs["X-Hub-Signature-256"] = wh.sign(raw, "not the secret")
    elif mangle == "tampered":
        raw = raw.replace(HEAD.encode(), b"2" * 40)
    else:
        hdrs.pop("X-Hub-Signature-256")
        assert hdrs["X-Hub-Signature"].startswith("sha1=")
    resp = client.post("/webhooks/github", data=raw, headers=hdrs)
    assert resp.status_code == 401
    assert rec.calls == [] and state.r.dbsize() == 0  # not even the delivery id is recorded


def test_signature_checked_before_json(web):
    client, rec, _ = web
    _, hdrs = wh.delivery("pull_request", {}, TEST_SECRET)
    resp = client.post("/webhooks/github", data=b"{not json", headers=hdrs)  # signature is for "{}"
    assert resp.status_code == 401
    raw = b"{not json"
    hdrs["X-Hub-Signature-256"] = wh.sign(raw, TEST_SECRET)
    assert client.post("/webhooks/github", data=raw, headers=hdrs).status_code == 400


def test_body_capped_at_25_mb(web):
    client, rec, _ = web
    big = b"{" + b" " * MAX_BODY_BYTES + b"}"
    hdrs = wh.headers("pull_request", big, TEST_SECRET)
    assert client.post("/webhooks/github", data=big, headers=hdrs).status_code == 413
    assert rec.calls == []


def test_edited_only_with_base_change(web):
    client, rec, _ = web
    kw = dict(repo_full_name=REPO, installation_id=77, pr_number=5, head_sha=HEAD)
    plain = adapt_event(wh.pull_request_edited(title_from="old title"), **kw)
    assert post(client, "pull_request", plain).status_code == 200
    assert rec.calls == []
    based = adapt_event(wh.pull_request_edited(base_ref_from="develop", base_sha_from="3" * 40), base_ref="main", **kw)
    assert post(client, "pull_request", based).status_code == 202
    assert rec.calls[0][1]["trigger"] == "pull_request.edited"


@pytest.mark.parametrize("event, action, variant", [
    ("pull_request", "closed", "with-installation"),
    ("pull_request", "labeled", "with-installation"),
    ("push", None, "with-installation"),
    ("ping", None, "plain"),
    ("check_run", "completed", None),
])
def test_other_events_2xx_and_ignored(web, event, action, variant):
    client, rec, _ = web
    payload = wh.load_example(event, action, variant=variant) if variant else wh.load_example(event, action)
    if event != "ping":
        payload = adapt_event(payload, repo_full_name=REPO, installation_id=77)
    resp = post(client, event, payload)
    assert resp.status_code == 200 and "ignored" in resp.get_json()
    assert rec.calls == []


def test_draft_pull_request_waits_for_ready(web):
    client, rec, _ = web
    payload = pr_event("opened")
    payload["pull_request"]["draft"] = True
    assert post(client, "pull_request", payload).status_code == 200 and rec.calls == []


@pytest.mark.parametrize("action", ["rerequested", "requested_action"])
def test_check_run_rerun(web, action):
    client, rec, state = web
    payload = adapt_event(wh.load_example("check_run", action), repo_full_name=REPO, installation_id=77, pr_number=5,
                       head_sha=HEAD, check_run_name="meshdiff / impact", requested_action="rerun")
    payload["check_run"]["external_id"] = f"{REPO}#5@{HEAD}#1"
    payload["check_run"]["pull_requests"] = []  # fork PRs have none: the external id is enough
    assert post(client, "check_run", payload).status_code == 202
    [(name, kwargs)] = rec.calls
    assert (name, kwargs["pr"], kwargs["head_sha"], kwargs["approved"]) == (TASK_ANALYZE, 5, HEAD, True)
    assert kwargs["gen"] == state.generation(REPO, 5, HEAD)


def test_check_run_of_another_app_ignored(web):
    client, rec, _ = web
    payload = adapt_event(wh.load_example("check_run", "rerequested"), repo_full_name=REPO, installation_id=77,
                       pr_number=5, head_sha=HEAD, check_run_name="ci / build")
    assert post(client, "check_run", payload).status_code == 200 and rec.calls == []


def comment_event(body, *, sender_type="User", pr=True):
    payload = adapt_event(wh.load_example("issue_comment", "created", variant="with-installation-and-organization"),
                       repo_full_name=REPO, installation_id=77, pr_number=5 if pr else None, comment_body=body,
                       sender_login="alice", sender_type=sender_type)
    if not pr:
        payload["issue"].pop("pull_request", None)
    return payload


def test_comment_commands(web):
    client, rec, _ = web
    assert post(client, "issue_comment", comment_event("/meshdiff rerun")).status_code == 202
    name, kwargs = rec.calls[-1]
    assert name == TASK_COMMAND and kwargs["command"] == "rerun" and kwargs["user"] == "alice" and kwargs["pr"] == 5
    assert post(client, "issue_comment", comment_event("/meshdiff rerunn")).status_code == 202
    assert rec.calls[-1][1]["command"] == "unknown" and rec.calls[-1][1]["suggestion"] == "/meshdiff rerun"
    n = len(rec.calls)
    for body, kw in [("LGTM", {}), ("/meshdiff rerun", {"sender_type": "Bot"}), ("/meshdiff rerun", {"pr": False})]:
        assert post(client, "issue_comment", comment_event(body, **kw)).status_code == 200
    assert len(rec.calls) == n


def test_installation_suspend_and_unsuspend(web):
    client, rec, state = web
    payload = adapt_event(wh.load_example("installation", "suspend"), repo_full_name=REPO, installation_id=77)
    assert post(client, "installation", payload).status_code == 200
    assert state.suspended(77)
    payload = adapt_event(wh.load_example("installation", "unsuspend"), repo_full_name=REPO, installation_id=77)
    assert post(client, "installation", payload).status_code == 200
    assert not state.suspended(77) and rec.calls == []


def _access_event(event, action, key):
    """A real example with its repository list pointed at REPO (only repository names changed)."""
    payload = adapt_event(wh.load_example(event, action), repo_full_name=REPO, installation_id=77)
    owner, name = REPO.split("/")
    [repo] = payload[key]
    repo.update(full_name=REPO, name=name)
    return payload


def test_repository_removed_drops_its_events_until_added_again(web):
    client, rec, state = web
    resp = post(client, "installation_repositories",
                _access_event("installation_repositories", "removed", "repositories_removed"))
    assert resp.status_code == 200 and rec.calls == []
    assert state.repo_removed(77, REPO) and state.blocked(77, REPO) == "repository removed from the installation"
    assert not state.repo_removed(78, REPO) and not state.blocked(77, "octo-org/other")
    assert 0 < state.r.ttl(f"meshdiff:removed:77:{REPO}") <= 24 * 3600
    resp = post(client, "pull_request", pr_event("synchronize"))
    assert resp.status_code == 200 and resp.get_json() == {"ignored": "repository removed from the installation"}
    assert post(client, "issue_comment", comment_event("/meshdiff rerun")).status_code == 200
    assert rec.calls == [] and state.generation(REPO, 5, HEAD) is None
    resp = post(client, "installation_repositories",
                _access_event("installation_repositories", "added", "repositories_added"))
    assert resp.status_code == 200 and not state.repo_removed(77, REPO)
    assert post(client, "pull_request", pr_event("synchronize")).status_code == 202 and len(rec.calls) == 1


def test_installation_deleted_then_created(web):
    client, rec, state = web
    deleted = adapt_event(wh.load_example("installation", "deleted"), repo_full_name=REPO, installation_id=77)
    resp = post(client, "installation", deleted)
    assert resp.status_code == 200 and resp.get_json() == {"ignored": "installation deleted"}
    assert state.suspended(77) and state.blocked(77, REPO) == "installation suspended or deleted"
    assert post(client, "pull_request", pr_event("opened")).status_code == 200 and rec.calls == []
    state.set_repo_removed(77, REPO, True)  # removed before: a new installation lists it again
    resp = post(client, "installation", _access_event("installation", "created", "repositories"))
    assert resp.status_code == 200 and resp.get_json() == {"ignored": "installation created"}
    assert not state.suspended(77) and not state.repo_removed(77, REPO) and state.blocked(77, REPO) is None
    assert post(client, "pull_request", pr_event("opened")).status_code == 202 and len(rec.calls) == 1


def test_redis_down_gives_a_fast_503_and_allows_redelivery(web, redis_url):
    client, rec, state = web
    down = create_app(settings_for(redis_url="redis://127.0.0.1:1/0")).test_client()  # the web's own pool
    payload = pr_event("opened")
    t = time.monotonic()
    resp = post(down, "pull_request", payload, delivery="d-9")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "10"
    assert time.monotonic() - t < 5
    assert post(client, "pull_request", payload, delivery="d-9").status_code == 202  # redelivery works
    assert len(rec.calls) == 1


def test_healthz_warns_of_a_redis_without_persistence_and_of_no_worker(web, redis_url):
    client, _, state = web
    resp = client.get("/healthz")
    body = resp.get_json()
    assert resp.status_code == 200 and body["status"] == "degraded" and body["workers"] == []
    [aof, workers] = body["warnings"]  # the tests' redis-server runs with --appendonly no
    assert "appendonly yes" in aof and "no worker" in workers and body["sandbox"] == {}
    state.heartbeat("worker@test", "abc")
    body = client.get("/healthz").get_json()
    assert body["workers"] == ["worker@test"] and body["warnings"] == [aof]
    if TEST_REDIS_OVERRIDE:  # not our own server: leave its configuration alone
        return
    state.r.config_set("appendonly", "yes")
    try:
        fresh = create_app(settings_for(), state=state).test_client()  # (the check is cached a minute)
        assert fresh.get("/healthz").get_json() == {"redis": "ok", "workers": ["worker@test"], "sandbox": {},
                                                   "warnings": [], "status": "ok"}
        # a worker that cannot fence PR code in fails every job: the App is degraded, and says why
        lacking = {"ok": False, "reason": "bubblewrap (bwrap) is not installed", "policy": "required"}
        state.heartbeat("worker@test", "abc", lacking)
        body = fresh.get("/healthz").get_json()
        assert body["status"] == "degraded" and body["sandbox"] == {"worker@test": lacking}
        assert "bubblewrap (bwrap) is not installed" in body["warnings"][0]
        state.heartbeat("worker@test", "abc", {**lacking, "policy": "off"})  # turned off by the operator (unsafe)
        assert fresh.get("/healthz").get_json()["status"] == "ok"
        state.heartbeat("worker@test", "abc", {"ok": True, "reason": "bubblewrap; uid 65534", "policy": "required"})
        assert fresh.get("/healthz").get_json()["status"] == "ok"
    finally:
        state.r.config_set("appendonly", "no")


def test_healthz_redis_down():
    app = create_app(settings_for(redis_url="redis://127.0.0.1:1/0"))
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503 and resp.get_json()["status"] == "down"


@pytest.mark.parametrize("mangle, reason", [
    (lambda p: p.update(installation="77"), "`installation` must be an object, not a string"),
    (lambda p: p.update(action=["opened"]), "`action` must be a string, not an array"),
    (lambda p: p.pop("number"), "`number` is missing"),
    (lambda p: p.update(number=-5), "number is not a positive integer up to 2147483647: -5"),
    (lambda p: p.update(number=2**70), "number is not a positive integer up to 2147483647"),
    (lambda p: p.update(number=True), "`number` must be an integer, not a boolean"),
    (lambda p: p["repository"].update(full_name=["o", "r"]), "`repository.full_name` must be a string, not an array"),
    (lambda p: p["repository"].update(full_name="../../etc/passwd"), "repository.full_name is not an `owner/name`"),
    (lambda p: p["pull_request"]["head"].update(sha="12"), "pull_request.head.sha is not a commit sha"),
    (lambda p: p["pull_request"]["head"].update(sha="G" * 40), "pull_request.head.sha is not a commit sha"),
    (lambda p: p["installation"].update(id=0), "installation.id is not a positive integer"),
    (lambda p: p["pull_request"].update(draft="yes"), "`pull_request.draft` must be a boolean, not a string"),
])
def test_a_signed_payload_of_the_wrong_shape_is_400_with_the_reason(web, mangle, reason):
    client, rec, state = web
    payload = pr_event("opened")
    mangle(payload)
    resp = post(client, "pull_request", payload)
    assert resp.status_code == 400 and reason in resp.get_json()["error"], resp.get_json()
    assert rec.calls == [] and state.r.dbsize() == 0  # nothing queued, not even the delivery recorded


@pytest.mark.parametrize("event, payload, reason", [
    ("check_run", {"action": "rerequested", "check_run": {"name": "meshdiff / impact", "head_sha": "1" * 40,
                                                          "pull_requests": [{"number": "5"}]},
                   "installation": {"id": 77}, "repository": {"full_name": REPO}},
     "`check_run.pull_requests[0].number` must be an integer"),
    ("issue_comment", {"action": "created", "issue": {"number": 5, "pull_request": {"url": "u"}},
                       "comment": {"id": 1, "body": "/meshdiff rerun", "user": {"login": "a b"}},
                       "installation": {"id": 77}, "repository": {"full_name": REPO}},
     "`comment.user.login` is not a GitHub login"),
    ("installation_repositories", {"action": "removed", "installation": {"id": 77},
                                   "repositories_removed": [{"full_name": 5}]},
     "`repositories_removed[0].full_name` must be a string"),
])
def test_other_events_of_the_wrong_shape(web, event, payload, reason):
    client, rec, state = web
    resp = post(client, event, payload)
    assert resp.status_code == 400 and reason in resp.get_json()["error"], resp.get_json()
    assert rec.calls == [] and state.r.dbsize() == 0


@pytest.mark.parametrize("body, reason", [
    (b"[" * 1000 + b"]" * 1000, "nested too deeply"),
    (b"[1, 2]", "not a JSON object"),
    (b"\xff\xfe{}", "not JSON"),
    (b'{"action": "opened", "number": 1e400}', None),
])
def test_bodies_that_are_not_payloads_are_400(web, body, reason):
    client, rec, _ = web
    hdrs = wh.headers("pull_request", body, TEST_SECRET)
    resp = client.post("/webhooks/github", data=body, headers=hdrs)
    assert resp.status_code == 400 and (reason is None or reason in resp.get_json()["error"])
    assert rec.calls == []


def test_a_process_whose_body_slots_are_taken_answers_503_with_retry_after_at_once(web):
    client, rec, state = web
    app = client.application
    gate = app.extensions["meshdiff"].gate
    taken = 0
    while gate.acquire(blocking=False):  # every slot taken by clients sending their body slowly
        taken += 1
    try:
        t = time.monotonic()
        resp = post(client, "pull_request", pr_event("opened"))
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "10" and time.monotonic() - t < 1
        assert taken == app.extensions["meshdiff"].max_inflight and rec.calls == []
    finally:
        for _ in range(taken):
            gate.release()
    assert post(client, "pull_request", pr_event("opened")).status_code == 202
