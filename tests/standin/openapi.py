"""GitHub's official REST OpenAPI description, pruned to what meshdiff calls.

* :data:`OPERATIONS` lists the (method, path) pairs the stand-in serves.
* :func:`pruned_spec` copies those operations out of
  ``node_modules/@octokit/openapi/generated/api.github.com.json`` (13 MB, 1,200+
  operations) and walks ``$ref`` to copy only the reachable ``components``.  The
  result is cached in ``tests/standin/.cache/`` keyed by the package version and
  a hash of :data:`OPERATIONS`, so it is rebuilt whenever either changes.
* :func:`load` builds the ``openapi_core.OpenAPI`` object once per process.
* :func:`validate_request` checks one request with openapi-core **plus** the
  stand-in's strict rules (unknown JSON keys, GitHub limits that are not in the
  schema).  It returns human-readable error strings; an empty list means valid.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable

from werkzeug.datastructures import Headers, ImmutableMultiDict

from . import artifacts

API_PREFIX = "/api/v3"

#: Operations used by meshdiff (method, path as in the OpenAPI description).
OPERATIONS: list[tuple[str, str]] = [
    # App (JWT) endpoints
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/app"),
    ("get", "/repos/{owner}/{repo}/installation"),
    # repository data
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}/files"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    # checks
    ("post", "/repos/{owner}/{repo}/check-runs"),
    ("patch", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/check-runs/{check_run_id}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}/check-runs"),
    # comments
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("get", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    # ChatOps authorisation
    ("get", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("get", "/rate_limit"),
    # additions beyond the original list (reconciliation sweep, token hygiene)
    ("get", "/app/installations/{installation_id}"),
    ("get", "/app/installations"),
    ("delete", "/installation/token"),
    ("get", "/installation/repositories"),
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}"),
    # policy.request_reviews: breaking
    ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"),
]

#: Bump when the pruning logic changes (invalidates the cache).
PRUNER_VERSION = 2

#: The server URL form the stand-in uses (GHES style: ``{protocol}://{hostname}/api/v3``).
STANDIN_SERVER = {
    "url": "{protocol}://{hostname}/api/v3",
    "description": "meshdiff stand-in GitHub (GHES-style base path)",
    "variables": {
        "protocol": {"default": "http", "enum": ["http", "https"]},
        "hostname": {"default": "127.0.0.1"},
    },
}

#: GitHub limits that are not in the OpenAPI schemas.
COMMENT_BODY_MAX_CHARS = 65536

#: API versions GitHub accepts in X-GitHub-Api-Version (others → 400).
SUPPORTED_API_VERSIONS = ("2022-11-28", "2026-03-10")


# --------------------------------------------------------------------------- pruning


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            out.add(ref)
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


def prune(full: dict, operations: Iterable[tuple[str, str]] = OPERATIONS) -> dict:
    """Copy ``operations`` out of ``full`` with only the components they reach."""
    out: dict[str, Any] = {
        "openapi": full["openapi"],
        "info": copy.deepcopy(full["info"]),
        "servers": copy.deepcopy(full.get("servers", [])) + [STANDIN_SERVER],
        "paths": {},
        "components": {},
    }
    out["info"]["description"] = (
        "Pruned by tests/standin/openapi.py from @octokit/openapi "
        f"{artifacts.locked_version(artifacts.OPENAPI_PACKAGE)} generated/api.github.com.json"
    )
    for method, path in operations:
        src = full["paths"][path]
        dst = out["paths"].setdefault(path, {})
        dst[method] = copy.deepcopy(src[method])
        if "parameters" in src:  # path-level parameters
            dst["parameters"] = copy.deepcopy(src["parameters"])
    seen: set[str] = set()
    todo: set[str] = set()
    _refs(out["paths"], todo)
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if not ref.startswith("#/components/"):
            raise ValueError(f"unsupported $ref {ref!r}")
        kind, name = ref[len("#/components/"):].split("/", 1)
        name = name.split("/", 1)[0]  # refs into a component copy the whole component
        comp = full["components"][kind][name]
        out["components"].setdefault(kind, {})[name] = copy.deepcopy(comp)
        found: set[str] = set()
        _refs(comp, found)
        todo |= found - seen
    for kind in out["components"]:
        out["components"][kind] = dict(sorted(out["components"][kind].items()))
    return out


def _cache_key() -> str:
    h = hashlib.sha256(json.dumps([PRUNER_VERSION, OPERATIONS, STANDIN_SERVER]).encode()).hexdigest()[:12]
    return f"api.github.com-{artifacts.locked_version(artifacts.OPENAPI_PACKAGE)}-{h}"


def cache_path():
    return artifacts.CACHE_DIR / f"pruned-{_cache_key()}.json"


@functools.lru_cache(maxsize=1)
def pruned_spec() -> dict:
    """The pruned description as a dict (read from / written to the cache)."""
    path = cache_path()
    if path.exists():
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass
    full = json.loads(artifacts.openapi_json_path().read_text())
    spec = prune(full)
    artifacts.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(spec, indent=1, sort_keys=False))
    os.replace(tmp, path)
    return spec


@functools.lru_cache(maxsize=1)
def full_paths() -> frozenset[tuple[str, str]]:
    """Every (method, path) of the full description (only used for error messages)."""
    full = json.loads(artifacts.openapi_json_path().read_text())
    return frozenset(
        (m, p) for p, item in full["paths"].items() for m in item if m in ("get", "post", "put", "patch", "delete")
    )


LOAD_SECONDS: float | None = None


@functools.lru_cache(maxsize=1)
def load():
    """The ``openapi_core.OpenAPI`` for the pruned description (once per process)."""
    global LOAD_SECONDS
    from openapi_core import OpenAPI

    spec = pruned_spec()
    t0 = time.perf_counter()
    api = OpenAPI.from_dict(copy.deepcopy(spec))
    LOAD_SECONDS = time.perf_counter() - t0
    return api


def example(name: str) -> Any:
    """A deep copy of ``components.examples[name].value`` of the pruned description."""
    return copy.deepcopy(pruned_spec()["components"]["examples"][name]["value"])


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Route:
    method: str  # lower case
    template: str  # OpenAPI path, e.g. /repos/{owner}/{repo}
    operation_id: str
    regex: re.Pattern
    docs_url: str

    @property
    def operation(self) -> dict:
        return pruned_spec()["paths"][self.template][self.method]


def _compile(template: str) -> re.Pattern:
    out = "^"
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{"):
            name = part[1:-1]
            group = re.sub(r"\W", "_", name)
            # `contents/{path}` takes slashes (GitHub accepts nested paths there)
            out += f"(?P<{group}>.+)" if name == "path" else f"(?P<{group}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(out + "$")


@functools.lru_cache(maxsize=1)
def routes() -> tuple[Route, ...]:
    spec = pruned_spec()
    out = []
    for method, template in OPERATIONS:
        op = spec["paths"][template][method]
        out.append(
            Route(
                method,
                template,
                op["operationId"],
                _compile(template),
                op.get("externalDocs", {}).get("url", "https://docs.github.com/rest"),
            )
        )
    # literal paths before templated ones with the same shape
    return tuple(sorted(out, key=lambda r: r.template.count("{")))


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path params, path_exists_with_other_method) for an API-relative path."""
    method = method.lower()
    other = False
    for r in routes():
        m = r.regex.match(path)
        if m:
            if r.method == method:
                return r, m.groupdict(), False
            other = True
    return None, {}, other


# --------------------------------------------------------------------------- validation


class _Request:
    """openapi-core request protocol (with ``path_pattern``: see note below)."""

    # openapi-core cannot match a `{path}` parameter containing `/` (PathNotFound for
    # `contents/models/a.sql`), so we hand it the matched template as `path_pattern`
    # together with the path parameters we extracted ourselves.

    def __init__(self, host_url, route: Route, params, method, body, content_type, query, headers):
        self.host_url = host_url
        self.path = API_PREFIX + route.template
        self.path_pattern = API_PREFIX + route.template
        self.method = method.lower()
        self.body = body
        self.content_type = content_type or "application/octet-stream"
        from openapi_core.datatypes import RequestParameters

        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query), header=Headers(headers), cookie=ImmutableMultiDict(), path=dict(params)
        )


class _Response:
    def __init__(self, status: int, headers, data: bytes, content_type: str):
        self.status_code = status
        self.headers = Headers(headers)
        self.data = data
        self.content_type = content_type


def _explain(exc: BaseException, *, skip_nullable_enum: bool = False) -> list[str]:
    msgs: list[str] = []
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        for se in getattr(e, "schema_errors", None) or []:
            if skip_nullable_enum and se.instance is None and se.validator == "enum" \
                    and isinstance(se.schema, dict) and se.schema.get("nullable"):
                # OpenAPI 3.0 `nullable: true` + `enum` without null: openapi-schema-validator
                # rejects None although the description means "null allowed" (e.g. check-run.conclusion)
                continue
            where = "/".join(str(p) for p in se.absolute_path) or "(body)"
            msgs.append(f"{where}: {se.message[:300]}")
        if getattr(e, "schema_errors", None) is not None and not msgs:
            return []  # every schema error was skipped
        e = e.__cause__ or e.__context__
    if msgs:
        return msgs
    detail = str(exc)[:300]
    return [f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__]


def _resolve(schema: Any) -> Any:
    spec = pruned_spec()
    while isinstance(schema, dict) and "$ref" in schema:
        kind, name = schema["$ref"][len("#/components/"):].split("/", 1)
        schema = spec["components"][kind][name]
    return schema


def _collect(schema: Any, props: dict[str, list], extras: list) -> None:
    schema = _resolve(schema)
    if not isinstance(schema, dict):
        return
    for k, sub in (schema.get("properties") or {}).items():
        props.setdefault(k, []).append(sub)
    ap = schema.get("additionalProperties")
    if isinstance(ap, dict) and ap:  # a schema for extra keys: extras are declared
        extras.append(ap)
    for comb in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(comb, []) or []:
            _collect(sub, props, extras)


def _items(schema: Any) -> list:
    schema = _resolve(schema)
    out = []
    if isinstance(schema, dict):
        if "items" in schema:
            out.append(schema["items"])
        for comb in ("allOf", "anyOf", "oneOf"):
            for sub in schema.get(comb, []) or []:
                out.extend(_items(sub))
    return out


def strict_errors(schema: Any, value: Any, where: str = "") -> list[str]:
    """Keys not declared in the schema's ``properties`` (recursively).

    GitHub's request schemas almost never set ``additionalProperties: false``, so
    a misspelt optional key (``conclsion``) passes openapi-core and is silently
    ignored by GitHub.  The stand-in rejects it.
    """
    errors: list[str] = []
    if isinstance(value, dict):
        props: dict[str, list] = {}
        extras: list = []
        _collect(schema, props, extras)
        if not props:  # free-form object
            return errors
        for k, v in value.items():
            path = f"{where}/{k}" if where else k
            if k in props:
                for sub in props[k]:
                    errors.extend(strict_errors(sub, v, path))
            elif not extras:
                errors.append(
                    f"{path}: unknown key {k!r} (not in the request schema's properties; "
                    f"known: {', '.join(sorted(props))})"
                )
    elif isinstance(value, list):
        subs = _items(schema)
        for i, v in enumerate(value):
            for sub in subs:
                errors.extend(strict_errors(sub, v, f"{where}[{i}]"))
    # de-duplicate (a key declared in several anyOf branches is walked once per branch)
    return list(dict.fromkeys(errors))


def github_rule_errors(operation_id: str, body: Any) -> list[tuple[str, dict]]:
    """GitHub validations that are not in the OpenAPI schema.

    Returns (message, error object for the 422 ``errors`` array).
    """
    out: list[tuple[str, dict]] = []
    if not isinstance(body, dict):
        return out
    if operation_id in ("issues/create-comment", "issues/update-comment"):
        b = body.get("body")
        if isinstance(b, str) and len(b) > COMMENT_BODY_MAX_CHARS:
            msg = f"Body is too long (maximum is {COMMENT_BODY_MAX_CHARS} characters)"
            out.append(
                (
                    f"body: {len(b)} characters; {msg}",
                    {"resource": "IssueComment", "code": "custom", "field": "body", "message": msg},
                )
            )
    if operation_id in ("checks/create", "checks/update"):
        if body.get("conclusion") == "stale":
            msg = "conclusion: you cannot change a check run conclusion to stale, only GitHub can set this"
            out.append((msg, {"resource": "CheckRun", "code": "invalid", "field": "conclusion", "message": msg}))
        if operation_id == "checks/create" and "conclusion" not in body:
            if body.get("status") == "completed" or "completed_at" in body:
                msg = "conclusion is required when status is completed or completed_at is given"
                out.append((msg, {"resource": "CheckRun", "code": "missing_field", "field": "conclusion"}))
        output = body.get("output")
        if isinstance(output, dict):
            for i, a in enumerate(output.get("annotations") or []):
                if not isinstance(a, dict):
                    continue
                if ("start_column" in a or "end_column" in a) and a.get("start_line") != a.get("end_line"):
                    msg = (
                        f"output/annotations[{i}]: start_column/end_column are only allowed when "
                        "start_line == end_line"
                    )
                    out.append((msg, {"resource": "CheckRun", "code": "invalid", "field": "annotations"}))
                if isinstance(a.get("start_line"), int) and isinstance(a.get("end_line"), int):
                    if a["end_line"] < a["start_line"]:
                        msg = f"output/annotations[{i}]: end_line < start_line"
                        out.append((msg, {"resource": "CheckRun", "code": "invalid", "field": "annotations"}))
    return out


@dataclass
class RequestCheck:
    errors: list[str]  # everything wrong, for `violations`
    github_errors: list[dict]  # the `errors` array of the 422 body
    message: str  # the 422 `message`


def validate_request(
    route: Route,
    params: dict,
    *,
    host_url: str,
    method: str,
    body: bytes | None,
    content_type: str | None,
    query,
    headers,
    json_body: Any,
) -> RequestCheck:
    api = load()
    errors: list[str] = []
    gh_errors: list[dict] = []
    req = _Request(host_url, route, params, method, body or None, content_type, query, headers)
    try:
        api.validate_request(req)
    except Exception as exc:  # openapi-core raises a family of exceptions
        errors.extend(_explain(exc))
    rb = route.operation.get("requestBody")
    if rb and json_body is not None:
        schema = rb.get("content", {}).get("application/json", {}).get("schema")
        if schema is not None:
            errors.extend(f"strict: {e}" for e in strict_errors(schema, json_body))
    for msg, err in github_rule_errors(route.operation_id, json_body):
        errors.append(msg)
        gh_errors.append(err)
    if gh_errors and len(gh_errors) == len(errors):
        message = "Validation Failed"
    else:
        message = "Invalid request.\n\n" + "\n".join(errors)
    return RequestCheck(errors, gh_errors, message)


def validate_response(route: Route, params: dict, *, host_url, method, query, headers, status, resp_headers, data,
                      content_type) -> list[str]:
    """Validate one of the stand-in's own responses (stand-in bugs, not client bugs)."""
    if route.operation_id == "repos/get-content" and data[:1] == b"[":
        # the spec's `oneOf` + `discriminator: {propertyName: type}` cannot select
        # `content-directory` (an array has no `type` key): openapi-core rejects every
        # directory listing, so it is not validated here.
        return []
    api = load()
    req = _Request(host_url, route, params, method, None, None, query, headers)
    try:
        api.validate_response(req, _Response(status, resp_headers, data, content_type))
    except Exception as exc:
        return _explain(exc, skip_nullable_enum=True)
    return []
