"""Real webhook payloads (``@octokit/webhooks-examples``), adapted and signed.

* :func:`load_example` – one example from ``api.github.com/index.json`` (an array of
  event definitions ``{name, actions, description, properties, examples[]}``).
* :func:`adapt` – rewrites ONLY repository names/owners/ids/urls, the installation id,
  PR number/sha/ref fields, the sender and the comment body (plus, on request, the
  check-run id / app id / requested action and the API/web hosts); everything else
  stays as in the real example.
* :func:`pull_request_edited` – ``pull_request.edited`` has no upstream example: built
  from ``opened`` + a ``changes`` object (``changes.base.ref.from`` / ``changes.base.sha.from``).
* :func:`sign`, :func:`headers`, :func:`delivery`, :func:`deliver` – GitHub's delivery
  headers and ``X-Hub-Signature-256``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import re
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import quote

from . import artifacts

GITHUB_API = "https://api.github.com"
GITHUB_WEB = "https://github.com"
#: GitHub's delivery agent (the suffix is a short build hash, it changes over time)
USER_AGENT = "GitHub-Hookshot/9b1ec1a"


@functools.lru_cache(maxsize=1)
def _definitions() -> dict[str, dict]:
    data = json.loads(artifacts.webhooks_examples_path().read_text())
    return {d["name"]: d for d in data}


def events() -> list[str]:
    return sorted(_definitions())


def _variant_name(ex: dict) -> str:
    inst, org = "installation" in ex, "organization" in ex
    if inst and org:
        return "with-installation-and-organization"
    if inst:
        return "with-installation"
    if org:
        return "with-organization"
    return "plain"


def variants(event: str, action: str | None = None) -> list[str]:
    """Variant names of the examples for ``event.action``, in file order (index = int variant)."""
    return [_variant_name(ex) for ex in _examples(event, action)]


def _examples(event: str, action: str | None) -> list[dict]:
    defs = _definitions()
    if event not in defs:
        raise KeyError(f"no webhook examples for event {event!r}; known: {', '.join(sorted(defs))}")
    exs = [ex for ex in defs[event]["examples"] if ex.get("action") == action]
    if not exs:
        have = sorted({str(ex.get("action")) for ex in defs[event]["examples"]})
        raise KeyError(f"no example for {event}.{action}; examples exist for: {', '.join(have)}"
                       + ("  (pull_request.edited: use webhooks.pull_request_edited())" if event == "pull_request"
                          and action == "edited" else ""))
    return exs


def load_example(event: str, action: str | None = None, *, variant: int | str | None = None) -> dict:
    """A deep copy of one real example of ``event`` / ``action``.

    ``variant``: ``None`` → the first example carrying an ``installation`` (what a
    GitHub App receives), else the first; an ``int`` → that index among the
    examples of this action; a name from :func:`variants` (``"plain"``,
    ``"with-installation"``, ``"with-organization"``,
    ``"with-installation-and-organization"``) → the first such example.
    """
    exs = _examples(event, action)
    if variant is None:
        chosen = next((ex for ex in exs if "installation" in ex and "organization" not in ex),
                      next((ex for ex in exs if "installation" in ex), exs[0]))
    elif isinstance(variant, int):
        chosen = exs[variant]
    else:
        found = [ex for ex in exs if _variant_name(ex) == variant]
        if not found:
            raise KeyError(f"no {variant!r} example for {event}.{action}; have {variants(event, action)}")
        chosen = found[0]
    return copy.deepcopy(chosen)


# --------------------------------------------------------------------------- adapt


def _map_strings(obj: Any, fn) -> Any:
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map_strings(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_map_strings(v, fn) for v in obj]
    return obj


def _replace_all(obj: Any, pairs: list[tuple[str, str]]) -> Any:
    pairs = [(a, b) for a, b in sorted(pairs, key=lambda p: -len(p[0])) if a and a != b]
    if not pairs:
        return obj
    pattern = re.compile("|".join(re.escape(a) for a, _ in pairs))
    table = dict(pairs)
    return _map_strings(obj, lambda s: pattern.sub(lambda m: table[m.group(0)], s))


def _walk_dicts(obj: Any):
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _walk_dicts(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_dicts(v)


def _stable_id(text: str, lo: int = 100_000_000) -> int:
    return lo + int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 900_000_000


def _node(kind: str, ident: int) -> str:
    import base64

    return base64.b64encode(f"0{len(kind)}:{kind}{ident}".encode()).decode()


def adapt(
    payload: dict,
    *,
    repo_full_name: str,
    installation_id: int,
    pr_number: int | None = None,
    head_sha: str | None = None,
    base_sha: str | None = None,
    head_ref: str | None = None,
    base_ref: str | None = None,
    sender_login: str | None = None,
    comment_body: str | None = None,
    repo_id: int | None = None,
    before: str | None = None,
    sender_type: str | None = None,
    comment_id: int | None = None,
    check_run_id: int | None = None,
    check_run_name: str | None = None,
    app_id: int | None = None,
    app_slug: str | None = None,
    requested_action: str | None = None,
    api_url: str | None = None,
    web_url: str | None = None,
) -> dict:
    """Point a real example at your repository / installation / PR (see module doc).

    ``api_url`` / ``web_url`` (e.g. the stand-in's) replace ``https://api.github.com`` /
    ``https://github.com`` in every URL; by default hosts stay github.com.
    For ``issue_comment`` events, ``pr_number`` also adds ``issue.pull_request`` (GitHub
    sets it when the comment is on a PR; none of the upstream examples is on a PR).
    """
    p = copy.deepcopy(payload)
    new_owner, _, new_name = repo_full_name.partition("/")
    repo_obj = p.get("repository") or (p.get("pull_request") or {}).get("base", {}).get("repo")
    old_full = repo_obj["full_name"] if repo_obj else None
    old_owner = old_full.split("/")[0] if old_full else None
    repo_id = repo_id if repo_id is not None else _stable_id(repo_full_name)

    # -- values we need before rewriting strings
    old_sender = (p.get("sender") or {}).get("login")
    pr = p.get("pull_request")
    cr = p.get("check_run")
    cs = p.get("check_suite") or (cr or {}).get("check_suite")
    issue = p.get("issue")
    old_number = None
    if pr is not None:
        old_number = pr.get("number")
    elif issue is not None:
        old_number = issue.get("number")
    elif cr is not None and cr.get("pull_requests"):
        old_number = cr["pull_requests"][0].get("number")
    old_head_sha = (pr or {}).get("head", {}).get("sha") or (cr or {}).get("head_sha") or (cs or {}).get("head_sha")
    old_base_sha = (pr or {}).get("base", {}).get("sha")
    if old_base_sha is None and cr and cr.get("pull_requests"):
        old_base_sha = cr["pull_requests"][0].get("base", {}).get("sha")
    old_comment_id = (p.get("comment") or {}).get("id")
    old_check_run_id = (cr or {}).get("id")

    # -- 1. repository: urls, then repository objects
    pairs: list[tuple[str, str]] = []
    if old_full and old_full != repo_full_name:
        pairs += [
            (f"/repos/{old_full}", f"/repos/{repo_full_name}"),
            (f"github.com/{old_full}", f"github.com/{repo_full_name}"),
            (f"github.com:{old_full}", f"github.com:{repo_full_name}"),
        ]
    if old_head_sha and head_sha:
        pairs.append((old_head_sha, head_sha))
    if old_base_sha and base_sha:
        pairs.append((old_base_sha, base_sha))
    p = _replace_all(p, pairs)
    if old_number is not None and pr_number is not None and old_number != pr_number:
        rx = re.compile(rf"({re.escape(repo_full_name)}/(?:pulls|pull|issues))/{old_number}(?=$|[/#?.])")
        p = _map_strings(p, lambda s: rx.sub(rf"\g<1>/{pr_number}", s))
    if old_comment_id is not None and comment_id is not None:
        rx_c = re.compile(rf"(issues/comments/|#issuecomment-){old_comment_id}(?=$|\D)")
        p = _map_strings(p, lambda s: rx_c.sub(rf"\g<1>{comment_id}", s))
    if old_check_run_id is not None and check_run_id is not None:
        rx_r = re.compile(rf"(check-runs/|/runs/){old_check_run_id}(?=$|\D)")
        p = _map_strings(p, lambda s: rx_r.sub(rf"\g<1>{check_run_id}", s))

    for d in _walk_dicts(p):
        if d.get("full_name") in (old_full, repo_full_name) and "name" in d and "owner" in d:  # repository objects
            d["full_name"] = repo_full_name
            d["id"] = repo_id
            d["name"] = new_name
            if "node_id" in d:
                d["node_id"] = _node("Repository", repo_id)
            owner = d.get("owner")
            if isinstance(owner, dict) and old_owner and owner.get("login") == old_owner:
                _rename_user(owner, old_owner, new_owner)
        elif set(d) == {"id", "url", "name"} and str(d.get("url", "")).endswith(f"/repos/{repo_full_name}"):
            d["id"], d["name"] = repo_id, new_name  # minimal repo refs in check_run.pull_requests[]
    org = p.get("organization")
    if isinstance(org, dict) and old_owner and org.get("login") == old_owner:
        _rename_user(org, old_owner, new_owner)

    # -- 2. installation
    inst = dict(p.get("installation") or {})
    inst["id"] = installation_id
    inst["node_id"] = _node("IntegrationInstallation", installation_id)
    p["installation"] = inst

    # -- 3. pull request fields
    pr = p.get("pull_request")
    if pr is not None:
        if pr_number is not None:
            pr["number"] = pr_number
            if "number" in p:
                p["number"] = pr_number
        for side, ref, sha in (("head", head_ref, head_sha), ("base", base_ref, base_sha)):
            part = pr.get(side) or {}
            if ref is not None:
                part["ref"] = ref
            if sha is not None:
                part["sha"] = sha
            if ref is not None or (old_full and old_full != repo_full_name):
                owner_login = ((part.get("repo") or {}).get("owner") or {}).get("login") or new_owner
                part["label"] = f"{owner_login}:{part.get('ref')}"
            if isinstance(part.get("user"), dict) and old_owner and part["user"].get("login") == old_owner:
                _rename_user(part["user"], old_owner, new_owner)
    if "after" in p and head_sha is not None:
        p["after"] = head_sha
    if "before" in p and before is not None:
        p["before"] = before

    # -- 4. check_run / check_suite
    cr = p.get("check_run")
    cs = p.get("check_suite") or (cr or {}).get("check_suite")
    for obj in (cr, cs):
        if obj is None:
            continue
        if head_sha is not None:
            obj["head_sha"] = head_sha
        if head_ref is not None and "head_branch" in obj:
            obj["head_branch"] = head_ref
        if app_id is not None and isinstance(obj.get("app"), dict):
            obj["app"]["id"] = app_id
            obj["app"]["node_id"] = _node("Integration", app_id)
            if app_slug:
                obj["app"]["slug"] = app_slug
        prs = obj.get("pull_requests")
        if pr_number is not None and isinstance(prs, list):
            if not prs:
                api = api_url or GITHUB_API
                mini = {"id": repo_id, "url": f"{api}/repos/{repo_full_name}", "name": new_name}
                prs.append({"url": f"{api}/repos/{repo_full_name}/pulls/{pr_number}",
                            "id": _stable_id(f"{repo_full_name}#{pr_number}"), "number": pr_number,
                            "head": {"ref": head_ref or "", "sha": head_sha or obj.get("head_sha"), "repo": dict(mini)},
                            "base": {"ref": base_ref or "main", "sha": base_sha or "", "repo": dict(mini)}})
            for entry in prs[:1]:
                entry["number"] = pr_number
                for side, ref, sha in (("head", head_ref, head_sha), ("base", base_ref, base_sha)):
                    if ref is not None:
                        entry[side]["ref"] = ref
                    if sha is not None:
                        entry[side]["sha"] = sha
    if cr is not None:
        if check_run_id is not None:
            cr["id"] = check_run_id
            cr["node_id"] = _node("CheckRun", check_run_id)
        if check_run_name is not None:
            cr["name"] = check_run_name
    if requested_action is not None and "requested_action" in p:
        p["requested_action"] = {"identifier": requested_action}

    # -- 5. issue / comment
    issue = p.get("issue")
    if issue is not None and pr_number is not None:
        issue["number"] = pr_number
        web = f"{GITHUB_WEB}/{repo_full_name}"
        api = f"{GITHUB_API}/repos/{repo_full_name}"
        issue["pull_request"] = {"url": f"{api}/pulls/{pr_number}", "html_url": f"{web}/pull/{pr_number}",
                                 "diff_url": f"{web}/pull/{pr_number}.diff",
                                 "patch_url": f"{web}/pull/{pr_number}.patch", "merged_at": None}
        if "html_url" in issue:
            issue["html_url"] = f"{web}/pull/{pr_number}"
        comment = p.get("comment")
        if comment is not None and "html_url" in comment:
            comment["html_url"] = re.sub(r"/issues/(\d+)#", r"/pull/\1#", comment["html_url"])
    comment = p.get("comment")
    if comment is not None:
        if comment_body is not None:
            comment["body"] = comment_body
        if comment_id is not None:
            comment["id"] = comment_id
            comment["node_id"] = _node("IssueComment", comment_id)

    # -- 6. sender (and the comment's author when it is the sender)
    if sender_login is not None and old_sender:
        typ = sender_type or ("Bot" if sender_login.endswith("[bot]") else "User")
        targets = [p["sender"]]
        if comment is not None and isinstance(comment.get("user"), dict) and comment["user"].get("login") == old_sender:
            targets.append(comment["user"])
        for u in targets:
            _rename_user(u, old_sender, sender_login)
            u["type"] = typ
            u["id"] = _stable_id(sender_login, 1_000_000)
            u["node_id"] = _node("Bot" if typ == "Bot" else "User", u["id"])

    # -- 7. hosts (last: everything above matched github.com urls)
    host_pairs = []
    if api_url:
        host_pairs.append((GITHUB_API, api_url.rstrip("/")))
    if web_url:
        host_pairs.append((GITHUB_WEB, web_url.rstrip("/")))
    if host_pairs:
        p = _replace_all(p, host_pairs)
    return p


def _rename_user(u: dict, old: str, new: str) -> None:
    url_new = quote(new, safe="")
    for k, v in list(u.items()):
        if isinstance(v, str):
            v = v.replace(f"/users/{old}/", f"/users/{url_new}/").replace(f"/orgs/{old}/", f"/orgs/{new}/")
            if v.endswith(f"/users/{old}") or v.endswith(f"/orgs/{old}"):
                v = v[: -len(old)] + (url_new if "/users/" in v else new)
            if v.endswith(f"github.com/{old}"):
                v = v[: -len(old)] + new
            u[k] = v
    u["login"] = new


def pull_request_edited(
    *,
    base_ref_from: str | None = None,
    base_sha_from: str | None = None,
    title_from: str | None = None,
    body_from: str | None = None,
    **adapt_kwargs,
) -> dict:
    """A synthetic ``pull_request.edited`` (no upstream example exists).

    Built from the real ``opened`` example (with installation) + ``changes``: pass
    ``base_ref_from``/``base_sha_from`` for a base-branch change (the case meshdiff
    re-analyses), ``title_from``/``body_from`` for a plain edit.  Then :func:`adapt`
    is applied with ``adapt_kwargs`` (``repo_full_name``, ``installation_id``, the
    new ``base_ref``/``base_sha``...).
    """
    src = load_example("pull_request", "opened", variant="with-installation")
    changes: dict[str, Any] = {}
    if title_from is not None:
        changes["title"] = {"from": title_from}
    if body_from is not None:
        changes["body"] = {"from": body_from}
    if base_ref_from is not None or base_sha_from is not None:
        if base_ref_from is None or base_sha_from is None:
            raise ValueError("a base change needs both base_ref_from and base_sha_from")
        changes["base"] = {"ref": {"from": base_ref_from}, "sha": {"from": base_sha_from}}
    if not changes:
        raise ValueError("pull_request.edited needs at least one change")
    payload = {"action": "edited", "number": src["number"], "changes": changes}
    payload.update({k: v for k, v in src.items() if k not in ("action", "number")})
    return adapt(payload, **adapt_kwargs) if adapt_kwargs else payload


# --------------------------------------------------------------------------- delivery


def body_bytes(payload: dict) -> bytes:
    """Serialise like GitHub (compact JSON, UTF-8)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: bytes | str, secret: str) -> str:
    """``X-Hub-Signature-256`` value: ``sha256=<hex HMAC-SHA256(secret, body)>``."""
    if isinstance(body, str):
        body = body.encode()
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_sha1(body: bytes | str, secret: str) -> str:
    """Legacy ``X-Hub-Signature`` (still sent by GitHub; apps must not rely on it)."""
    if isinstance(body, str):
        body = body.encode()
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def headers(
    event: str,
    body: bytes | str,
    secret: str | None,
    delivery: str | None = None,
    *,
    hook_id: int = 471179482,
    target_id: int = 4242,
    target_type: str = "integration",
    enterprise: tuple[str, str] | None = None,
) -> dict[str, str]:
    """The header set GitHub sends with a delivery (``secret=None`` → unsigned)."""
    h = {
        "Accept": "*/*",
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Event": event,
        "X-GitHub-Hook-ID": str(hook_id),
        "X-GitHub-Hook-Installation-Target-ID": str(target_id),
        "X-GitHub-Hook-Installation-Target-Type": target_type,
    }
    if secret is not None:
        h["X-Hub-Signature"] = sign_sha1(body, secret)
        h["X-Hub-Signature-256"] = sign(body, secret)
    if enterprise:  # GHES adds these
        h["X-GitHub-Enterprise-Version"], h["X-GitHub-Enterprise-Host"] = enterprise
    return h


def delivery(event: str, payload: dict, secret: str | None, delivery_id: str | None = None,
             **header_kwargs) -> tuple[bytes, dict[str, str]]:
    """(raw body, headers) ready to POST to the App's webhook endpoint."""
    body = body_bytes(payload)
    return body, headers(event, body, secret, delivery_id, **header_kwargs)


def deliver(url: str, event: str, payload: dict, secret: str | None, delivery_id: str | None = None,
            timeout: float = 10.0, **header_kwargs) -> tuple[int, bytes, dict[str, str]]:
    """POST one delivery over HTTP (to a running App); returns (status, body, request headers)."""
    body, hdrs = delivery(event, payload, secret, delivery_id, **header_kwargs)
    req = urllib.request.Request(url, data=body, headers=hdrs, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), hdrs
    except urllib.error.HTTPError as e:
        return e.code, e.read(), hdrs


def new_delivery_id() -> str:
    return str(uuid.uuid4())


__all__ = [
    "adapt",
    "body_bytes",
    "deliver",
    "delivery",
    "events",
    "headers",
    "load_example",
    "new_delivery_id",
    "pull_request_edited",
    "sign",
    "sign_sha1",
    "variants",
]

