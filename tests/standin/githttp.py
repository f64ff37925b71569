"""git smart HTTP on ``/{owner}/{repo}.git``: Basic ``x-access-token`` auth, upload-pack
only, served by ``git http-backend`` (see ``gitrepo.GitStore.http_backend``)."""

from __future__ import annotations

import base64
import re
import time

from werkzeug.wrappers import Request, Response

from .model import PERMISSION_LEVELS, _now

_GIT_PATH = re.compile(r"^/(?P<owner>[A-Za-z0-9_.-]+)/(?P<repo>[A-Za-z0-9_.-]+?)(?:\.git)?/"
                       r"(?P<rest>info/refs|git-upload-pack|git-receive-pack)$")


class GitHttpMixin:
    """The git endpoints (``info/refs``, ``git-upload-pack``)."""

    def _git_http(self, req: Request) -> Response:
        m = _GIT_PATH.match(req.path)
        owner, name, rest = m.group("owner"), m.group("repo"), m.group("rest")
        full_name = f"{owner}/{name}"
        rec = self._record({"kind": "git", "method": req.method, "path": req.path, "full_path": req.path,
                            "query": dict(req.args), "json": None, "status": None, "auth": "none",
                            "operation": f"git/{rest}", "injected": False,
                            "git_protocol": req.headers.get("Git-Protocol"),
                            "user_agent": req.headers.get("User-Agent"), "time": time.time()})

        def done(resp: Response) -> Response:
            rec["status"] = resp.status_code
            return resp

        failure = self._take_failure(req.method, req.path, req.path)
        if failure is not None:
            rec["injected"] = True
            return done(self._failure_response(failure, None))
        service = req.args.get("service") if rest == "info/refs" else rest
        if service != "git-upload-pack":
            return done(Response("Service not enabled\n" if service == "git-receive-pack" else "Not Found\n",
                                 status=403 if service == "git-receive-pack" else 404, content_type="text/plain"))
        challenge = {"WWW-Authenticate": 'Basic realm="GitHub"'}
        header = req.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return done(Response("Unauthorized\n", status=401, headers=challenge, content_type="text/plain"))
        rec["auth"] = "basic"
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except Exception:
            user, password = "", ""
        with self._lock:
            tok = self._tokens.get(password)
            ok = (user == "x-access-token" and tok is not None and not tok.revoked and tok.expires_at > _now())
            repo = self.repos.get(full_name)
            if ok:
                rec["installation_id"] = tok.installation_id
        if not ok:
            if tok is not None and user != "x-access-token":
                self._violation(f"git {rest} {full_name}: Basic user must be 'x-access-token', got {user!r}")
            return done(Response("remote: Invalid username or token. Password authentication is not supported "
                                 "for Git operations.\n", status=401, headers=challenge, content_type="text/plain"))
        if repo is None or repo.installation_id != tok.installation_id or (
                tok.repo_ids is not None and repo.id not in tok.repo_ids):
            return done(Response("Repository not found.\n", status=404, content_type="text/plain"))
        if PERMISSION_LEVELS.get(tok.permissions.get("contents", "none"), 0) < 1:
            return done(Response("remote: Permission to %s denied.\n" % full_name, status=403,
                                 content_type="text/plain"))
        body = req.get_data()
        status, headers, out = self.git.http_backend(
            path_info=f"/{owner}/{name}.git/{rest}", method=req.method,
            query=req.query_string.decode(), content_type=req.headers.get("Content-Type"), body=body,
            git_protocol=req.headers.get("Git-Protocol"), content_encoding=req.headers.get("Content-Encoding"),
            remote_user="x-access-token")
        resp = Response(out, status=status)
        for k, v in headers:
            resp.headers[k] = v
        return done(resp)
