import time

import jwt
import pytest

from bot.github.auth import JWT_ISSUED_AT_SKEW_S, AppAuthenticator, make_app_jwt
from tests.app_fixtures import standin_github, standin_openapi  # noqa: F401


def test_jwt_claims(standin_github):
    gh = standin_github
    now = 1_700_000_000
    token = make_app_jwt(gh.app_id, gh.private_key_pem, now=now)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(token, gh.public_key_pem, algorithms=["RS256"], options={"verify_exp": False,
                                                                                  "verify_iat": False})
    assert claims["iss"] == str(gh.app_id)
    assert claims["iat"] == now - JWT_ISSUED_AT_SKEW_S
    assert 0 < claims["exp"] - now <= 600 and claims["exp"] - claims["iat"] <= 660


def test_installation_token_minted_and_cached(standin_github):
    gh = standin_github
    gh.add_installation(21, "octo-org")
    auth = AppAuthenticator(gh.app_id, gh.private_key_pem, gh.api_url)
    assert "BEGIN" not in repr(auth)
    first = auth.installation_token(21)
    assert auth.installation_token(21) == first
    assert len(gh.requests_for("POST", r"/app/installations/21/access_tokens")) == 1
    auth.forget(21)
    assert auth.installation_token(21) != first
    assert len(gh.requests_for("POST", r"/app/installations/21/access_tokens")) == 2
    assert auth.app_slug() == gh.app_slug and auth.bot_login() == f"{gh.app_slug}[bot]"


def test_token_refreshed_near_expiry(standin_github):
    gh = standin_github
    gh.add_installation(22, "octo-org")
    clock = [time.time()]
    auth = AppAuthenticator(gh.app_id, gh.private_key_pem, gh.api_url, clock=lambda: clock[0])
    first = auth.installation_token(22)
    clock[0] += 3600 - 200  # within five minutes of the one-hour expiry
    assert auth.installation_token(22) != first


def test_unknown_installation_fails_clearly(standin_github):
    from github import GithubException

    auth = AppAuthenticator(standin_github.app_id, standin_github.private_key_pem, standin_github.api_url)
    with pytest.raises(GithubException) as err:
        auth.installation_token(999)
    assert err.value.status == 404
