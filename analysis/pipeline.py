"""From project directories to a Report: the one entry point the CLI and the App share.

Order of work (mesh order): upstream projects (if any) once; the changed project at base
and at head; then every downstream project, in dependency order, compiled once against the
base manifests ("the world before") and once against the head manifests ("the world after").
Then: lineage of both worlds (cached by content), the diff of the changed project, the
propagation of its changes, the policy.

``analyze`` never raises for bad input: what could not be done lands in ``Report.errors``
(and the conclusion is ``failure``), with what happened, where, and what to do.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import networkx as nx

from analysis.dbt import compile as dbt
from analysis.dbt.sandbox import SandboxConfig
from analysis.impact.diff import diff_project, sql_changed
from analysis.errors import AnalysisError
from analysis.store.gcpause import gc_session
from analysis.impact.propagate import World, build_index, failing_nodes, impacts_from_hits, propagate
from analysis.mesh import Mesh, build_mesh
from analysis.dbt.nodes import Project
from analysis.dbt.snapshot import ProjectLoader
from analysis.progress import Observer, counter, step
from analysis.store.trim import maybe_trim
from analysis.impact.policy import Policy, decide
from analysis.impact.unblock import suggest
from analysis.report import BrokenProject, Change, GitRef, Report


@dataclass
class ProjectSpec:
    path: str
    dialect: str | None = None
    name: str | None = None
    #: the dbt target name to compile with (what ``target.name`` renders to); default ``meshdiff``
    target: str | None = None
    #: the checkout holding the project: all a sandboxed dbt may read of the disk (``local:``
    #: packages, dbt-loom files); default: the git checkout around ``path``, else ``path``
    root: str | None = None


@dataclass
class AnalysisRequest:
    changed: ProjectSpec
    base_path: str
    base: GitRef
    head: GitRef
    downstream: list[ProjectSpec] = field(default_factory=list)
    upstream: list[ProjectSpec] = field(default_factory=list)
    repo_subdir: str = ""
    policy: Policy = field(default_factory=Policy)
    work_dir: str | None = None
    cache_dir: str | None = None
    compile_timeout_s: float = 300.0
    lineage_timeout_s: float = 10.0
    #: project name -> path of a catalog.json (column types from the warehouse)
    catalogs: dict[str, str] = field(default_factory=dict)
    #: told each step (compiles, lineage, impact) as it starts and ends: :mod:`analysis.progress`
    progress: Observer | None = None
    #: the checkout holding ``base_path`` (see :attr:`ProjectSpec.root`)
    base_root: str | None = None
    #: how dbt is fenced in (default: ``SandboxConfig.from_env()``, the policy ``auto``)
    sandbox: SandboxConfig | None = None


def default_cache_dir() -> str:
    return os.environ.get("MESHDIFF_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "meshdiff")


def analyze(req: AnalysisRequest) -> Report:
    report = Report(changed_project=req.changed.name or os.path.basename(req.changed.path.rstrip("/")),
                    base=req.base, head=req.head)
    try:
        with gc_session():
            _analyze(req, report)
    except AnalysisError as exc:
        report.errors.append(str(exc))
    maybe_trim(req.cache_dir or default_cache_dir())
    return decide(report, req.policy)


@dataclass
class _Unit:
    spec: ProjectSpec
    file: dbt.DbtProjectFile


def _analyze(req: AnalysisRequest, report: Report) -> None:
    clock = time.monotonic()
    cache_dir = req.cache_dir or default_cache_dir()
    sandbox = req.sandbox or SandboxConfig.from_env()
    head_file = dbt.read_project(req.changed.path, req.changed.root)
    report.changed_project = head_file.name
    if os.path.isfile(os.path.join(req.base_path, "dbt_project.yml")):
        base_file = dbt.read_project(req.base_path, req.base_root)  # a broken one is an error, not "every node added"
    else:
        base_file = None
        report.warnings.append(f"{head_file.name} is not a dbt project at {req.base.ref}: every node counts as added")
    upstream = [_Unit(s, dbt.read_project(s.path, s.root)) for s in req.upstream]
    downstream = [_Unit(s, dbt.read_project(s.path, s.root)) for s in req.downstream]
    _check_names(head_file, upstream, downstream)
    downstream = _connected(head_file.name, downstream, report)
    report.projects = [u.file.name for u in upstream] + [head_file.name] + [u.file.name for u in downstream]

    def run(unit_file: dbt.DbtProjectFile, deps: dict, spec: ProjectSpec = req.changed, *,
            side: str) -> dbt.CompileResult:
        return _compile(unit_file, deps, spec, side, cache_dir, req.compile_timeout_s, req.progress, sandbox,
                        report.warnings)

    up_results: dict[str, dbt.CompileResult] = {}
    for unit in upstream:
        result = run(unit.file, dict(up_results), unit.spec, side="as is")
        if not result.ok:
            raise AnalysisError(f"upstream project {unit.file.name} ({unit.file.path}) does not compile",
                                detail=result.error, hint="fix it or leave it out of --upstream")
        up_results[unit.file.name] = result
    head_result = run(head_file, dict(up_results), side=f"head ({req.head.ref})")
    if not head_result.ok:
        raise AnalysisError(f"{head_file.name} does not compile at {req.head.ref} ({head_file.path})",
                            detail=head_result.error,
                            hint="fix the error above; a project that does not compile cannot be analysed")
    base_result = run(base_file, dict(up_results), side=f"base ({req.base.ref})") if base_file else None
    if base_file and not base_result.ok:
        raise AnalysisError(f"{head_file.name} does not compile at {req.base.ref}",
                            detail=base_result.error, hint="the base must compile to compare against it")
    worlds: dict[str, dict[str, dbt.CompileResult]] = {
        "base": {**up_results, **({head_file.name: base_result} if base_result else {})},
        "head": {**up_results, head_file.name: head_result},
    }
    head_failures: dict[str, str] = {}
    for unit in downstream:
        name = unit.file.name
        before = run(unit.file, dict(worlds["base"]), unit.spec, side="against base") if base_result else None
        after = run(unit.file, dict(worlds["head"]), unit.spec, side="against head")
        if before is not None and not before.ok:
            report.errors.append(
                f"{name} does not compile against {head_file.name}@{req.base.ref} (before this change), "
                f"so its impact cannot be analysed:\n{before.error}\n→ fix {name} on its own branch first"
            )
            continue
        worlds["base"][name] = before or after
        if after.ok:
            worlds["head"][name] = after
        else:
            head_failures[name] = after.error
            worlds["head"][name] = before  # keep its graph: it is what breaks
    report.timings["compile_s"] = round(time.monotonic() - clock, 3)

    specs = {u.file.name: u.spec for u in [*upstream, *downstream]}
    specs[head_file.name] = req.changed
    loader = ProjectLoader()
    base_projects = _load(loader, worlds["base"], specs, base_path=req.base_path, changed=head_file.name)
    head_projects = _load(loader, worlds["head"], specs)
    base_mesh = build_mesh(base_projects)
    head_mesh = build_mesh(head_projects, like=base_mesh)

    clock = time.monotonic()
    catalog = _catalogs(req.catalogs)
    from analysis.lineage.cache import LineageCache
    from analysis.lineage.meshlineage import mesh_lineage

    cache = LineageCache(os.path.join(cache_dir, "lineage"))
    lin = {}
    for label, mesh in (("base", base_mesh), ("head", head_mesh)):
        with step(req.progress, "lineage", label, total=len(mesh.nodes)):
            lin[label] = mesh_lineage(mesh.nodes, mesh.upstream_first(), mesh.dialect_of, catalog=catalog,
                                      digests=mesh.digests(), cache=cache, timeout_s=req.lineage_timeout_s,
                                      tick=counter(req.progress, "lineage", label))
    report.timings["lineage_s"] = round(time.monotonic() - clock, 3)
    with step(req.progress, "impact", "diff and propagation"):
        _impact(req, report, head_file.name, base_mesh, head_mesh, lin, head_failures)


def _compile(project: dbt.DbtProjectFile, deps: dict, spec: ProjectSpec, side: str, cache_dir: str,
             timeout_s: float, progress: Observer | None, sandbox: SandboxConfig | None,
             warnings: list[str]) -> dbt.CompileResult:
    """One compile, told to ``progress`` as ``<project> <side>`` (cached or not, with its time);
    what it left out (dropped dbt-loom entries) joins ``warnings`` once."""
    with step(progress, "compile", f"{project.name} {side}") as info:
        result = dbt.compile_project(project, deps, cache_dir=cache_dir, timeout_s=timeout_s, target=spec.target,
                                     sandbox=sandbox)
        info["cached"], info["ok"] = result.cached, result.ok
    warnings.extend(w for w in result.warnings if w not in warnings)
    return result


def _impact(req: AnalysisRequest, report: Report, changed: str, base_mesh: Mesh, head_mesh: Mesh, lin: dict,
            head_failures: dict[str, str]) -> None:
    """The diff of the changed project, its propagation through the mesh, warnings."""
    clock = time.monotonic()
    base_own = base_mesh.projects[changed].own_nodes() if changed in base_mesh.projects else {}
    head_own = head_mesh.projects[changed].own_nodes()
    diff = diff_project(base_own, head_own, lin["base"].models, lin["head"].models,
                        lin["base"].schemas, lin["head"].schemas)
    report.changes = [_repo_relative(c, req.repo_subdir) for c in diff.changes]

    index = build_index(
        [World(head_mesh, lin["head"].models, lin["head"].schemas, lin["head"].readers),
         World(base_mesh, lin["base"].models, lin["base"].schemas, lin["base"].readers)],
        only={1: {n for n, node in base_mesh.nodes.items() if node.project != changed}},
    )
    node_seeds = _consumer_breaks(head_failures, base_mesh, diff.changes, changed, req.head.ref)
    node_seeds.update(_recompiled(head_mesh, base_mesh, changed, head_failures, lin))
    hits = propagate(index, diff.seeds, node_seeds=node_seeds)
    changed_ids = {c.node for c in diff.changes}
    _reader_reasons(report.changes, index, hits)
    report.impacts = impacts_from_hits(hits, head_mesh, base_mesh, exclude=changed_ids)
    report.edges = _edges(changed_ids | {i.node for i in report.impacts}, head_mesh, base_mesh)
    # a model reading a column this change removes cannot be traced at head: that is the breaking
    # impact already reported, not a separate lineage problem
    explained = {i.node for i in report.impacts if i.severity == "breaking"}
    report.warnings += _lineage_warnings(lin["head"].models, head_mesh,
                                         changed_ids | {i.node for i in report.impacts} - explained)
    for project, error in head_failures.items():
        blamed = sorted(n for n in node_seeds if n.split(".")[1:2] == [project])
        report.broken.append(BrokenProject(project, error, blamed))
    report.suggestions = suggest(report, base_own, head_own,
                                 dialects={changed: head_mesh.projects[changed].sql_dialect})
    report.timings["impact_s"] = round(time.monotonic() - clock, 3)


def _check_names(head: dbt.DbtProjectFile, upstream: list[_Unit], downstream: list[_Unit]) -> None:
    seen = {head.name: head.path}
    for unit in [*upstream, *downstream]:
        if unit.file.name in seen:
            raise AnalysisError(
                f"two projects are named {unit.file.name!r}: {seen[unit.file.name]} and {unit.file.path}",
                hint="each project of the mesh must appear once",
            )
        seen[unit.file.name] = unit.file.path


def _connected(changed: str, downstream: list[_Unit], report: Report) -> list[_Unit]:
    """Downstream projects that (transitively) read ``changed``, in dependency order."""
    graph = nx.DiGraph()
    names = {u.file.name: u for u in downstream}
    graph.add_node(changed)
    for unit in downstream:
        graph.add_node(unit.file.name)
        for upstream in unit.file.upstream_names:
            if upstream == changed or upstream in names:
                graph.add_edge(upstream, unit.file.name)
    reach = nx.descendants(graph, changed)
    for unit in downstream:
        if unit.file.name not in reach:
            report.warnings.append(
                f"{unit.file.name} does not read {changed} (its dbt_loom.config.yml names "
                f"{', '.join(unit.file.upstream_names) or 'no manifest'}); left out of the analysis"
            )
    order = [n for n in nx.lexicographical_topological_sort(graph) if n in reach]
    return [names[n] for n in order]


def _load(loader: ProjectLoader, results: dict[str, dbt.CompileResult], specs: dict[str, ProjectSpec], *,
          base_path: str | None = None, changed: str | None = None) -> list[Project]:
    projects = []
    for name, result in results.items():
        spec = specs[name]
        path = base_path if (name == changed and base_path) else spec.path
        # skeletons of projects of this mesh are never used: their own manifest defines them
        project = loader.load(result.manifest_path, project_dir=os.path.abspath(path), skip_injected=results)
        project.dialect = spec.dialect
        projects.append(project)
    return projects


def _catalogs(paths: dict[str, str]) -> dict[str, dict[str, str | None]] | None:
    """Column types from ``catalog.json`` files, by project: ``{PROJECT: path}``. Only the
    entries of PROJECT's own nodes and sources (unique ids ``<type>.PROJECT.<...>``) are taken
    from its file; a file that is no catalog, or holds nothing of PROJECT, is an error."""
    if not paths:
        return None
    import json

    hint = "pass the target/catalog.json that `dbt docs generate` wrote for that project: --catalog PROJECT=FILE"
    out: dict[str, dict[str, str | None]] = {}
    for project, path in paths.items():
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            raise AnalysisError(f"cannot read catalog {path} for {project}: {exc}", hint=hint) from None
        sections = [data.get(s) for s in ("nodes", "sources")] if isinstance(data, dict) else [None, None]
        if all(s is None for s in sections) or any(s is not None and not isinstance(s, dict) for s in sections):
            raise AnalysisError(f"{path} (--catalog {project}) is not a dbt catalog: it needs `nodes` and "
                                "`sources` objects", hint=hint)
        others: set[str] = set()
        found = 0
        for node_id, entry in ((k, v) for s in sections if s for k, v in s.items()):
            owner = str(node_id).split(".")[1] if str(node_id).count(".") >= 2 else ""
            if owner != project:
                others.add(owner or str(node_id))
                continue
            cols = entry.get("columns") if isinstance(entry, dict) else None
            if not isinstance(cols, dict) or not all(isinstance(c, dict) for c in cols.values()):
                raise AnalysisError(f"{path} (--catalog {project}): `{node_id}` has no `columns` object of "
                                    "columns", hint=hint)
            ordered = sorted(cols.values(), key=lambda c: c.get("index") if isinstance(c.get("index"), int) else 0)
            out[node_id] = {str(c["name"]).lower(): c.get("type") for c in ordered if c.get("name")}
            found += 1
        if not found:
            seen = ", ".join(sorted(others)[:5]) or "none"
            raise AnalysisError(f"{path} (--catalog {project}) holds no node of project {project} "
                                f"(it holds nodes of: {seen})", hint=hint)
    return out


def _consumer_breaks(failures: dict[str, str], base_mesh: Mesh, changes: list[Change], changed: str, ref: str):
    """Consumer nodes that break because their project no longer compiles against the head.

    dbt stops at the first failing node, so besides the nodes its message names, every node
    that reads a producer node with a breaking change is blamed (they fail the same way).
    """
    out: dict[str, tuple[str, str]] = {}
    breaking = {c.node for c in changes if c.category == "breaking"}
    touched = {c.node for c in changes}
    for project, error in failures.items():
        own = {n for n, node in base_mesh.nodes.items() if node.project == project}
        def reading(targets):
            return {n for n in own if any(p in targets for p in base_mesh.graph.predecessors(n))}
        named = failing_nodes(error, project, set())
        blamed = named | reading(breaking)
        if not blamed:
            blamed = reading(touched) or reading({n for n, node in base_mesh.nodes.items() if node.project == changed})
        first = next((ln.strip() for ln in error.splitlines() if ln.strip() and "Error" not in ln), error.strip())
        for node_id in sorted(blamed):
            cause = next((p for p in sorted(base_mesh.graph.predecessors(node_id)) if p in breaking), None) or \
                next((p for p in sorted(base_mesh.graph.predecessors(node_id)) if p in touched), None)
            out[node_id] = ("breaking", f"{project} no longer compiles against {changed}@{ref}: {first}", cause)
    return out


def _recompiled(head: Mesh, base: Mesh, changed: str, failures: dict[str, str], lin: dict):
    """Downstream models whose compiled SQL changes with the PR (e.g. a moved latest_version),
    with the severity of the difference of their own lineage, base vs head."""
    out: dict[str, tuple[str, str]] = {}
    for node_id, node in head.nodes.items():
        if node.project == changed or node.project in failures or not node.is_sql or node.injected:
            continue
        before = base.nodes.get(node_id)
        if before is None or not before.compiled_sql or not node.compiled_sql or not sql_changed(before, node):
            continue
        found = diff_project({node_id: before}, {node_id: node}, lin["base"].models, lin["head"].models,
                             lin["base"].schemas, lin["head"].schemas).changes
        if not found or found[0].category == "metadata":
            continue  # the same lineage: nothing it produces changes
        severity = {"breaking": "breaking", "unknown": "unknown"}.get(found[0].category, "changed")
        out[node_id] = (severity, "its compiled SQL changes with this PR (an upstream ref now resolves elsewhere): "
                                  + "; ".join(found[0].reasons[:3]))
    return out


def _reader_reasons(changes: list[Change], index, hits: dict) -> None:
    """Add "`amount` removed; read by finance.revenue.total" to each changed column."""
    from analysis.lineage.columns import ColumnRef

    def short(node_id: str) -> str:
        return ".".join(node_id.split(".")[1:])

    hit_nodes = {n for n, _ in hits}
    for change in changes:
        for column in change.columns:
            if column.change == "added":
                continue
            ref = ColumnRef(change.node, column.name)
            found = {f"{short(r)}.{c}" for r, c, _ in index.value.get(ref, ())}
            found |= {f"{short(r)} (rows)" for r in index.rows.get(ref, ())}
            named = {r for r, _, _ in index.value.get(ref, ())} | set(index.rows.get(ref, ()))
            found |= {short(r) for r in index.nodes.get(change.node, ()) if r in hit_nodes and r not in named
                      and (r not in index.sql_nodes or getattr(index.lineage.get(r), "status", "unknown") != "ok")}
            found = sorted(found)
            what = f"`{column.name}` {column.change}" + (f" to `{column.renamed_to}`" if column.renamed_to else "")
            tail = ("read by " + ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
                    ) if found else "nothing in the mesh reads it"
            change.reasons.append(f"{what}; {tail}")


def _repo_relative(change: Change, subdir: str) -> Change:
    if change.file and subdir:
        change.file = os.path.normpath(os.path.join(subdir, change.file))
    return change


def _edges(nodes: set[str], head: Mesh, base: Mesh) -> list[list[str]]:
    edges: set[tuple[str, str]] = set()
    for mesh in (head, base):
        for a in nodes:
            if a in mesh.graph:
                edges.update((a, b) for b in mesh.graph.successors(a) if b in nodes)
    return [list(e) for e in sorted(edges)]


def _lineage_warnings(models: dict, mesh: Mesh, relevant: set[str]) -> list[str]:
    out = []
    for node_id in sorted(relevant):
        lin = models.get(node_id)
        if lin is not None and lin.status != "ok":
            out.append(f"lineage of {node_id} is {lin.status}: {lin.reason or 'see above'}")
    return out


@dataclass
class MeshState:
    """A mesh compiled as it is on disk (no base/head): for ``meshdiff lineage``."""

    mesh: Mesh
    lineage: object  # analysis.lineage.meshlineage.MeshLineage
    warnings: list[str] = field(default_factory=list)


def mesh_at_rest(project: ProjectSpec, downstream: list[ProjectSpec] = (), upstream: list[ProjectSpec] = (), *,
                 cache_dir: str | None = None, compile_timeout_s: float = 300.0,
                 lineage_timeout_s: float = 10.0, progress: Observer | None = None,
                 sandbox: SandboxConfig | None = None) -> MeshState:
    """Compile ``project`` and the projects around it as they are, and compute the lineage
    (each step told to ``progress``, see :mod:`analysis.progress`)."""
    cache_dir = cache_dir or default_cache_dir()
    main = dbt.read_project(project.path, project.root)
    ups = [_Unit(s, dbt.read_project(s.path, s.root)) for s in upstream]
    downs = [_Unit(s, dbt.read_project(s.path, s.root)) for s in downstream]
    _check_names(main, ups, downs)
    scratch = Report(changed_project=main.name, base=GitRef("", ""), head=GitRef("", ""))
    downs = _connected(main.name, downs, scratch)
    results: dict[str, dbt.CompileResult] = {}
    specs = {main.name: project}
    for unit in [*ups, _Unit(project, main), *downs]:
        result = _compile(unit.file, dict(results), unit.spec, "as is", cache_dir, compile_timeout_s, progress,
                          sandbox, scratch.warnings)
        if not result.ok:
            raise AnalysisError(f"{unit.file.name} does not compile ({unit.file.path})", detail=result.error,
                                hint="fix the error above and run again")
        results[unit.file.name] = result
        specs[unit.file.name] = unit.spec
    mesh = build_mesh(_load(ProjectLoader(), results, specs))
    from analysis.lineage.cache import LineageCache
    from analysis.lineage.meshlineage import mesh_lineage

    cache = LineageCache(os.path.join(cache_dir, "lineage"))
    with step(progress, "lineage", "mesh", total=len(mesh.nodes)):
        lineage = mesh_lineage(mesh.nodes, mesh.upstream_first(), mesh.dialect_of, cache=cache,
                               digests=mesh.digests(), timeout_s=lineage_timeout_s,
                               tick=counter(progress, "lineage", "mesh"))
    return MeshState(mesh, lineage, scratch.warnings)
