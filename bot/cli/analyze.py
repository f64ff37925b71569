"""``meshdiff analyze``: the impact of the changes between two git refs of a dbt project.

Everything the command line names is checked before the first compile (projects, refs,
mesh file, pairs, catalogs, output file, cache folder); then base and head are checked out
as git worktrees and analysed. Exit code: 0 nothing blocks, 1 the policy blocks, 2 the
analysis could not be done.
"""
from __future__ import annotations

import os

from analysis.errors import AnalysisError
from bot.cli import inputs
from bot.cli.output import deliver
from bot.cli.parser import EXIT_BLOCK, EXIT_ERROR, EXIT_OK
from bot.cli.progress import observer


def run(args) -> int:
    from analysis.dbt import read_project
    from analysis.impact import Policy
    from analysis.pipeline import AnalysisRequest, analyze
    from analysis.report import UNCOMMITTED, GitRef
    from bot import worktree

    dialect_of, target_of = inputs.dialects(args.dialect), inputs.targets(args.target)
    env, dbt_vars, settings = inputs.env_values(args.env), inputs.vars_value(args.vars), {}
    output = inputs.output_file(args.output)
    policy = Policy()
    project, downstream, upstream = args.project, list(args.downstream), list(args.upstream)
    if args.mesh:
        project, downstream, upstream, policy = from_mesh(args.mesh, project, downstream, upstream,
                                                          dialect_of, target_of, settings)
    if not project:
        raise AnalysisError("no project to analyse", hint="pass --project DIR (or --mesh FILE listing projects)")
    name = read_project(project).name  # a folder that is no dbt project stops here, with the clear message
    checkout = worktree.locate(project)
    base_sha, head_sha = worktree.resolve(checkout, args.base), worktree.resolve(checkout, args.head)
    down_specs = inputs.specs(downstream, dialect_of, target_of)
    up_specs = inputs.specs(upstream, dialect_of, target_of)
    catalogs = inputs.catalog_files(args.catalog, [name, *(s.name for s in [*down_specs, *up_specs])])
    cache_dir = inputs.cache_dir(args.cache_dir)
    sandbox = inputs.sandbox(args.sandbox)
    inputs.with_env([*down_specs, *up_specs], settings, env, dbt_vars)
    with worktree.worktrees(checkout, {"base": base_sha, "head": head_sha}) as dirs, \
            observer(args.quiet) as progress:
        changed = inputs.spec(dirs["head"], read_project(dirs["head"]).name, dialect_of, target_of)
        inputs.with_env([changed], settings, env, dbt_vars)
        req = AnalysisRequest(
            changed=changed,
            base_path=dirs["base"],
            base=GitRef(args.base, base_sha), head=GitRef(args.head, head_sha),
            downstream=down_specs, upstream=up_specs, repo_subdir=checkout.subdir, policy=policy,
            cache_dir=cache_dir, compile_timeout_s=args.compile_timeout, lineage_timeout_s=args.lineage_timeout,
            catalogs=catalogs, progress=progress, sandbox=sandbox,
        )
        report = analyze(req)
    edits = worktree.uncommitted(checkout, head_sha)
    if edits:  # the head is the last commit: what the user edited since is not in this report
        shown = ", ".join(edits[:5]) + (f" and {len(edits) - 5} more" if len(edits) > 5 else "")
        report.warnings.insert(0, f"{UNCOMMITTED} {len(edits)} file(s) of {name} differ from the commit --head "
                                  f"{args.head} names ({head_sha[:12]}): {shown}; meshdiff analyses commits only: "
                                  f"commit the edits (on a branch) and run again to include them")
    deliver(report, args.format, output)
    if report.errors:
        return EXIT_ERROR
    return EXIT_BLOCK if report.conclusion == "failure" else EXIT_OK


def from_mesh(path, project, downstream, upstream, dialect_of, target_of, settings=None):
    """Projects, policy, dialects and targets of a ``.meshdiff.yml``; flags given on the command
    line win over the file's ``dialect``/``target``. ``settings`` (project name -> (env, vars))
    receives each entry's ``env:``/``vars:``."""
    settings = {} if settings is None else settings
    from analysis.dbt import read_project
    from bot.config import ConfigError, parse_mesh_config

    try:
        config = parse_mesh_config(inputs.text_file(path, "--mesh"), source=path)
    except ConfigError as exc:
        raise AnalysisError(str(exc), hint=f"fix {path}: its format is in the README, \"Mesh configuration\"") from None
    root = os.path.dirname(os.path.abspath(path))
    local = list(config.projects)
    if not project:
        if not local:
            raise AnalysisError(f"{path} lists no projects", hint="add `projects: [{path: ...}]`")
        project = os.path.join(root, local[0].path)

    def overrides(entry, full: str) -> None:
        if entry.env or entry.vars:
            settings[read_project(full).name] = (dict(entry.env), dict(entry.vars))
        if entry.dialect or entry.target:
            name = read_project(full).name
            if entry.dialect:
                dialect_of.setdefault(name, entry.dialect)
            if entry.target:
                target_of.setdefault(name, entry.target)

    for entry in config.upstream:
        if entry.repo:
            raise AnalysisError(f"{path}: upstream entry {entry.repo}:{entry.path} is another repository",
                                hint="the CLI reads local folders: check that repository out and pass --upstream DIR")
        full = os.path.join(root, entry.path)
        overrides(entry, full)
        upstream.append(full)
    for entry in [*local, *config.downstream]:
        full = os.path.join(root, entry.path)
        if getattr(entry, "repo", None):
            raise AnalysisError(f"{path}: downstream entry {entry.repo}:{entry.path} is another repository",
                                hint="the CLI reads local folders: check that repository out and pass --downstream DIR")
        overrides(entry, full)
        if os.path.abspath(full) != os.path.abspath(project) and full not in downstream:
            downstream.append(full)
    return project, downstream, upstream, config.policy
