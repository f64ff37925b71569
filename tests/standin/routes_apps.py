"""REST handlers: the App and its installations (JWT endpoints, installation tokens,
installation repositories) and ``GET /rate_limit``."""

from __future__ import annotations

import secrets
import time

from . import openapi
from .model import PERMISSION_LEVELS, RATE_LIMIT, TOKEN_LIFETIME, HTTPError, Token, _iso, _now


class AppRoutesMixin:
    """``apps/*`` and ``rate-limit/get`` operations."""

    def _op_apps_create_installation_access_token(self, req, params, body, caller):
        inst_id = int(params["installation_id"])
        with self._lock:
            inst = self.installations.get(inst_id)
            if inst is None:
                raise HTTPError(404, "Not Found")
            perms = dict(inst.permissions)
            if body.get("permissions"):
                for k, v in body["permissions"].items():
                    if PERMISSION_LEVELS.get(v, 99) > PERMISSION_LEVELS.get(inst.permissions.get(k, "none"), 0):
                        raise HTTPError(422, "The permissions requested are not granted to this installation.")
                perms = dict(body["permissions"])
                perms.setdefault("metadata", "read")
            inst_repos = {r.name: r for r in self.repos.values() if r.installation_id == inst_id}
            repo_ids: set[int] | None = None
            if "repositories" in body or "repository_ids" in body:
                repo_ids = set()
                for name in body.get("repositories") or []:
                    if name not in inst_repos:
                        raise HTTPError(422, "There is at least one repository that does not exist or is not "
                                             "accessible to the parent installation.")
                    repo_ids.add(inst_repos[name].id)
                by_id = {r.id: r for r in inst_repos.values()}
                for rid in body.get("repository_ids") or []:
                    if rid not in by_id:
                        raise HTTPError(422, "There is at least one repository that does not exist or is not "
                                             "accessible to the parent installation.")
                    repo_ids.add(rid)
                if len(repo_ids) > 500:
                    raise HTTPError(422, "Too many repositories (maximum is 500)")
            token = "ghs_" + secrets.token_hex(18)
            tok = Token(token, inst_id, _now() + TOKEN_LIFETIME, perms,
                        frozenset(repo_ids) if repo_ids is not None else None)
            self._tokens[token] = tok
            obj = openapi.example("installation-token")
            obj.update(token=token, expires_at=_iso(tok.expires_at), permissions=perms,
                       repository_selection="selected")
            if repo_ids is not None:
                obj["repositories"] = [self._repo_obj(r, obj["repositories"][0])
                                       for r in inst_repos.values() if r.id in repo_ids]
            else:
                obj.pop("repositories", None)
        return 201, obj, None

    def _op_apps_get_authenticated(self, req, params, body, caller):
        with self._lock:
            return 200, self._integration(), None

    def _op_apps_get_installation(self, req, params, body, caller):
        with self._lock:
            inst = self.installations.get(int(params["installation_id"]))
            if inst is None:
                raise HTTPError(404, "Not Found")
            return 200, self._installation_obj(inst), None

    def _op_apps_list_installations(self, req, params, body, caller):
        with self._lock:
            objs = [self._installation_obj(inst) for _, inst in sorted(self.installations.items())]
        for obj in objs:  # this operation's schema has `account: allOf [simple-user, enterprise]` (a quirk
            acct = obj["account"]  # of the description): the enterprise half's required keys are filled in
            acct.setdefault("name", acct["login"])
            acct.setdefault("slug", acct["login"].lower())
            acct.setdefault("created_at", obj["created_at"])
            acct.setdefault("updated_at", obj["updated_at"])
        page, link = self._paginate(req, objs)
        return 200, page, link

    def _op_apps_get_repo_installation(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            if repo.installation_id is None:
                raise HTTPError(404, "Not Found")
            return 200, self._installation_obj(self.installations[repo.installation_id]), None

    def _op_apps_revoke_installation_access_token(self, req, params, body, caller):
        with self._lock:
            caller.token.revoked = True
        return 204, None, None

    def _op_apps_list_repos_accessible_to_installation(self, req, params, body, caller):
        tok = caller.token
        with self._lock:
            repos = [r for r in sorted(self.repos.values(), key=lambda r: r.id)
                     if r.installation_id == tok.installation_id and (tok.repo_ids is None or r.id in tok.repo_ids)]
            tmpl = openapi.example("installation-token")["repositories"][0]
            objs = [self._repo_obj(r, tmpl) for r in repos]
        page, link = self._paginate(req, objs)
        return 200, {"total_count": len(objs), "repository_selection": "selected", "repositories": page}, link

    def _op_rate_limit_get(self, req, params, body, caller):
        obj = openapi.example("rate-limit-overview")
        reset = int(time.time()) // 3600 * 3600 + 3600
        for res in list(obj["resources"].values()) + [obj["rate"]]:
            res["reset"] = reset
        core = obj["resources"]["core"]
        core.update(limit=RATE_LIMIT, used=0, remaining=RATE_LIMIT)
        obj["rate"] = dict(core)
        return 200, obj, None
