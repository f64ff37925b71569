"""REST plumbing: request log, OpenAPI route matching and request validation, failure
injection, dispatch to the ``_op_*`` handlers, ETag/rate-limit headers, response
validation, pagination."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from typing import Any
from urllib.parse import quote, unquote, urlencode

from werkzeug.wrappers import Request, Response

from . import openapi
from .model import RATE_LIMIT, Failure, HTTPError, Repo


class RestMixin:
    """The ``/api/v3`` front: everything around the per-operation handlers."""

    def _record(self, rec: dict) -> dict:
        with self._lock:
            self.requests.append(rec)
        return rec

    def _violation(self, msg: str) -> None:
        with self._lock:
            self.violations.append(msg)

    def _take_failure(self, method: str, full_path: str, rel_path: str) -> Failure | None:
        with self._lock:
            for f in self._failures:
                if f.method not in ("*", method) or f.times <= 0:
                    continue
                if f.regex.search(full_path) or f.regex.search(rel_path):
                    f.times -= 1
                    if f.times <= 0:
                        self._failures.remove(f)
                    return f
        return None

    def _failure_response(self, f: Failure, route: openapi.Route | None) -> Response:
        body = f.body
        if body is None:
            docs = route.docs_url if route else "https://docs.github.com/rest"
            if f.status in (403, 429):
                body = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you "
                                   "try again. If you reach out to GitHub Support for help, please include the "
                                   f"request ID {uuid.uuid4().hex[:8].upper()}.",
                        "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                                             "#about-secondary-rate-limits",
                        "status": str(f.status)}
            elif f.status == 422:
                body = {"message": "Validation Failed", "errors": [{"resource": "Unknown", "code": "custom",
                                                                     "message": "injected by fail_next"}],
                        "documentation_url": docs, "status": "422"}
            elif f.status >= 500:
                body = {"message": {502: "Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}
                        .get(f.status, "Server Error"), "status": str(f.status)}
            else:
                body = {"message": "injected failure", "documentation_url": docs, "status": str(f.status)}
        resp = _json_response(f.status, body) if not isinstance(body, (str, bytes)) else Response(
            body, status=f.status, content_type="text/html; charset=utf-8")
        for k, v in f.headers.items():
            resp.headers[k] = v
        return resp

    def _api(self, req: Request) -> Response:
        full_path = req.path
        rel = full_path[len(openapi.API_PREFIX):] or "/"
        raw = req.get_data(cache=True)
        json_body = None
        json_error = None
        if raw:
            try:
                json_body = json.loads(raw)
            except ValueError as e:
                json_error = str(e)
        rec = self._record({
            "kind": "api",
            "method": req.method,
            "path": rel,
            "full_path": full_path,
            "query": dict(req.args),
            "json": json_body,
            "status": None,
            "auth": None,
            "operation": None,
            "injected": False,
            "api_version": req.headers.get("X-GitHub-Api-Version"),
            "user_agent": req.headers.get("User-Agent"),
            "time": time.time(),
        })
        caller = self._authenticate(req)
        rec["auth"] = caller.kind
        if caller.token is not None:
            rec["installation_id"] = caller.token.installation_id

        # match on the raw (still percent-encoded) path: `commits/feature%2Forders/check-runs`
        # is one `{ref}` segment although werkzeug decodes req.path to `feature/orders`
        raw_path = (req.environ.get("RAW_URI") or req.environ.get("REQUEST_URI") or quote(full_path)).split("?", 1)[0]
        if "://" in raw_path:  # absolute-form request target
            raw_path = "/" + raw_path.split("://", 1)[1].split("/", 1)[-1]
        raw_rel = raw_path[len(openapi.API_PREFIX):] if raw_path.startswith(openapi.API_PREFIX) else rel
        route, params, other_method = openapi.match(req.method, raw_rel)
        params = {k: unquote(v) for k, v in params.items()}
        if route is None:
            hint = "" if other_method else self._spec_hint(req.method.lower(), rel)
            msg = f"{req.method} {rel}: {'method not allowed here' if other_method else 'no such route'}{hint}"
            self._violation(msg)
            resp = _json_response(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest",
                                        "status": "404"})
            return self._finish(rec, resp, req, None, {})
        rec["operation"] = route.operation_id

        if json_error is not None:
            self._violation(f"{route.operation_id}: body is not JSON: {json_error}")
            return self._finish(rec, _json_response(400, {"message": "Problems parsing JSON",
                                                          "documentation_url": route.docs_url, "status": "400"}),
                                req, route, params)
        version = req.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in openapi.SUPPORTED_API_VERSIONS:
            self._violation(f"{route.operation_id}: unsupported X-GitHub-Api-Version {version!r}")
            return self._finish(rec, _json_response(400, {"message": f"API version {version} is not supported.",
                                                          "documentation_url": route.docs_url, "status": "400"}),
                                req, route, params)

        check = openapi.validate_request(
            route, params, host_url=req.host_url, method=req.method, body=raw,
            content_type=req.headers.get("Content-Type"), query=req.args, headers=req.headers, json_body=json_body)
        if check.errors:
            for e in check.errors:
                self._violation(f"{req.method} {rel} ({route.operation_id}): {e}")
            body = {"message": check.message, "documentation_url": route.docs_url, "status": "422"}
            if check.github_errors:
                body["errors"] = check.github_errors
            return self._finish(rec, _json_response(422, body), req, route, params)

        failure = self._take_failure(req.method, full_path, rel)
        if failure is not None and not failure.after:
            rec["injected"] = True
            return self._finish(rec, self._failure_response(failure, route), req, route, params, validate=False)

        try:
            self._authorize(route, params, caller)
            handler = getattr(self, "_op_" + re.sub(r"\W", "_", route.operation_id))
            status, body, headers = handler(req, params, json_body or {}, caller)
            resp = _json_response(status, body) if not isinstance(body, Response) else body
            for k, v in (headers or {}).items():
                resp.headers[k] = v
        except HTTPError as e:
            if e.body.get("documentation_url") == "https://docs.github.com/rest":
                e.body["documentation_url"] = route.docs_url
            resp = _json_response(e.status, e.body)
            for k, v in e.headers.items():
                resp.headers[k] = v
        if failure is not None:  # after=True: processed, then the client sees the failure
            rec["injected"] = True
            return self._finish(rec, self._failure_response(failure, route), req, route, params, validate=False)
        return self._finish(rec, resp, req, route, params)

    def _spec_hint(self, method: str, rel: str) -> str:
        try:
            for m, p in openapi.full_paths():
                if m == method and openapi._compile(p).match(rel):
                    return (f" (GitHub has {method.upper()} {p}, but the stand-in does not serve it: "
                            "add it to tests/standin/openapi.py OPERATIONS and a handler)")
        except Exception:
            pass
        return " (not an operation of GitHub's REST API)"

    def _finish(self, rec: dict, resp: Response, req: Request, route, params, *, validate: bool = True) -> Response:
        resp.headers.setdefault("X-GitHub-Request-Id", uuid.uuid4().hex[:20].upper())
        resp.headers.setdefault("X-GitHub-Media-Type", "github.v3; format=json")
        resp.headers.setdefault("X-GitHub-Api-Version-Selected",
                                req.headers.get("X-GitHub-Api-Version") or "2022-11-28")
        if rec.get("auth") in ("jwt", "installation"):
            self._rate_headers(resp, rec)
        if req.method == "GET" and resp.status_code == 200 and resp.mimetype == "application/json":
            data = resp.get_data()
            etag = 'W/"' + hashlib.sha256(data).hexdigest()[:32] + '"'
            resp.headers["ETag"] = etag
            if etag in [t.strip() for t in (req.headers.get("If-None-Match") or "").split(",")]:
                rec["status"] = 304
                not_modified = Response(status=304)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-type", "content-length"):
                        not_modified.headers[k] = v
                return not_modified
        rec["status"] = resp.status_code
        if validate and self.validate_responses and route is not None and resp.mimetype == "application/json" \
                and resp.status_code < 300:
            errs = openapi.validate_response(
                route, params, host_url=req.host_url, method=req.method, query=req.args, headers=req.headers,
                status=resp.status_code, resp_headers=dict(resp.headers), data=resp.get_data(),
                content_type=resp.headers.get("Content-Type", "application/json"))
            if errs:
                with self._lock:
                    self.response_errors.extend(f"{route.operation_id} {resp.status_code}: {e}" for e in errs)
        return resp

    def _rate_headers(self, resp: Response, rec: dict) -> None:
        key = "app" if rec["auth"] == "jwt" else f"installation:{rec.get('installation_id')}"
        with self._lock:
            self._rate_used[key] = used = self._rate_used.get(key, 0) + 1
        reset = int(time.time()) // 3600 * 3600 + 3600
        resp.headers["X-RateLimit-Limit"] = str(RATE_LIMIT)
        resp.headers["X-RateLimit-Remaining"] = str(max(RATE_LIMIT - used, 0))
        resp.headers["X-RateLimit-Reset"] = str(reset)
        resp.headers["X-RateLimit-Used"] = str(used)
        resp.headers["X-RateLimit-Resource"] = "core"

    def _repo_for(self, params: dict) -> Repo:
        repo = self.repos.get(f"{params['owner']}/{params['repo']}")
        if repo is None:
            raise HTTPError(404, "Not Found")
        return repo

    def _paginate(self, req: Request, items: list) -> tuple[list, dict | None]:
        try:
            per_page = max(1, min(int(req.args.get("per_page", 30)), 100))
            page = max(1, int(req.args.get("page", 1)))
        except ValueError:
            raise HTTPError(422, "Invalid pagination parameters")
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        if last == 1 and page == 1:
            return chunk, None
        base = f"{self.web_url}{req.path}"

        def url(p: int) -> str:
            q = {k: v for k, v in req.args.items() if k not in ("page",)}
            q["per_page"] = str(per_page) if "per_page" in req.args else q.get("per_page")
            q = {k: v for k, v in q.items() if v is not None}
            q["page"] = str(p)
            return f"{base}?{urlencode(q)}"

        links = []
        if page > 1:
            links.append(f'<{url(min(page - 1, last))}>; rel="prev"')
        if page < last:
            links.append(f'<{url(page + 1)}>; rel="next"')
            links.append(f'<{url(last)}>; rel="last"')
        if page > 1:
            links.append(f'<{url(1)}>; rel="first"')
        return chunk, {"Link": ", ".join(links)}


def _json_response(status: int, body: Any) -> Response:
    if status == 204 or body is None:
        return Response(status=status)
    return Response(json.dumps(body), status=status, content_type="application/json; charset=utf-8")
