"""Authentication and authorization like GitHub's: App JWTs (RS256, iat/exp/iss rules),
installation tokens (repositories and permissions), per-operation requirements."""

from __future__ import annotations

import base64
import time

import jwt as pyjwt
from werkzeug.wrappers import Request

from . import openapi
from .model import PERMISSION_LEVELS, Caller, HTTPError, _now

JWT_MAX_LIFETIME = 600  # seconds: exp - iat, and exp - now
JWT_CLOCK_SKEW = 60  # seconds of tolerated clock drift for iat in the future / exp in the past

#: Which installation permission each operation needs: (alternatives, level).
REQUIRED_PERMISSION: dict[str, tuple[tuple[str, ...], str]] = {
    "repos/get": (("metadata",), "read"),
    "pulls/get": (("pull_requests",), "read"),
    "pulls/list": (("pull_requests",), "read"),
    "pulls/list-files": (("pull_requests",), "read"),
    "pulls/request-reviewers": (("pull_requests",), "write"),
    "repos/get-content": (("contents",), "read"),
    "checks/create": (("checks",), "write"),
    "checks/update": (("checks",), "write"),
    "checks/get": (("checks",), "read"),
    "checks/list-for-ref": (("checks",), "read"),
    "issues/get": (("issues", "pull_requests"), "read"),
    "issues/list-comments": (("issues", "pull_requests"), "read"),
    "issues/get-comment": (("issues", "pull_requests"), "read"),
    "issues/create-comment": (("issues", "pull_requests"), "write"),
    "issues/update-comment": (("issues", "pull_requests"), "write"),
    "reactions/create-for-issue-comment": (("issues", "pull_requests"), "write"),
    "repos/get-collaborator-permission-level": (("metadata",), "read"),
}

JWT_OPERATIONS = {
    "apps/create-installation-access-token",
    "apps/get-authenticated",
    "apps/get-repo-installation",
    "apps/get-installation",
    "apps/list-installations",
}
ANY_AUTH_OPERATIONS = {"rate-limit/get"}
TOKEN_OPERATIONS_WITHOUT_REPO = {"apps/revoke-installation-access-token", "apps/list-repos-accessible-to-installation"}


class AuthMixin:
    """Who is calling (``_authenticate``) and may they (``_authorize``)."""

    def _authenticate(self, req: Request) -> Caller:
        header = req.headers.get("Authorization")
        if not header:
            return Caller("none")
        scheme, _, cred = header.partition(" ")
        scheme, cred = scheme.lower(), cred.strip()
        if scheme == "basic":
            try:
                user, _, pw = base64.b64decode(cred).decode().partition(":")
            except Exception:
                return Caller("invalid", error="Bad credentials")
            cred, scheme = pw, "token"
        if scheme not in ("bearer", "token"):
            return Caller("invalid", error="Bad credentials")
        if cred.count(".") == 2 and cred.startswith("eyJ"):
            err = self._verify_jwt(cred)
            return Caller("invalid", error=err) if err else Caller("jwt")
        with self._lock:
            tok = self._tokens.get(cred)
        if tok is None or tok.revoked:
            return Caller("invalid", error="Bad credentials")
        if tok.expires_at <= _now():
            return Caller("invalid", token=None, error="Bad credentials")
        return Caller("installation", token=tok)

    def _verify_jwt(self, token: str) -> str | None:
        try:
            header = pyjwt.get_unverified_header(token)
        except pyjwt.PyJWTError:
            return "A JSON web token could not be decoded"
        if header.get("alg") != "RS256":
            return "A JSON web token could not be decoded"
        try:
            claims = pyjwt.decode(token, self._public_key, algorithms=["RS256"],
                                  options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                           "require": ["iat", "exp", "iss"]})
        except pyjwt.InvalidSignatureError:
            return "A JSON web token could not be decoded"
        except pyjwt.PyJWTError as e:
            return f"A JSON web token could not be decoded ({e})"
        iat, exp, iss = claims.get("iat"), claims.get("exp"), claims.get("iss")
        now = time.time()
        if not isinstance(iat, (int, float)) or iat > now + JWT_CLOCK_SKEW:
            return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
        if not isinstance(exp, (int, float)) or exp <= now - JWT_CLOCK_SKEW:
            return ("'Expiration time' claim ('exp') must be a numeric value representing the future time at "
                    "which the assertion expires")
        if exp - iat > JWT_MAX_LIFETIME or exp - now > JWT_MAX_LIFETIME + JWT_CLOCK_SKEW:
            return "'Expiration time' claim ('exp') is too far in the future"
        if str(iss) not in (str(self.app_id), self.client_id):
            return "'Issuer' claim ('iss') must be the app's id or client id"
        return None

    def _authorize(self, route: openapi.Route, params: dict, caller: Caller) -> None:
        op = route.operation_id
        if caller.kind == "none":
            raise HTTPError(401, "Requires authentication")
        if caller.kind == "invalid":
            if caller.error and caller.error != "Bad credentials":
                self._violation(f"{op}: JWT refused: {caller.error}")
            raise HTTPError(401, caller.error or "Bad credentials")
        if op in ANY_AUTH_OPERATIONS:
            return
        if op in JWT_OPERATIONS:
            if caller.kind != "jwt":
                self._violation(f"{op}: needs a JWT (Authorization: Bearer <jwt>), got an installation token")
                raise HTTPError(401, "A JSON web token could not be decoded")
            return
        if caller.kind == "jwt":
            self._violation(f"{op}: called with the App JWT; this endpoint needs an installation token")
            raise HTTPError(401, "Bad credentials")
        tok = caller.token
        assert tok is not None
        if op in TOKEN_OPERATIONS_WITHOUT_REPO:
            return
        full_name = f"{params['owner']}/{params['repo']}"
        with self._lock:
            repo = self.repos.get(full_name)
            if repo is None or repo.installation_id != tok.installation_id or (
                    tok.repo_ids is not None and repo.id not in tok.repo_ids):
                raise HTTPError(404, "Not Found")
            need = REQUIRED_PERMISSION.get(op)
        if need:
            names, level = need
            if not any(PERMISSION_LEVELS.get(tok.permissions.get(n, "none"), 0) >= PERMISSION_LEVELS[level]
                       for n in names):
                raise HTTPError(403, "Resource not accessible by integration",
                                headers={"X-Accepted-GitHub-Permissions": ",".join(f"{n}={level}" for n in names)})
