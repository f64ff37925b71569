"""REST handlers: repository data (repos, pulls and their files, contents, collaborator
permission)."""

from __future__ import annotations

from urllib.parse import quote

from werkzeug.wrappers import Response

from . import openapi
from .model import HTTPError, Repo, _b64_lines


class RepoRoutesMixin:
    """``repos/*`` and ``pulls/*`` operations."""

    def _op_repos_get(self, req, params, body, caller):
        with self._lock:
            return 200, self._repo_obj(self._repo_for(params), full=True), None

    def _op_pulls_get(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            pr = self.pulls.get((repo.full_name, int(params["pull_number"])))
            if pr is None:
                raise HTTPError(404, "Not Found")
            return 200, self._pull_obj(pr), None

    def _op_pulls_list(self, req, params, body, caller):
        state = req.args.get("state", "open")
        with self._lock:
            repo = self._repo_for(params)
            prs = [p for p in sorted(self.pulls.values(), key=lambda p: -p.number)
                   if p.repo == repo.full_name and (state == "all" or p.state == state)
                   and (not req.args.get("base") or p.base_ref == req.args["base"])
                   and (not req.args.get("head") or f"{repo.owner}:{p.head_ref}" == req.args["head"])]
            objs = [self._pull_simple(p) for p in prs]  # the list returns `pull-request-simple`
        page, link = self._paginate(req, objs)
        return 200, page, link

    def _op_pulls_request_reviewers(self, req, params, body, caller):
        """As GitHub: 422 for the PR's author or anyone (user or team) without access to the
        repository, and then nobody is added; else the requests are added and the PR returned."""
        users, teams = list(body.get("reviewers") or []), list(body.get("team_reviewers") or [])
        with self._lock:
            repo = self._repo_for(params)
            pr = self.pulls.get((repo.full_name, int(params["pull_number"])))
            if pr is None:
                raise HTTPError(404, "Not Found")
            if not users and not teams:
                raise HTTPError(422, "Reviewers or team_reviewers must be present.")
            if any(u.lower() == pr.user.lower() for u in users):
                raise HTTPError(422, "Review cannot be requested from pull request author.")
            known = {login.lower() for login, role in repo.collaborators.items() if role != "none"} | {
                repo.owner.lower()}
            if any(u.lower() not in known for u in users) or any(t not in repo.teams for t in teams):
                raise HTTPError(422, "Reviews may only be requested from collaborators. One or more of the users "
                                     f"or teams you specified is not a collaborator of the {repo.full_name} "
                                     "repository.")
            for login in users:
                if login.lower() not in {r.lower() for r in pr.requested_reviewers}:
                    pr.requested_reviewers.append(login)
            pr.requested_teams.extend(t for t in dict.fromkeys(teams) if t not in pr.requested_teams)
            return 201, self._pull_simple(pr), None

    def _op_pulls_list_files(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            pr = self.pulls.get((repo.full_name, int(params["pull_number"])))
            if pr is None:
                raise HTTPError(404, "Not Found")
            head = pr.head_sha
            base = pr.base_sha
        files = self.git.diff(repo.git_dir, base, head)[:3000]
        for f in files:
            path = quote(f["filename"])
            f["blob_url"] = f"{self.web_url}/{repo.full_name}/blob/{head}/{path}"
            f["raw_url"] = f"{self.web_url}/{repo.full_name}/raw/{head}/{path}"
            f["contents_url"] = f"{self.api_url}/repos/{repo.full_name}/contents/{path}?ref={head}"
            # keep the spec's key order: sha, filename, status, additions, deletions, changes, blob_url, ...
        page, link = self._paginate(req, files)
        return 200, page, link

    def _op_repos_get_content(self, req, params, body, caller):
        repo = self._repo_for(params)
        path = params["path"].strip("/")
        ref = req.args.get("ref") or repo.default_branch
        commit = self.git.resolve_ref(repo.git_dir, ref)
        if commit is None:
            raise HTTPError(404, f"No commit found for the ref {ref}")
        if any(p in ("", ".", "..") for p in path.split("/")):
            raise HTTPError(404, "Not Found")
        entry = self.git.ls(repo.git_dir, commit, path)
        if entry is None:
            raise HTTPError(404, "Not Found")
        accept = req.headers.get("Accept", "")
        mode, typ, sha, size = entry
        if typ == "tree":
            items = [self._content_item(repo, ref, *row) for row in self.git.ls_dir(repo.git_dir, commit, path)]
            if "application/vnd.github.object" in accept:
                obj = self._content_item(repo, ref, mode, typ, sha, size, path)
                obj["entries"] = items
                return 200, obj, None
            return 200, items, None
        data = self.git.blob(repo.git_dir, sha) if typ == "blob" else b""
        if "application/vnd.github.raw" in accept and typ == "blob":
            return 200, Response(data, status=200, content_type="application/vnd.github.raw"), None
        obj = self._content_item(repo, ref, mode, typ, sha, size, path)
        if obj["type"] == "file":
            obj["content"] = _b64_lines(data) if size <= 1024 * 1024 else ""
            obj["encoding"] = "base64" if size <= 1024 * 1024 else "none"
            ordered = {k: obj[k] for k in ("type", "encoding", "size", "name", "path", "content", "sha", "url",
                                           "git_url", "html_url", "download_url", "_links")}
            return 200, ordered, None
        if obj["type"] == "symlink":
            obj["target"] = data.decode(errors="replace")
        return 200, obj, None

    def _content_item(self, repo: Repo, ref: str, mode: str, typ: str, sha: str, size: int, path: str) -> dict:
        kind = {"tree": "dir", "commit": "submodule"}.get(typ, "symlink" if mode == "120000" else "file")
        qpath = quote(path)
        self_url = f"{self.api_url}/repos/{repo.full_name}/contents/{qpath}?ref={quote(ref, safe='')}"
        git_url = (f"{self.api_url}/repos/{repo.full_name}/git/{'trees' if kind == 'dir' else 'blobs'}/{sha}"
                   if kind != "submodule" else None)
        html_url = f"{self.web_url}/{repo.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{qpath}"
        download = f"{self.web_url}/{repo.full_name}/raw/{ref}/{qpath}" if kind == "file" else None
        return {
            "type": kind,
            "size": size if kind == "file" else 0,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "url": self_url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": download,
            "_links": {"self": self_url, "git": git_url, "html": html_url},
        }

    def _op_repos_get_collaborator_permission_level(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            username = params["username"]
            role = repo.collaborators.get(username, "none")
            if username == repo.owner:
                role = "admin"
            permission = {"maintain": "write", "triage": "read"}.get(role, role)
            obj = openapi.example("repository-collaborator-permission-response-if-user-has-admin-permissions")
            user = self._user(username)
            user["permissions"] = {"admin": role == "admin", "maintain": role in ("admin", "maintain"),
                                   "push": permission in ("admin", "write"),
                                   "triage": role in ("admin", "maintain", "write", "triage"),
                                   "pull": permission != "none"}
            user["role_name"] = role
            obj.update(permission=permission, role_name=role, user=user)
            return 200, obj, None
