"""One analysis job of the App: checkout, mesh configuration, the pipeline, annotations.

``run_job`` returns a :class:`bot.result.JobResult` (reports, annotations, or why there was
nothing to analyse); it never publishes. Failures it can explain (configuration, checkout,
analysis) become reports with ``errors`` — a ``failure`` conclusion, never "safe". Transient
GitHub API failures propagate so the task can retry.

Once every input is fetched (the PR's head and merge base, the mesh configuration, the tips of
the other repositories' branches) their content is known: :func:`inputs_key` names it, and
``results.get_or_compute(key, analyse)`` returns a result already computed for the same inputs
instead of compiling again (``bot.jobs.job.ResultCache``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from typing import Callable, Protocol

from github import GithubException

from analysis import errors as _errors
from analysis.impact import Policy, decide
from analysis.report import GitRef, Report
from bot.result import JobResult
from bot.jobs.checkout import CheckoutError, GitRepo, new_workspace, repo_url
from bot.github import build_annotations
from bot.config import (CONFIG_FILE, ConfigError, DownstreamEntry, MeshConfig, ProjectEntry, merge_config,
                        parse_mesh_config, read_config_file)
from bot.discovery import discover_projects, find_changed_projects

log = logging.getLogger("meshdiff.runner")


@dataclass
class PullInfo:
    repo: str
    number: int
    base_ref: str
    base_sha: str
    head_ref: str
    head_sha: str


def error_report(project: str, base: GitRef, head: GitRef, message: str, policy: Policy | None = None) -> Report:
    report = Report(changed_project=project, base=base, head=head, errors=[message])
    return decide(report, policy or Policy())


def org_defaults(gh, owner: str, notes: list[str] | None = None) -> MeshConfig | None:
    """``.meshdiff.yml`` of the owner's ``.github`` repository, or ``None``. A 404 (no such
    repository or file, or the App is not installed on it: GitHub does not say which) is quiet;
    a 403 (installed without `contents: read`) adds a note for the comment to ``notes``."""
    try:
        content = gh.withLazy(True).get_repo(f"{owner}/.github").get_contents(CONFIG_FILE)
    except GithubException as exc:
        if exc.status in (403, 404) and not _rate_limited(exc):
            if exc.status == 403 and notes is not None:
                notes.append(f"Organisation-wide defaults were not read: `{owner}/.github` answered 403. "
                             f"Give the App `contents: read` on `{owner}/.github` for its `{CONFIG_FILE}` to apply.")
            return None
        raise
    if isinstance(content, list) or getattr(content, "type", "file") != "file":
        return None
    text = content.decoded_content.decode("utf-8", "replace")
    return parse_mesh_config(text, source=f"{owner}/.github:{CONFIG_FILE}")


def _rate_limited(exc: GithubException) -> bool:
    from bot.github import is_transient

    return is_transient(exc)


def _project_name(root: str, entry: ProjectEntry | DownstreamEntry) -> str:
    if entry.name:
        return entry.name
    try:
        from analysis.dbt import read_project

        return read_project(os.path.join(root, entry.path)).name
    except _errors.INTERRUPTS:
        raise
    except Exception:
        return os.path.basename(entry.path) or "project"


def _upstream_names(project_dir: str) -> set[str]:
    try:
        from analysis.dbt import read_project

        return set(read_project(project_dir).upstream_names)
    except _errors.INTERRUPTS:
        raise
    except Exception:
        return set()


#: bump when a stored result of an older meshdiff must not be reused
RESULT_FORMAT = 1


class Results(Protocol):
    def get_or_compute(self, key: str, compute: Callable[[], JobResult]) -> JobResult: ...


class _NoStore:
    def get_or_compute(self, key: str, compute: Callable[[], JobResult]) -> JobResult:
        return compute()


def inputs_key(*, repo: str, pull: PullInfo, merge_base: str, config: MeshConfig, external: dict,
               installation_id: int | None = None) -> str:
    """The content of everything an analysis reads: the commits, the configuration (org defaults
    merged), the other repositories' fetched tips and the meshdiff version; per installation (as
    its compile cache is)."""
    from importlib import metadata

    try:
        version = metadata.version("meshdiff")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        version = "source"
    material = [RESULT_FORMAT, version, installation_id, repo, pull.base_ref, pull.head_ref, pull.head_sha, merge_base,
                repr(config), sorted(f"{r}@{b}={sha}" for (r, b), (_, sha) in external.items())]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def run_job(*, gh, token: str, pull: PullInfo, web_url: str, work_dir: str | None = None,
            compile_timeout_s: float = 300.0, cache_dir: str | None = None, keep_workspace: bool = False,
            workspace: str | None = None, results: Results | None = None, installation_id: int | None = None,
            cache_key: bytes | None = None) -> JobResult:
    """Analyse ``pull`` in ``workspace`` (the caller's, left in place) or in a new folder of
    ``work_dir`` (removed at the end unless ``keep_workspace``). The cache of an installation is
    its own: ``<cache root>/installations/<id>`` (unless ``cache_dir`` is given), its records
    sealed with ``cache_key``."""
    from analysis.store import cache_root, maybe_trim

    if cache_dir is None and installation_id is not None:
        cache_dir = installation_cache_dir(installation_id)
    ws = workspace or new_workspace(work_dir)
    try:
        return _run(gh, token, pull, web_url, ws, compile_timeout_s, cache_dir, results or _NoStore(), cache_key,
                    installation_id)
    finally:
        if workspace is None and not keep_workspace:
            shutil.rmtree(ws, ignore_errors=True)
        maybe_trim(cache_root())  # the size budget holds for all installations together


def installation_cache_dir(installation_id: int) -> str:
    """The cache folder of one App installation (no installation reads another's records)."""
    from analysis.store import cache_root

    return os.path.join(cache_root(), "installations", str(int(installation_id)))


def _run(gh, token, pull: PullInfo, web_url, ws, compile_timeout_s, cache_dir, results: Results, cache_key=None,
         installation_id=None) -> JobResult:
    from analysis.dbt import SandboxConfig, SandboxError
    from analysis.pipeline import ProjectSpec

    base = GitRef(pull.base_ref, pull.base_sha)
    head = GitRef(pull.head_ref, pull.head_sha)
    repo_name = pull.repo.split("/", 1)[1]
    sandbox = SandboxConfig.from_env("required")  # the App never runs PR code unfenced, unless turned off
    try:
        sandbox.active()
    except SandboxError as exc:  # fail closed: the check run says what the host lacks
        return JobResult([error_report(repo_name, base, head, str(exc))])
    try:
        git = GitRepo.init(os.path.join(ws, "git", "self.git"), repo_url(web_url, pull.repo), token)
        git.fetch_commit(pull.head_sha, fallback_ref=f"refs/pull/{pull.number}/head")
        git.fetch_commit(pull.base_sha, fallback_ref=f"refs/heads/{pull.base_ref}")
        merge_base = git.merge_base(pull.base_sha, pull.head_sha)
        base = GitRef(pull.base_ref, merge_base)
        base_root = git.export(merge_base, os.path.join(ws, "base"))
        head_root = git.export(pull.head_sha, os.path.join(ws, "head"))
        changed_lines = git.changed_lines(merge_base, pull.head_sha)
        changed_paths = git.changed_paths(merge_base, pull.head_sha)
    except CheckoutError as exc:
        msg = (f"meshdiff could not fetch {pull.repo} at `{pull.head_sha[:12]}`: {exc}\n"
               "→ check that the App is installed on the repository with `contents: read`, then comment "
               "`/meshdiff rerun`")
        return JobResult([error_report(repo_name, base, head, msg)])

    notes: list[str] = []
    try:
        repo_cfg = read_config_file(base_root, source=f"{pull.repo}:{CONFIG_FILE}@{pull.base_ref}")
        config = merge_config(org_defaults(gh, pull.repo.split("/")[0], notes), repo_cfg)
    except ConfigError as exc:
        return JobResult([error_report(repo_name, base, head, f"{exc}\n→ fix {CONFIG_FILE} on {pull.base_ref}")])
    if CONFIG_FILE in changed_paths:
        notes.append(f"This PR changes `{CONFIG_FILE}`; the version on `{pull.base_ref}` applies until it is merged.")
    if not config.projects:
        found = {p.path: p for p in discover_projects(base_root) + discover_projects(head_root)}
        config = MeshConfig(projects=sorted(found.values(), key=lambda p: p.path), downstream=config.downstream,
                            policy=config.policy, source=config.source or "discovery", present=config.present,
                            discovered=True, notify=config.notify)
    if not config.projects:
        return JobResult(nothing=(f"No dbt project found in {pull.repo}: no `{CONFIG_FILE}` lists one and no "
                                  "`dbt_project.yml` was found (4 levels deep). Nothing was analysed."), notes=notes)
    changed = find_changed_projects(config, changed_paths)
    if not changed:
        listed = ", ".join(f"`{p.path or '.'}`" for p in config.projects)
        return JobResult(nothing=(f"This pull request changes no file of the dbt project(s) {listed}; "
                                  "nothing was analysed."), notes=notes)

    # projects of other repositories: their default (or configured) branch, used as they are
    errors: list[str] = []
    external: dict[str, list[ProjectSpec]] = {"downstream": [], "upstream": []}
    same_repo_down: list[DownstreamEntry] = []
    fetched: dict[tuple[str, str], tuple[str, str]] = {}  # (repo, branch) -> (tree, sha)
    for role, entries in (("downstream", config.downstream), ("upstream", config.upstream)):
        for entry in entries:
            if not entry.repo or entry.repo == pull.repo:
                same_repo_down.append(entry)
                continue
            try:
                root = _fetch_branch_tree(gh, token, web_url, ws, entry, fetched)
            except (CheckoutError, GithubException) as exc:
                if isinstance(exc, GithubException) and _rate_limited(exc):
                    raise
                errors.append(f"meshdiff could not read the {role} project `{entry.path}` of `{entry.repo}`: "
                              f"{_describe(exc)}\n→ install the App on `{entry.repo}` (or fix `{role}` in "
                              f"{CONFIG_FILE}), then comment `/meshdiff rerun`")
                continue
            project_dir = os.path.join(root, entry.path)
            if not os.path.isfile(os.path.join(project_dir, "dbt_project.yml")):
                errors.append(f"`{entry.repo}` has no dbt project at `{entry.path}` (no dbt_project.yml)\n"
                              f"→ fix `{role}` in {CONFIG_FILE}")
                continue
            external[role].append(_spec(project_dir, entry, root))

    def analyse() -> JobResult:
        return _analyse(pull, config, changed, external, same_repo_down, errors, notes, base, head, base_root,
                        head_root, changed_lines, ws, compile_timeout_s, cache_dir, sandbox, cache_key)

    if errors:  # an input is missing (maybe for a moment): analyse, but never store or reuse that
        return analyse()
    key = inputs_key(repo=pull.repo, pull=pull, merge_base=merge_base, config=config, external=fetched,
                     installation_id=installation_id)
    return results.get_or_compute(key, analyse)


def _analyse(pull, config, changed, external, same_repo_down, errors, notes, base, head, base_root, head_root,
             changed_lines, ws, compile_timeout_s, cache_dir, sandbox, cache_key=None) -> JobResult:
    from analysis.pipeline import AnalysisRequest, analyze

    reports: list[Report] = []
    for project in changed:
        head_dir = os.path.join(head_root, project.path)
        base_dir = os.path.join(base_root, project.path)
        name = _project_name(head_root if os.path.isdir(head_dir) else base_root, project)
        if not os.path.isfile(os.path.join(head_dir, "dbt_project.yml")):
            reports.append(error_report(name, base, head, (
                f"This PR removes the dbt project `{project.path or '.'}` ({name}); every consumer of its models "
                f"will break.\n→ deprecate its public models first, or remove it from {CONFIG_FILE}"), config.policy))
            continue
        uses = _upstream_names(head_dir)
        upstream, downstream = list(external["upstream"]), list(external["downstream"])
        for other in config.projects:
            if other.path == project.path:
                continue
            other_dir = os.path.join(head_root, other.path)
            if not os.path.isfile(os.path.join(other_dir, "dbt_project.yml")):
                continue
            spec = _spec(other_dir, other, head_root)
            (upstream if _project_name(head_root, other) in uses else downstream).append(spec)
        for entry in same_repo_down:
            other_dir = os.path.join(head_root, entry.path)
            if entry.path != project.path and os.path.isfile(os.path.join(other_dir, "dbt_project.yml")) \
                    and all(s.path != other_dir for s in upstream + downstream):
                downstream.append(_spec(other_dir, entry, head_root))
        request = AnalysisRequest(
            changed=_spec(head_dir, project, head_root),
            base_path=base_dir, base_root=base_root, sandbox=sandbox,
            base=base, head=head, downstream=downstream, upstream=upstream,
            repo_subdir=project.path, policy=config.policy, work_dir=os.path.join(ws, "work"),
            compile_timeout_s=compile_timeout_s, cache_key=cache_key, **({"cache_dir": cache_dir} if cache_dir else {}),
        )
        report = analyze(request)
        if errors:
            report.errors.extend(errors)
            report = decide(report, config.policy)
        reports.append(report)
    annotations = build_annotations(reports, changed_lines, head_root)
    return JobResult(reports, annotations, None, notes, config.notify.to_dict())


def _spec(path: str, entry: ProjectEntry | DownstreamEntry, root: str):
    """The pipeline's ProjectSpec of a configured project found at ``path`` in the checkout ``root``
    (all the sandbox lets its dbt read)."""
    from analysis.pipeline import ProjectSpec

    return ProjectSpec(path=path, dialect=entry.dialect, name=entry.name, target=entry.target, root=root,
                       env=dict(entry.env), vars=dict(entry.vars))


def _describe(exc: Exception) -> str:
    if isinstance(exc, GithubException):
        return f"GitHub answered {exc.status}" + (" (not found or no access)" if exc.status in (403, 404) else "")
    return str(exc)


def _fetch_branch_tree(gh, token, web_url, ws, entry: DownstreamEntry, fetched: dict) -> str:
    branch = entry.branch or gh.get_repo(entry.repo).default_branch
    key = (entry.repo, branch)
    if key not in fetched:
        safe = entry.repo.replace("/", "__")
        git = GitRepo.init(os.path.join(ws, "git", f"{safe}.git"), repo_url(web_url, entry.repo), token)
        sha = git.fetch_branch(branch)
        fetched[key] = (git.export(sha, os.path.join(ws, "down", safe, branch.replace("/", "__"))), sha)
    return fetched[key][0]
