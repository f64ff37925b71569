"""REST handlers: a PR seen as an issue, issue comments and comment reactions."""

from __future__ import annotations

from . import openapi
from .model import Comment, HTTPError, _iso, _node_id, _now, _parse_time


class CommentRoutesMixin:
    """``issues/*`` and ``reactions/*`` operations."""

    def _op_issues_get(self, req, params, body, caller):
        """A PR seen through the Issues API (PyGithub's ``repo.get_issue(n)``)."""
        with self._lock:
            repo = self._repo_for(params)
            pr = self.pulls.get((repo.full_name, int(params["issue_number"])))
            if pr is None:
                raise HTTPError(404, "Not Found")
            obj = openapi.example("issue")
            api_repo, web_repo = f"{self.api_url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
            obj.update(
                id=pr.id + 1_000_000_000,
                node_id=_node_id("PullRequest", pr.id),
                url=f"{api_repo}/issues/{pr.number}",
                repository_url=api_repo,
                labels_url=f"{api_repo}/issues/{pr.number}/labels{{/name}}",
                comments_url=f"{api_repo}/issues/{pr.number}/comments",
                events_url=f"{api_repo}/issues/{pr.number}/events",
                html_url=f"{web_repo}/pull/{pr.number}",
                number=pr.number,
                state=pr.state,
                title=pr.title,
                body=pr.body,
                user=self._user(pr.user),
                labels=[],
                assignee=None,
                assignees=[],
                milestone=None,
                locked=False,
                active_lock_reason=None,
                comments=sum(1 for c in self._comments.values() if c.repo == pr.repo and c.number == pr.number),
                pull_request={"url": f"{api_repo}/pulls/{pr.number}", "html_url": f"{web_repo}/pull/{pr.number}",
                              "diff_url": f"{web_repo}/pull/{pr.number}.diff",
                              "patch_url": f"{web_repo}/pull/{pr.number}.patch",
                              "merged_at": _iso(pr.closed_at) if pr.merged and pr.closed_at else None},
                closed_at=_iso(pr.closed_at) if pr.closed_at else None,
                created_at=_iso(pr.created_at),
                updated_at=_iso(pr.updated_at),
                closed_by=None,
                author_association=self._association(repo, pr.user),
                state_reason=None,
            )
            obj.pop("pinned_comment", None)
            return 200, obj, None

    def _op_issues_list_comments(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            number = int(params["issue_number"])
            if (repo.full_name, number) not in self.pulls:
                raise HTTPError(404, "Not Found")
            since = _parse_time(req.args["since"]) if req.args.get("since") else None
            objs = [self._comment_obj(c) for c in sorted(self._comments.values(), key=lambda c: c.id)
                    if c.repo == repo.full_name and c.number == number and (since is None or c.updated_at >= since)]
        page, link = self._paginate(req, objs)
        return 200, page, link

    def _op_issues_create_comment(self, req, params, body, caller):
        with self._lock:
            repo = self._repo_for(params)
            number = int(params["issue_number"])
            pr = self.pulls.get((repo.full_name, number))
            if pr is None:
                raise HTTPError(404, "Not Found")
            c = self._new_comment(repo.full_name, number, body["body"], self.bot_login)
            obj = self._comment_obj(c)
        return 201, obj, {"Location": obj["url"]}

    def _get_comment(self, params) -> Comment:
        repo = self._repo_for(params)
        c = self._comments.get(int(params["comment_id"]))
        if c is None or c.repo != repo.full_name:
            raise HTTPError(404, "Not Found")
        return c

    def _op_issues_get_comment(self, req, params, body, caller):
        with self._lock:
            return 200, self._comment_obj(self._get_comment(params)), None

    def _op_issues_update_comment(self, req, params, body, caller):
        with self._lock:
            c = self._get_comment(params)
            if c.user != self.bot_login:
                self._violation(f"issues/update-comment: the App edited comment {c.id} written by {c.user!r}")
                raise HTTPError(403, "Resource not accessible by integration")
            if c.body != body["body"]:
                c.body = body["body"]
                c.edit_count += 1
                c.updated_at = _now()
            return 200, self._comment_obj(c), None

    def _op_reactions_create_for_issue_comment(self, req, params, body, caller):
        with self._lock:
            c = self._get_comment(params)
            for r in c.reactions:
                if r["user"] == self.bot_login and r["content"] == body["content"]:
                    return 200, self._reaction_obj(r), None
            r = {"id": self._next("reaction"), "user": self.bot_login, "content": body["content"], "created_at": _now()}
            c.reactions.append(r)
            return 201, self._reaction_obj(r), None
