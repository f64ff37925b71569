"""The ``meshdiff`` command: analyze, lineage, demo, serve, worker.

Exit codes of ``analyze``: 0 nothing blocks, 1 the policy blocks, 2 the analysis could not
be done (the message says what failed and how to fix it). Never a traceback for bad input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from analysis.errors import AnalysisError

EXIT_OK, EXIT_BLOCK, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="meshdiff",
        description="Column-level, mesh-wide impact of a dbt change: which nodes of which projects it reaches.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="impact of the changes between two git refs of a dbt project")
    a.add_argument("--project", help="dbt project directory inside a git checkout (the changed project)")
    a.add_argument("--base", help="git ref to compare against (e.g. main)")
    a.add_argument("--head", default="HEAD", help="git ref with the change (default: HEAD, the last commit)")
    a.add_argument("--downstream", action="append", default=[], metavar="DIR",
                   help="a dbt project that consumes the changed one (repeatable; used as it is on disk)")
    a.add_argument("--upstream", action="append", default=[], metavar="DIR",
                   help="a dbt project the changed one reads through dbt-loom (repeatable)")
    a.add_argument("--mesh", metavar="FILE", help="a .meshdiff.yml listing the projects instead (see README)")
    _common(a)
    a.add_argument("--catalog", action="append", default=[], metavar="PROJECT=FILE",
                   help="a catalog.json with real column types for PROJECT")

    lin = sub.add_parser("lineage", help="column lineage of a mesh as it is on disk")
    lin.add_argument("--project", required=True, help="dbt project directory")
    lin.add_argument("--downstream", action="append", default=[], metavar="DIR")
    lin.add_argument("--upstream", action="append", default=[], metavar="DIR")
    lin.add_argument("--column", action="append", default=[],
                     help="a column as <unique_id>.<column>, e.g. model.shop.orders.v2.amount (repeatable)")
    _common(lin)

    d = sub.add_parser("demo", help="run the analysis on the bundled example mesh with a breaking change")
    d.add_argument("--format", choices=("markdown", "json"), default="markdown")
    d.add_argument("--examples", default=None, help="folder of the example mesh (default: the bundled one)")

    s = sub.add_parser("serve", help="run the webhook receiver (gunicorn)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=3000)
    w = sub.add_parser("worker", help="run a Celery worker (same as `celery -A bot.tasks worker`)")
    w.add_argument("celery_args", nargs=argparse.REMAINDER, help="extra celery worker arguments")
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("markdown", "json"), default="markdown")
    p.add_argument("--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument("--dialect", action="append", default=[], metavar="PROJECT=DIALECT",
                   help="sqlglot dialect for PROJECT (default: from the manifest's adapter)")
    p.add_argument("--target", action="append", default=[], metavar="PROJECT=NAME",
                   help="dbt target name PROJECT is compiled with, i.e. what `target.name` renders to "
                        "(default: meshdiff)")
    p.add_argument("--cache-dir", default=None, help="cache folder (default: $MESHDIFF_CACHE_DIR or ~/.cache/meshdiff)")
    p.add_argument("--compile-timeout", type=float, default=300.0, help="seconds per dbt invocation")
    p.add_argument("--lineage-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                   help="time limit of the column lineage of one model (default 10); a model that takes "
                        "longer gets unknown lineage")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _pairs(values: list[str], flag: str, example: str = "shop=snowflake") -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key or not val:
            raise AnalysisError(f"{flag} {value!r} is not PROJECT=VALUE", hint=f"e.g. {flag} {example}")
        out[key] = val
    return out


def _dialects(values: list[str]) -> dict[str, str]:
    from analysis.lineage.dialects import check_dialect

    out = _pairs(values, "--dialect")
    for project, dialect in out.items():
        try:
            out[project] = check_dialect(dialect)
        except AnalysisError as exc:
            raise AnalysisError(f"--dialect {project}={dialect}: {exc.message}", hint=exc.hint) from None
    return out


def _targets(values: list[str]) -> dict[str, str]:
    from analysis.dbt.compile import check_target

    out = _pairs(values, "--target", "shop=prod")
    for name in out.values():
        check_target(name)
    return out


def _catalog_files(values: list[str], projects: list[str]) -> dict[str, str]:
    """``--catalog PROJECT=FILE`` pairs, checked before anything is compiled: PROJECT is one of
    the analysed projects and FILE a catalog holding its nodes."""
    from analysis.pipeline import _catalogs

    out = {}
    for project, path in _pairs(values, "--catalog", "shop=target/catalog.json").items():
        if project not in projects:
            raise AnalysisError(f"--catalog {project}={path}: no project named {project!r} is analysed",
                                hint="PROJECT is a dbt project name (`name:` of its dbt_project.yml), one of: "
                                + ", ".join(projects))
        out[project] = os.path.abspath(path)
    _catalogs(out)
    return out


def _emit(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def _spec(path: str, name: str, dialects: dict[str, str], targets: dict[str, str]):
    from analysis.pipeline import ProjectSpec

    return ProjectSpec(path=path, dialect=dialects.get(name), name=name, target=targets.get(name))


def _specs(paths: list[str], dialects: dict[str, str], targets: dict[str, str]):
    from analysis.dbt.compile import read_project

    return [_spec(os.path.abspath(path), read_project(path).name, dialects, targets) for path in paths]


def cmd_analyze(args) -> int:
    from analysis.pipeline import AnalysisRequest, analyze
    from analysis.impact.policy import Policy
    from analysis.report import GitRef
    from bot.jobs import worktree

    dialects, targets = _dialects(args.dialect), _targets(args.target)
    policy = Policy()
    project, downstream, upstream = args.project, list(args.downstream), list(args.upstream)
    if args.mesh:
        project, downstream, upstream, policy = _from_mesh(args.mesh, project, downstream, upstream, dialects, targets)
    if not project:
        raise AnalysisError("no project to analyse", hint="pass --project DIR (or --mesh FILE listing projects)")
    if not args.base:
        raise AnalysisError("no base ref", hint="pass --base REF, e.g. --base main")
    checkout = worktree.locate(project)
    from analysis.dbt.compile import read_project

    name = read_project(project).name  # fail early, with the clear message, on a folder that is no dbt project
    base_sha, head_sha = worktree.resolve(checkout, args.base), worktree.resolve(checkout, args.head)
    down_specs, up_specs = _specs(downstream, dialects, targets), _specs(upstream, dialects, targets)
    catalogs = _catalog_files(args.catalog, [name, *(s.name for s in [*down_specs, *up_specs])])
    with worktree.worktrees(checkout, {"base": base_sha, "head": head_sha}) as dirs:
        from analysis.dbt.compile import read_project

        req = AnalysisRequest(
            changed=_spec(dirs["head"], read_project(dirs["head"]).name, dialects, targets),
            base_path=dirs["base"],
            base=GitRef(args.base, base_sha), head=GitRef(args.head, head_sha),
            downstream=down_specs, upstream=up_specs, repo_subdir=checkout.subdir, policy=policy,
            cache_dir=args.cache_dir, compile_timeout_s=args.compile_timeout, lineage_timeout_s=args.lineage_timeout,
            catalogs=catalogs,
        )
        report = analyze(req)
    _emit(_render(report, args.format), args.output)
    if report.errors:
        for error in report.errors:
            print(f"meshdiff: {error}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_BLOCK if report.conclusion == "failure" else EXIT_OK


def _render(report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    from bot.render import render_markdown

    return render_markdown(report, max_chars=10_000_000)


def _from_mesh(path, project, downstream, upstream, dialects, targets):
    """Projects, policy, dialects and targets of a ``.meshdiff.yml``; flags given on the command
    line win over the file's ``dialect``/``target``."""
    from bot.config import ConfigError, parse_mesh_config

    try:
        with open(path, encoding="utf-8") as handle:
            config = parse_mesh_config(handle.read(), source=path)
    except OSError as exc:
        raise AnalysisError(f"cannot read mesh file {path}: {exc.strerror}", hint="check the path") from None
    except ConfigError as exc:
        raise AnalysisError(str(exc)) from None
    root = os.path.dirname(os.path.abspath(path))
    local = [e for e in config.projects]
    if not project:
        if not local:
            raise AnalysisError(f"{path} lists no projects", hint="add `projects: [{path: ...}]`")
        project = os.path.join(root, local[0].path)
    def overrides(entry, full: str) -> None:
        if entry.dialect or entry.target:
            from analysis.dbt.compile import read_project

            name = read_project(full).name
            if entry.dialect:
                dialects.setdefault(name, entry.dialect)
            if entry.target:
                targets.setdefault(name, entry.target)

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


def cmd_lineage(args) -> int:
    from analysis.lineage.columns import ColumnRef
    from analysis.impact.propagate import World, build_index, reachable_columns
    from analysis.pipeline import mesh_at_rest

    dialects, targets = _dialects(args.dialect), _targets(args.target)
    main = _specs([args.project], dialects, targets)[0]
    state = mesh_at_rest(main, _specs(args.downstream, dialects, targets), _specs(args.upstream, dialects, targets),
                         cache_dir=args.cache_dir, compile_timeout_s=args.compile_timeout,
                         lineage_timeout_s=args.lineage_timeout)
    for warning in state.warnings:
        print(f"meshdiff: {warning}", file=sys.stderr)
    index = build_index([World(state.mesh, state.lineage.models, state.lineage.schemas, state.lineage.readers)])
    if args.column:
        result = {}
        for spec in args.column:
            node_id, _, col = spec.rpartition(".")
            if node_id not in state.mesh.nodes:
                raise AnalysisError(f"--column {spec}: no node {node_id!r} in the mesh",
                                    hint="name columns as <unique_id>.<column>, e.g. model.shop.orders.v2.amount")
            known = state.lineage.schemas.get(node_id) or {}
            if known and col.lower() not in known:
                raise AnalysisError(f"--column {spec}: {node_id} has no column {col!r}",
                                    hint="its columns: " + ", ".join(known))
            result[spec] = reachable_columns(index, ColumnRef(node_id, col.lower()))
        text = json.dumps(result, indent=2) + "\n" if args.format == "json" else _tree(result)
    else:
        data = _lineage_dump(state)
        text = json.dumps(data, indent=2) + "\n" if args.format == "json" else _dump_markdown(data)
    _emit(text, args.output)
    return EXIT_OK


def _lineage_dump(state) -> dict:
    models = {}
    for node_id in state.mesh.order():
        lin = state.lineage.models.get(node_id)
        if lin is None:
            continue
        models[node_id] = {
            "status": lin.status,
            **({"reason": lin.reason} if lin.reason else {}),
            "columns": {c: [{"from": str(u.ref), "kind": u.kind} for u in ups] for c, ups in lin.columns.items()},
            "row_shaping": sorted(str(r) for r in lin.row_shaping),
        }
    return {"models": models}


def _tree(result: dict[str, list[str]]) -> str:
    lines = []
    for column, reached in result.items():
        lines.append(f"- `{column}` reaches {len(reached)} column(s)")
        lines += [f"  - `{r}`" for r in reached]
    return "\n".join(lines) + "\n"


def _dump_markdown(data: dict) -> str:
    lines = []
    for node_id, model in data["models"].items():
        lines.append(f"- `{node_id}`" + (f" ({model['status']}: {model.get('reason', '')})" if model["status"] != "ok" else ""))
        for col, ups in model["columns"].items():
            src = ", ".join(f"`{u['from']}` ({u['kind']})" for u in ups) or "no upstream column"
            lines.append(f"  - `{col}` ← {src}")
        if model["row_shaping"]:
            lines.append("  - rows shaped by: " + ", ".join(f"`{r}`" for r in model["row_shaping"]))
    return "\n".join(lines) + "\n"


def cmd_demo(args) -> int:
    from bot.demo import run_demo

    report = run_demo(args.examples)
    sys.stdout.write(_render(report, args.format))
    # the demo's job is to show a report: 0 once shown (its verdict says the change blocks), unlike
    # `analyze`, whose exit code is the gate; 2 when the analysis could not be done
    return EXIT_ERROR if report.errors else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "analyze":
            return cmd_analyze(args)
        if args.command == "lineage":
            return cmd_lineage(args)
        if args.command == "demo":
            return cmd_demo(args)
        if args.command == "serve":
            from webhooks.app import serve

            serve(args.host, args.port)
            return EXIT_OK
        if args.command == "worker":
            from bot.tasks import run_worker

            return run_worker(args.celery_args) or EXIT_OK
    except AnalysisError as exc:
        print(f"meshdiff: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
