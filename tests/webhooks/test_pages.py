"""GET /pages/<token>: the stored impact page, its headers, and what an unknown token gets."""
from bot.page import store
from tests.app_fixtures import fake_report, redis_state, redis_url, settings_for  # noqa: F401
from webhooks.app import create_app


def test_serves_a_stored_page_with_its_csp_and_forgets_it_when_expired(redis_state):
    app = create_app(settings_for(), state=redis_state)
    url = store.store_page(redis_state.r, "octo-org/shop-dbt#7@" + "b" * 40 + "#1", [fake_report()], secret="k",
                           env={"MESHDIFF_PUBLIC_URL": "https://meshdiff.example.com/", "MESHDIFF_PAGE_TTL_DAYS": "2"})
    assert url.startswith("https://meshdiff.example.com/pages/")
    token = url.rsplit("/", 1)[1]
    assert 2 * 86_400 - 5 <= redis_state.r.ttl(store.PREFIX + token) <= 2 * 86_400  # expires with the report
    client = app.test_client()
    answer = client.get(f"/pages/{token}")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    assert "script-src 'sha256-" in answer.headers["Content-Security-Policy"]
    assert answer.headers["Referrer-Policy"] == "no-referrer" and answer.headers["X-Content-Type-Options"] == "nosniff"
    assert b"meshdiff-data" in answer.data and b"model.finance.revenue" in answer.data
    redis_state.r.delete(store.PREFIX + token)
    gone = client.get(f"/pages/{token}")
    assert gone.status_code == 404 and b"/meshdiff rerun" in gone.data
    assert client.get("/pages/..%2f..%2fetc").status_code == 404
