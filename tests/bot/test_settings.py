import pytest

from bot.settings import DEFAULT_API_URL, DEFAULT_REDIS_URL, DEFAULT_WEB_URL, SettingsError, load_settings


def test_defaults():
    s = load_settings({})
    assert (s.redis_url, s.github_api_url, s.github_url) == (DEFAULT_REDIS_URL, DEFAULT_API_URL, DEFAULT_WEB_URL)
    assert DEFAULT_REDIS_URL == "redis://127.0.0.1:6379/0"
    with pytest.raises(SettingsError, match="MESHDIFF_WEBHOOK_SECRET"):
        s.require_webhook_secret()
    with pytest.raises(SettingsError, match="MESHDIFF_APP_ID"):
        s.require_app_credentials()
    assert s.visibility_timeout_s > s.hard_time_limit_s > s.job_timeout_s


def test_reads_everything(tmp_path):
    pem = "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n"
    (tmp_path / "k.pem").write_text(pem)
    s = load_settings({"MESHDIFF_APP_ID": "42", "MESHDIFF_PRIVATE_KEY_PATH": str(tmp_path / "k.pem"),
                       "MESHDIFF_WEBHOOK_SECRET": "s", "MESHDIFF_REDIS_URL": "redis://r:1/2",
                       "MESHDIFF_GITHUB_API_URL": "https://ghe.example/api/v3/",
                       "MESHDIFF_GITHUB_URL": "https://ghe.example/", "MESHDIFF_JOB_TIMEOUT_S": "60"})
    s.require_app_credentials()
    s.require_webhook_secret()
    assert s.private_key == pem and s.github_api_url == "https://ghe.example/api/v3"
    assert s.github_url == "https://ghe.example" and s.job_timeout_s == 60
    assert "abc" not in repr(s) and "'s'" not in repr(s)  # secrets never in repr
    inline = load_settings({"MESHDIFF_PRIVATE_KEY": pem.replace("\n", "\\n")})
    assert inline.private_key.strip() == pem.strip()


def test_bad_values():
    with pytest.raises(SettingsError, match="MESHDIFF_PRIVATE_KEY_PATH"):
        load_settings({"MESHDIFF_PRIVATE_KEY_PATH": "/nonexistent/key.pem"})
    with pytest.raises(SettingsError, match="MESHDIFF_JOB_TIMEOUT_S"):
        load_settings({"MESHDIFF_JOB_TIMEOUT_S": "soon"})
