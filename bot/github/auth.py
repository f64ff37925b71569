"""GitHub App authentication: the App's JWT (pyjwt, RS256) and installation tokens (PyGithub).

Installation tokens are minted inside the worker from the installation id (the queue only ever
carries ids, never a token) and cached in this process until shortly before they expire
(GitHub gives them one hour). Tokens are opaque: never parsed, length-checked or logged.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import jwt

#: GitHub: "set iat 60 seconds in the past"; "exp no more than 10 minutes into the future"
JWT_ISSUED_AT_SKEW_S = 60
JWT_LIFETIME_S = 540
#: a cached installation token is refreshed when fewer than this many seconds remain
TOKEN_REFRESH_MARGIN_S = 300


def make_app_jwt(app_id: str | int, private_key_pem: str, *, now: float | None = None) -> str:
    """The App's JWT: RS256, ``iat`` 60 s in the past, ``exp`` 9 min ahead (≤ 10 min), ``iss`` = App id."""
    now = int(time.time() if now is None else now)
    claims = {"iat": now - JWT_ISSUED_AT_SKEW_S, "exp": now + JWT_LIFETIME_S, "iss": str(app_id)}
    return jwt.encode(claims, private_key_pem, algorithm="RS256")


@dataclass
class InstallationToken:
    token: str = field(repr=False)
    expires_at: float

    def fresh(self, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self.expires_at - now > TOKEN_REFRESH_MARGIN_S


def _epoch(value) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return time.time() + 3600  # GitHub's documented lifetime when the answer carries none


class AppAuthenticator:
    """Mints and caches installation tokens for one App.

    ``integration_factory(jwt)`` returns an object with ``get_access_token(installation_id)`` and
    ``get_app()`` (a PyGithub :class:`github.GithubIntegration`); injectable for tests.
    """

    def __init__(
        self,
        app_id: str | int,
        private_key_pem: str,
        api_url: str,
        *,
        integration_factory: Callable[[str], object] | None = None,
        clock: Callable[[], float] = time.time,  # for the token cache only
    ) -> None:
        self.app_id = str(app_id)
        self._key = private_key_pem
        self.api_url = api_url.rstrip("/")
        self._factory = integration_factory or self._default_factory
        self._clock = clock
        self._tokens: dict[int, InstallationToken] = {}
        self._lock = threading.Lock()
        self._slug: str | None = None

    def __repr__(self) -> str:  # never show the key
        return f"AppAuthenticator(app_id={self.app_id}, api_url={self.api_url!r})"

    def _default_factory(self, app_jwt: str):
        from github import Auth, GithubIntegration

        from bot.github.client import make_retry

        class _PyJwtAppAuth(Auth.AppAuth):
            """PyGithub's AppAuth, signing with our own pyjwt JWT (one implementation of the claims)."""

            def create_jwt(self, expiration: int | None = None) -> str:
                return app_jwt

        auth = _PyJwtAppAuth(self.app_id, sign_func=lambda payload: app_jwt)
        return GithubIntegration(auth=auth, base_url=self.api_url, retry=make_retry(), timeout=30)

    def app_jwt(self) -> str:
        return make_app_jwt(self.app_id, self._key)

    def integration(self):
        return self._factory(self.app_jwt())

    def installation_token(self, installation_id: int) -> str:
        """A token for ``installation_id``, minted (``POST /app/installations/{id}/access_tokens``)
        or taken from the cache while it has more than five minutes left."""
        installation_id = int(installation_id)
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached and cached.fresh(self._clock()):
                return cached.token
        auth = self.integration().get_access_token(installation_id)
        token = InstallationToken(auth.token, _epoch(getattr(auth, "expires_at", None)))
        with self._lock:
            self._tokens[installation_id] = token
        return token.token

    def forget(self, installation_id: int) -> None:
        """Drop a cached token (after a 401, or when the installation is deleted/suspended)."""
        with self._lock:
            self._tokens.pop(int(installation_id), None)

    def app_slug(self) -> str:
        """The App's slug (``GET /app``), cached; comments by the App are authored by ``{slug}[bot]``."""
        if self._slug is None:
            self._slug = self.integration().get_app().slug
        return self._slug

    def bot_login(self) -> str:
        return f"{self.app_slug()}[bot]"
