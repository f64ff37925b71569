"""Response objects built from the spec's own examples (``openapi.example``), rewritten
to the stand-in's hosts and filled from its state: users, the App (integration),
installations, repositories, pulls, comments, reactions, check runs."""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any
from urllib.parse import quote

from . import openapi
from .model import (DEFAULT_APP_EVENTS, DEFAULT_APP_PERMISSIONS, PERMISSION_LEVELS, CheckRun, Comment, Installation,
                    Pull, Repo, _iso, _node_id)

GITHUB_API = "https://api.github.com"
GITHUB_WEB = "https://github.com"


def _rewrite(obj: Any, pairs: list[tuple[str, str]]) -> Any:
    """Replace substrings in every string of a JSON value, in one pass (longest match wins)."""
    pairs = [(a, b) for a, b in sorted(pairs, key=lambda p: -len(p[0])) if a]
    if not pairs:
        return obj
    table = dict(pairs)
    rx = re.compile("|".join(re.escape(a) for a, _ in pairs))

    def walk(o: Any) -> Any:
        if isinstance(o, str):
            return rx.sub(lambda m: table[m.group(0)], o)
        if isinstance(o, dict):
            return {k: walk(v) for k, v in o.items()}
        if isinstance(o, list):
            return [walk(v) for v in o]
        return o

    return walk(obj)


class ObjectsMixin:
    """GitHub-shaped JSON objects for the REST handlers."""

    def _host_pairs(self) -> list[tuple[str, str]]:
        return [
            (GITHUB_API, self.api_url),
            ("https://uploads.github.com", f"{self.web_url}/api/uploads"),
            (GITHUB_WEB, self.web_url),
        ]

    def _user(self, login: str, *, kind: str | None = None) -> dict:
        u = openapi.example("issue-comment")["user"]  # a `simple-user` for octocat
        if login == self.bot_login:
            ident, typ = self.bot_user_id, "Bot"
            url_login = quote(login, safe="")
            html = f"{self.web_url}/apps/{self.app_slug}"
        else:
            ident = self._user_id(login)
            typ = kind or ("Organization" if any(i.account == login and i.account_type == "Organization"
                                                 for i in self.installations.values()) else "User")
            url_login, html = login, f"{self.web_url}/{login}"
        u = _rewrite(u, [(f"{GITHUB_API}/users/octocat", f"{self.api_url}/users/{url_login}")] + self._host_pairs())
        u.update(login=login, id=ident, node_id=_node_id("User", ident), type=typ, html_url=html,
                 avatar_url=f"https://avatars.githubusercontent.com/u/{ident}?v=4")
        return u

    def _integration(self) -> dict:
        app = openapi.example("integration")
        owner_login = next(iter(i.account for i in self.installations.values()), "meshdiff-dev")
        perms = dict(DEFAULT_APP_PERMISSIONS)
        for inst in self.installations.values():
            for k, v in inst.permissions.items():
                if PERMISSION_LEVELS[v] > PERMISSION_LEVELS.get(perms.get(k, "none"), 0):
                    perms[k] = v
        app.update(
            id=self.app_id,
            slug=self.app_slug,
            client_id=self.client_id,
            node_id=_node_id("Integration", self.app_id),
            owner=self._user(owner_login),
            name=self.app_name,
            description="Column-level impact analysis of dbt pull requests (stand-in)",
            external_url=f"{self.web_url}/apps/{self.app_slug}",
            html_url=f"{self.web_url}/apps/{self.app_slug}",
            created_at=_iso(self.app_created_at),
            updated_at=_iso(self.app_created_at),
            permissions=perms,
            events=list(DEFAULT_APP_EVENTS),
        )
        app["installations_count"] = len(self.installations)
        return app

    def _installation_obj(self, inst: Installation) -> dict:
        obj = openapi.example("installation")
        acct = self._user(inst.account, kind=inst.account_type)
        if inst.account_type == "Organization":
            acct["url"] = f"{self.api_url}/orgs/{inst.account}"
        obj.update(
            id=inst.id,
            account=acct,
            repository_selection=inst.repository_selection,
            access_tokens_url=f"{self.api_url}/app/installations/{inst.id}/access_tokens",
            repositories_url=f"{self.api_url}/installation/repositories",
            html_url=(f"{self.web_url}/organizations/{inst.account}/settings/installations/{inst.id}"
                      if inst.account_type == "Organization" else f"{self.web_url}/settings/installations/{inst.id}"),
            app_id=self.app_id,
            client_id=self.client_id,
            app_slug=self.app_slug,
            target_id=inst.account_id,
            target_type=inst.account_type,
            permissions=dict(inst.permissions),
            events=list(inst.events),
            created_at=_iso(inst.created_at),
            updated_at=_iso(inst.created_at),
            single_file_name=None,
            has_multiple_single_files=False,
            single_file_paths=[],
            suspended_at=None,
            suspended_by=None,
        )
        return obj

    def _repo_pairs(self, repo: Repo, template_full: str) -> list[tuple[str, str]]:
        t_owner = template_full.split("/")[0]
        return [
            (f"{GITHUB_API}/repos/{template_full}", f"{self.api_url}/repos/{repo.full_name}"),
            (f"{GITHUB_WEB}/{template_full}", f"{self.web_url}/{repo.full_name}"),
            (f"git@github.com:{template_full}", f"git@{self.host}:{repo.full_name}"),
            (f"git:github.com/{template_full}", f"git://{self.host}/{repo.full_name}"),
            (f"git://github.com/{template_full}", f"git://{self.host}/{repo.full_name}"),
            (f"https://svn.github.com/{template_full}", f"{self.web_url}/{repo.full_name}"),
            (f"{GITHUB_API}/users/{t_owner}", f"{self.api_url}/users/{repo.owner}"),
        ] + self._host_pairs()

    def _repo_obj(self, repo: Repo, template: dict | None = None, *, full: bool = False) -> dict:
        """A `repository` / `full-repository` object for ``repo`` from a spec example."""
        if template is None:
            template = openapi.example("full-repository-default-response")
        obj = _rewrite(copy.deepcopy(template), self._repo_pairs(repo, template["full_name"]))
        inst = self.installations.get(repo.installation_id) if repo.installation_id else None
        owner_type = "Organization" if inst is None or inst.account_type == "Organization" else "User"
        if inst and inst.account != repo.owner:
            owner_type = "Organization"
        pushed = self._last_push(repo)
        obj.update(
            id=repo.id,
            node_id=_node_id("Repository", repo.id),
            name=repo.name,
            full_name=repo.full_name,
            owner=self._user(repo.owner, kind=owner_type),
            private=repo.private,
            html_url=f"{self.web_url}/{repo.full_name}",
            url=f"{self.api_url}/repos/{repo.full_name}",
            clone_url=f"{self.web_url}/{repo.full_name}.git",
            default_branch=repo.default_branch,
            fork=False,
            mirror_url=None,
            homepage=None,
            description=f"{repo.name} (stand-in)",
            archived=False,
            disabled=False,
            created_at=_iso(repo.created_at),
            updated_at=_iso(pushed),
            pushed_at=_iso(pushed),
        )
        obj.setdefault("language", None)  # required by `full-repository`, missing from the spec's example
        if "visibility" in obj:
            obj["visibility"] = "private" if repo.private else "public"
        if "permissions" in obj:
            obj["permissions"] = {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True}
        for k in ("temp_clone_token",):
            obj.pop(k, None)
        if full:
            for k in ("parent", "source", "template_repository"):
                obj.pop(k, None)
            if owner_type == "Organization":
                obj["organization"] = self._user(repo.owner, kind="Organization")
            else:
                obj.pop("organization", None)
            obj["open_issues_count"] = obj["open_issues"] = sum(
                1 for p in self.pulls.values() if p.repo == repo.full_name and p.state == "open")
        return obj

    def _last_push(self, repo: Repo) -> datetime:
        return repo.created_at

    def _pull_obj(self, pr: Pull) -> dict:
        repo = self._repo(pr.repo)
        obj = openapi.example("pull-request")
        tmpl_repo = obj["head"]["repo"]
        pairs = self._repo_pairs(repo, tmpl_repo["full_name"])
        t_full, t_num = tmpl_repo["full_name"], obj["number"]
        api_repo, web_repo = f"{self.api_url}/repos/{repo.full_name}", f"{self.web_url}/{repo.full_name}"
        pairs += [
            (f"{GITHUB_API}/repos/{t_full}/pulls/{t_num}", f"{api_repo}/pulls/{pr.number}"),
            (f"{GITHUB_API}/repos/{t_full}/issues/{t_num}", f"{api_repo}/issues/{pr.number}"),
            (f"{GITHUB_WEB}/{t_full}/pull/{t_num}", f"{web_repo}/pull/{pr.number}"),
            (f"{GITHUB_API}/repos/{t_full}/statuses/{obj['head']['sha']}", f"{api_repo}/statuses/{pr.head_sha}"),
        ]
        obj = _rewrite(obj, pairs)
        repo_obj = self._repo_obj(repo, tmpl_repo)
        files = self.git.diff(repo.git_dir, pr.base_sha, pr.head_sha)
        owner_user = self._user(repo.owner)
        obj.update(
            id=pr.id,
            node_id=_node_id("PullRequest", pr.id),
            number=pr.number,
            state=pr.state,
            locked=False,
            active_lock_reason=None,
            title=pr.title,
            body=pr.body,
            user=self._user(pr.user),
            labels=[],
            milestone=None,
            created_at=_iso(pr.created_at),
            updated_at=_iso(pr.updated_at),
            closed_at=_iso(pr.closed_at) if pr.closed_at else None,
            merged_at=_iso(pr.closed_at) if pr.merged and pr.closed_at else None,
            merge_commit_sha=pr.merge_sha,
            assignee=None,
            assignees=[],
            requested_reviewers=[self._user(u) for u in pr.requested_reviewers],
            requested_teams=[self._team(repo, t) for t in pr.requested_teams],
            author_association=self._association(repo, pr.user),
            auto_merge=None,
            draft=pr.draft,
            merged=pr.merged,
            mergeable=(pr.merge_sha is not None) if pr.state == "open" else None,
            rebaseable=None,
            mergeable_state=("clean" if pr.merge_sha else "dirty") if pr.state == "open" else "unknown",
            merged_by=None,
            comments=sum(1 for c in self._comments.values() if c.repo == pr.repo and c.number == pr.number),
            review_comments=0,
            commits=self.git.count_commits(repo.git_dir, self.git.merge_base(repo.git_dir, pr.base_sha, pr.head_sha),
                                           pr.head_sha),
            additions=sum(f["additions"] for f in files),
            deletions=sum(f["deletions"] for f in files),
            changed_files=len(files),
        )
        for side, ref, sha in (("head", pr.head_ref, pr.head_sha), ("base", pr.base_ref, pr.base_sha)):
            obj[side].update(label=f"{repo.owner}:{ref}", ref=ref, sha=sha, user=owner_user, repo=repo_obj)
        return obj

    def _team(self, repo: Repo, slug: str) -> dict:
        """A ``team`` of the repository's owner organisation (GitHub's example, renamed)."""
        obj = openapi.example("pull-request-review-request")["requested_teams"][0]
        ident = self._user_id(f"team:{repo.owner}/{slug}")
        obj.update(id=ident, node_id=_node_id("Team", ident), url=f"{self.api_url}/teams/{ident}",
                   html_url=f"{self.web_url}/orgs/{repo.owner}/teams/{slug}", name=slug, slug=slug,
                   description=None, permission=repo.teams[slug], type="organization",
                   organization_id=self._user_id(repo.owner),
                   members_url=f"{self.api_url}/teams/{ident}/members{{/member}}",
                   repositories_url=f"{self.api_url}/teams/{ident}/repos")
        return obj

    def _pull_simple(self, pr: Pull) -> dict:
        """A ``pull-request-simple`` (what lists and review requests return)."""
        obj = self._pull_obj(pr)
        for k in ("merged", "mergeable", "rebaseable", "mergeable_state", "merged_by", "comments",
                  "review_comments", "maintainer_can_modify", "commits", "additions", "deletions",
                  "changed_files"):
            obj.pop(k, None)
        return obj

    def _association(self, repo: Repo, login: str) -> str:
        if login == self.bot_login:
            return "NONE"
        if login == repo.owner:
            return "OWNER"
        perm = repo.collaborators.get(login)
        if perm in ("admin", "maintain", "write"):
            return "MEMBER"
        if perm in ("triage", "read"):
            return "COLLABORATOR"
        return "CONTRIBUTOR"

    def _comment_obj(self, c: Comment) -> dict:
        repo = self._repo(c.repo)
        obj = openapi.example("issue-comment")
        obj.update(
            id=c.id,
            node_id=_node_id("IssueComment", c.id),
            url=f"{self.api_url}/repos/{c.repo}/issues/comments/{c.id}",
            html_url=f"{self.web_url}/{c.repo}/pull/{c.number}#issuecomment-{c.id}",
            body=c.body,
            user=self._user(c.user),
            created_at=_iso(c.created_at),
            updated_at=_iso(c.updated_at),
            issue_url=f"{self.api_url}/repos/{c.repo}/issues/{c.number}",
            author_association=self._association(repo, c.user),
            performed_via_github_app=self._integration() if c.via_app else None,
            reactions=self._reaction_rollup(c),
        )
        obj.pop("pin", None)
        obj.pop("minimized", None)
        return obj

    def _reaction_rollup(self, c: Comment) -> dict:
        counts = {k: 0 for k in ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")}
        for r in c.reactions:
            counts[r["content"]] += 1
        return {"url": f"{self.api_url}/repos/{c.repo}/issues/comments/{c.id}/reactions",
                "total_count": len(c.reactions), **counts}

    def _reaction_obj(self, r: dict) -> dict:
        obj = openapi.example("reaction")
        obj.update(id=r["id"], node_id=_node_id("Reaction", r["id"]), user=self._user(r["user"]),
                   content=r["content"], created_at=_iso(r["created_at"]))
        return obj

    def _check_run_obj(self, r: CheckRun) -> dict:
        repo = self._repo(r.repo)
        obj = openapi.example("check-run")
        obj.update(
            id=r.id,
            head_sha=r.head_sha,
            node_id=_node_id("CheckRun", r.id),
            external_id=r.external_id,
            url=f"{self.api_url}/repos/{r.repo}/check-runs/{r.id}",
            html_url=f"{self.web_url}/{r.repo}/runs/{r.id}",
            details_url=r.details_url or f"{self.web_url}/apps/{self.app_slug}",
            status=r.status,
            conclusion=r.conclusion,
            started_at=_iso(r.started_at) if r.started_at else None,
            completed_at=_iso(r.completed_at) if r.completed_at else None,
            output={
                "title": r.output.get("title"),
                "summary": r.output.get("summary"),
                "text": r.output.get("text"),
                "annotations_count": len(r.annotations),
                "annotations_url": f"{self.api_url}/repos/{r.repo}/check-runs/{r.id}/annotations",
            },
            name=r.name,
            check_suite={"id": r.suite_id},
            app=self._integration(),
            pull_requests=[self._pull_minimal(p, repo) for p in self.pulls.values()
                           if p.repo == r.repo and p.state == "open" and p.head_sha == r.head_sha],
        )
        return obj

    def _pull_minimal(self, p: Pull, repo: Repo) -> dict:
        mini_repo = {"id": repo.id, "url": f"{self.api_url}/repos/{repo.full_name}", "name": repo.name}
        return {"url": f"{self.api_url}/repos/{repo.full_name}/pulls/{p.number}", "id": p.id, "number": p.number,
                "head": {"ref": p.head_ref, "sha": p.head_sha, "repo": mini_repo},
                "base": {"ref": p.base_ref, "sha": p.base_sha, "repo": mini_repo}}
