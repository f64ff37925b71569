"""REST handlers: check runs (create, update, get, list for a ref) and their suites."""

from __future__ import annotations

import copy

from .model import CheckRun, HTTPError, _now, _parse_time


class CheckRoutesMixin:
    """``checks/*`` operations."""

    def _suite(self, full_name: str, head_sha: str) -> int:
        key = (full_name, head_sha)
        if key not in self._suites:
            self._suites[key] = self._next("check_suite")
        return self._suites[key]

    def _apply_check_fields(self, r: CheckRun, body: dict, *, creating: bool) -> None:
        now = _now()
        for k in ("name", "details_url", "external_id"):
            if k in body:
                setattr(r, k, body[k])
        if "started_at" in body:
            r.started_at = _parse_time(body["started_at"])
        if "status" in body:
            r.status = body["status"]
        if "conclusion" in body:
            r.conclusion = body["conclusion"]
            r.status = "completed"
        if "completed_at" in body:
            r.completed_at = _parse_time(body["completed_at"])
        if r.status == "completed":
            r.completed_at = r.completed_at or now
        elif not creating and "status" in body:
            r.conclusion, r.completed_at = None, None
        out = body.get("output")
        if out:
            for k in ("title", "summary", "text"):
                if k in out:
                    r.output[k] = out[k]
            r.annotations.extend(copy.deepcopy(out.get("annotations") or []))
            r.images.extend(copy.deepcopy(out.get("images") or []))
        if "actions" in body:
            r.actions = copy.deepcopy(body["actions"])

    def _op_checks_create(self, req, params, body, caller):
        repo = self._repo_for(params)
        if self.git.rev_parse(repo.git_dir, body["head_sha"]) is None or len(body["head_sha"]) != 40:
            raise HTTPError(422, f"No commit found for SHA: {body['head_sha']}",
                            errors=[{"resource": "CheckRun", "code": "invalid", "field": "head_sha"}])
        with self._lock:
            now = _now()
            r = CheckRun(self._next("check_run"), repo.full_name, body["head_sha"], body["name"],
                         self._suite(repo.full_name, body["head_sha"]), "queued", None, now, None, "", None,
                         {"title": None, "summary": None, "text": None}, [], [], [], now)
            self._apply_check_fields(r, body, creating=True)
            self._check_runs[r.id] = r
            return 201, self._check_run_obj(r), None

    def _get_run(self, params) -> CheckRun:
        repo = self._repo_for(params)
        r = self._check_runs.get(int(params["check_run_id"]))
        if r is None or r.repo != repo.full_name:
            raise HTTPError(404, "Not Found")
        return r

    def _op_checks_update(self, req, params, body, caller):
        with self._lock:
            r = self._get_run(params)
            if r.status == "completed":
                body = self._completed_run_rule(r, body)
            self._apply_check_fields(r, body, creating=False)
            r.update_count += 1
            return 200, self._check_run_obj(r), None

    #: what a completed run keeps (GitHub Support: "Once a check run transitions from the
    #: in_progress state to completed state, it's not possible to modify its status nor its
    #: conclusion further", https://github.community/t/stale-check-runs/120566)
    _FINAL = ("status", "conclusion", "completed_at", "started_at")

    def _completed_run_rule(self, r: CheckRun, body: dict) -> dict:
        """A completed run is final: an update keeps its status, conclusion and times (its output
        and annotations can still be added to). Trying to reopen it or change its conclusion is
        recorded as a violation: on GitHub that request is silently without effect."""
        reopen = body.get("status") not in (None, "completed")
        other = "conclusion" in body and body["conclusion"] != r.conclusion
        if reopen or other:
            self._violation(f"PATCH check-runs/{r.id}: the run is completed ({r.conclusion}); GitHub keeps its "
                            f"status and conclusion (tried status={body.get('status')!r}, "
                            f"conclusion={body.get('conclusion')!r})")
        return {k: v for k, v in body.items() if k not in self._FINAL}

    def _op_checks_get(self, req, params, body, caller):
        with self._lock:
            return 200, self._check_run_obj(self._get_run(params)), None

    def _op_checks_list_for_ref(self, req, params, body, caller):
        repo = self._repo_for(params)
        sha = self.git.resolve_ref(repo.git_dir, params["ref"])
        if sha is None:
            raise HTTPError(422, f"No commit found for SHA: {params['ref']}")
        with self._lock:
            runs = [r for r in sorted(self._check_runs.values(), key=lambda r: -r.id)
                    if r.repo == repo.full_name and r.head_sha == sha]
            if req.args.get("check_name"):
                runs = [r for r in runs if r.name == req.args["check_name"]]
            if req.args.get("status"):
                runs = [r for r in runs if r.status == req.args["status"]]
            if req.args.get("app_id") and int(req.args["app_id"]) != self.app_id:
                runs = []
            if req.args.get("filter", "latest") == "latest":
                seen: set[str] = set()
                latest = []
                for r in runs:
                    if r.name not in seen:
                        seen.add(r.name)
                        latest.append(r)
                runs = latest
            objs = [self._check_run_obj(r) for r in runs]
        page, link = self._paginate(req, objs)
        return 200, {"total_count": len(objs), "check_runs": page}, link
