"""From project directories to a Report: the one entry point the CLI and the App share.

:func:`analyze` reads as the table of contents of one analysis:

1. **projects** (:mod:`analysis.mesh`): the changed project, the upstream projects it reads,
   and the downstream projects that read it, directly or not, in dependency order;
2. **compile** (:mod:`analysis.dbt`): upstream projects once; the changed project at base and
   at head; then every downstream project, in dependency order, once against the base
   manifests ("the world before") and once against the head manifests ("the world after");
3. **meshes**: each world's manifests (their snapshots) read into one graph of nodes;
4. **lineage** (:mod:`analysis.lineage`): column lineage of both worlds, cached by content;
5. **diff** (:mod:`analysis.impact`): what changed in the changed project, base vs head;
6. **impact**: the walk over the column graph from the changed columns and from consumers
   that break or recompile, and what the report says around it;
7. **how to unblock**: a suggestion per blocking finding;
8. **verdict**: the policy's conclusion.

``analyze`` never raises for bad input: what could not be done lands in ``Report.errors``
(and the conclusion is ``failure``), with what happened, where, and what to do.
:func:`mesh_at_rest` is steps 1-4 for one state of the mesh (``meshdiff lineage``).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from analysis.compiles import compile_at_rest, compile_one, compile_terms, prestarts_for
from analysis.dbt import (CompileResult, DbtProjectFile, Project, ProjectLoader, SandboxConfig, Worlds,
                          bind_by_folder, compile_worlds, partial_parsing, read_catalogs, read_project, serialized)
from analysis.errors import AnalysisError
from analysis.impact import (CodeOwners, Policy, ProjectDiff, World, add_incremental, add_reader_reasons,
                             broken_consumers, build_index, contract_breaks, decide, deprecated_refs, diff_project,
                             impact_edges, impacts_from_hits, lineage_warnings, merge_handles, owners_of, propagate,
                             reached_tests, read_codeowners, recompiled_consumers, suggest)
from analysis.lineage import LineageCache, MeshLineage, Spelling, Spellings, mesh_lineage, respell_report
from analysis.mesh import Mesh, build_mesh, check_unique_names, readers_in_order
from analysis.progress import Observer, counter, step
from analysis.report import NOTHING_TO_COMPARE, SEVERITY_ORDER, BrokenProject, Change, GitRef, Report
from analysis.store import cache_root, gc_session, maybe_trim


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
    #: environment variables dbt's ``env_var()`` reads (not secrets) and dbt ``--vars``
    #: (:mod:`analysis.dbt.envvars`); both part of the compile key
    env: dict[str, str] = field(default_factory=dict)
    vars: dict = field(default_factory=dict)


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
    #: the key sealing the cache's records (the App: one per installation); default
    #: :func:`analysis.store.sealer_for`'s
    cache_key: bytes | None = None


def analyze(req: AnalysisRequest) -> Report:
    report = Report(changed_project=req.changed.name or os.path.basename(req.changed.path.rstrip("/")),
                    base=req.base, head=req.head)
    if report.same_commit():  # no change to analyse: said so, never a bare "no impact" (the mesh is
        # still compiled: a project that does not compile is an error whatever the refs)
        report.warnings.append(
            f"{NOTHING_TO_COMPARE} base `{req.base.ref}` and head `{req.head.ref}` are the same commit "
            f"({req.base.sha[:12]}), so there is no change to analyse; pass the branch holding the change "
            f"as the head (the CLI's --head), or commit your edits on a branch first")
    try:
        with gc_session():
            _analyze(req, report)
    except AnalysisError as exc:
        report.errors.append(str(exc))
    maybe_trim(req.cache_dir or cache_root())
    return decide(report, req.policy)


def _analyze(req: AnalysisRequest, report: Report) -> None:
    clock = time.monotonic()
    cache_dir = req.cache_dir or cache_root()
    sandbox = req.sandbox or SandboxConfig.from_env()
    projects = _projects(req, report)
    worlds = _compile(req, projects, report, cache_dir, sandbox)
    report.timings["compile_s"] = round(time.monotonic() - clock, 3)

    base_mesh, head_mesh = _meshes(req, projects, worlds)

    clock = time.monotonic()
    catalog = read_catalogs(req.catalogs)
    cache = LineageCache(os.path.join(cache_dir, "lineage"), key=req.cache_key)
    base_lineage = _lineage(base_mesh, "base", cache, req.lineage_timeout_s, req.progress, catalog)
    head_lineage = _lineage(head_mesh, "head", cache, req.lineage_timeout_s, req.progress,
                            _catalog_at_head(catalog, base_mesh, head_mesh))
    report.timings["lineage_s"] = round(time.monotonic() - clock, 3)

    with step(req.progress, "impact", "diff and propagation"):
        clock = time.monotonic()
        changed = projects.changed.name
        base_own = base_mesh.projects[changed].own_nodes() if changed in base_mesh.projects else {}
        head_own = head_mesh.projects[changed].own_nodes()
        diff = diff_project(base_own, head_own, base_lineage.models, head_lineage.models,
                            base_lineage.schemas, head_lineage.schemas,
                            dialect=head_mesh.projects[changed].sql_dialect)
        add_incremental(diff, base_own, head_own, head_lineage.schemas, head_mesh.projects[changed].sql_dialect)
        report.warnings += deprecated_refs(base_own, head_own, head_mesh.nodes, changed)
        report.changes = [_repo_relative(c, req.repo_subdir) for c in diff.changes]
        _impact(req, report, diff, worlds.head_failures, base_mesh, head_mesh, base_lineage, head_lineage)
        _codeowners(report, projects)
        report.suggestions = suggest(report, base_own, head_own,
                                     dialects={changed: head_mesh.projects[changed].sql_dialect})
        # names shown as the warehouse spells them; everything above matched lower-cased names
        respell_report(report, Spellings(Spelling(head_mesh.nodes, head_mesh.dialect_of, head_lineage.models),
                                         Spelling(base_mesh.nodes, base_mesh.dialect_of, base_lineage.models)))
        report.timings["impact_s"] = round(time.monotonic() - clock, 3)


# -- 1. projects ------------------------------------------------------------------------------
@dataclass
class _Unit:
    spec: ProjectSpec
    file: DbtProjectFile


@dataclass
class _Projects:
    changed: DbtProjectFile
    #: the changed project at the base (``None``: not a dbt project there)
    base: DbtProjectFile | None
    upstream: list[_Unit]
    #: the downstream projects that read the changed one, in dependency order
    downstream: list[_Unit]


def _projects(req: AnalysisRequest, report: Report) -> _Projects:
    head_file = read_project(req.changed.path, req.changed.root)
    report.changed_project = head_file.name
    if os.path.isfile(os.path.join(req.base_path, "dbt_project.yml")):
        base_file = read_project(req.base_path, req.base_root)  # a broken one is an error, not "every node added"
    else:
        base_file = None
        report.warnings.append(f"{head_file.name} is not a dbt project at {req.base.ref}: every node counts as added")
    upstream = [_Unit(s, read_project(s.path, s.root)) for s in req.upstream]
    down = [_Unit(s, read_project(s.path, s.root)) for s in req.downstream]
    head_file = _bind_folders(_Unit(req.changed, head_file), upstream, down)
    downstream = _readers(head_file, upstream, down, report.warnings)
    report.projects = [u.file.name for u in upstream] + [head_file.name] + [u.file.name for u in downstream]
    return _Projects(head_file, base_file, upstream, downstream)


def _bind_folders(changed: _Unit, upstream: list[_Unit], downstream: list[_Unit]) -> DbtProjectFile:
    """Bind the dbt-loom entries whose manifest could not be read to the analysed project whose
    folder their path names (:func:`analysis.dbt.upstreams.bind_by_folder`); returns the changed
    project's file (the units' files are replaced in place)."""
    units = [changed, *upstream, *downstream]
    names = {os.path.basename(os.path.normpath(u.spec.path)): u.file.name for u in units}
    names.update({u.file.name: u.file.name for u in units})
    for unit, file in zip(units, bind_by_folder([u.file for u in units], names)):
        unit.file = file
    return changed.file


def _readers(changed: DbtProjectFile, upstream: list[_Unit], downstream: list[_Unit],
             warnings: list[str]) -> list[_Unit]:
    """The projects of ``downstream`` that read ``changed``, in dependency order (names checked)."""
    check_unique_names([changed, *(u.file for u in upstream), *(u.file for u in downstream)])
    by_name = {u.file.name: u for u in downstream}
    return [by_name[p.name] for p in readers_in_order(changed.name, [u.file for u in downstream], warnings)]


# -- 2. compile -------------------------------------------------------------------------------
def _compile(req: AnalysisRequest, projects: _Projects, report: Report, cache_dir: str,
             sandbox: SandboxConfig) -> Worlds:
    """Every compile of the analysis as a graph on both cores (:mod:`analysis.dbt.schedule`): the
    changed project's base, then its head from the base's parse state; each downstream project
    against each world as soon as the compiles it reads are done (against the head: the base
    compile itself when the changed project's interface is the same, :mod:`analysis.dbt.interface`);
    dbt started ahead where it can be (:mod:`analysis.compiles`)."""
    specs = {u.file.name: u.spec for u in [*projects.upstream, *projects.downstream]}
    specs[projects.changed.name] = req.changed
    progress = serialized(req.progress)
    told: dict[tuple[str, str], list[str]] = {}

    terms_of = compile_terms(specs, cache_dir=cache_dir, sandbox=sandbox, timeout_s=req.compile_timeout_s,
                             cache_key=req.cache_key)

    seeded = projects.base is not None and partial_parsing()
    prestarts = prestarts_for([u.file for u in projects.downstream], terms_of,
                              head=projects.changed if seeded else None)

    def run(unit_file: DbtProjectFile, deps: dict, side: str, seed: CompileResult | None = None) -> CompileResult:
        told[(unit_file.name, side)] = found = []
        return compile_one(unit_file, deps, side, terms_of(unit_file), progress, found, seed, prestarts)

    changed = projects.changed.name
    try:
        worlds = compile_worlds(projects.changed, projects.base, [u.file for u in projects.upstream],
                                [u.file for u in projects.downstream], run, base_ref=req.base.ref,
                                head_ref=req.head.ref, seed_head=seeded)
    finally:  # what the compiles left out, once each, in the order of the mesh
        if prestarts is not None:
            prestarts.close()
        order = [(u.file.name, "as is") for u in projects.upstream] + [
            (changed, f"head ({req.head.ref})"), (changed, f"base ({req.base.ref})")] + [
            (u.file.name, side) for u in projects.downstream for side in ("against base", "against head")]
        for key in order:
            report.warnings.extend(w for w in told.get(key, ()) if w not in report.warnings)
    report.errors.extend(worlds.errors)
    return worlds


# -- 3. meshes --------------------------------------------------------------------------------
def _meshes(req: AnalysisRequest, projects: _Projects, worlds: Worlds) -> tuple[Mesh, Mesh]:
    """The base and the head world's meshes (the head shares the base's graph when equal)."""
    specs = {u.file.name: u.spec for u in [*projects.upstream, *projects.downstream]}
    specs[projects.changed.name] = req.changed
    loader = ProjectLoader()
    base_projects = _load(loader, worlds.base, specs, base_path=req.base_path, changed=projects.changed.name)
    head_projects = _load(loader, worlds.head, specs)
    base_mesh = build_mesh(base_projects)
    return base_mesh, build_mesh(head_projects, like=base_mesh)


def _load(loader: ProjectLoader, results: dict[str, CompileResult], specs: dict[str, ProjectSpec], *,
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


# -- 4. lineage -------------------------------------------------------------------------------
def _catalog_at_head(catalog: dict, base_mesh: Mesh, head_mesh: Mesh) -> dict:
    """The catalog describes the warehouse as built from the base: at head, only the entries of
    nodes whose SQL (a seed: its file) is the base's still hold; a changed node is traced as it is
    (else a column the PR retypes keeps the catalog's old type, and the retype is not seen)."""
    if not catalog:
        return catalog
    out = {}
    for uid, entry in catalog.items():
        base, head = base_mesh.nodes.get(uid), head_mesh.nodes.get(uid)
        if base is head or (base is not None and head is not None and base.compiled_sql == head.compiled_sql
                            and base.checksum == head.checksum):
            out[uid] = entry
    return out


def _lineage(mesh: Mesh, label: str, cache: LineageCache, timeout_s: float, progress: Observer | None,
             catalog=None) -> MeshLineage:
    with step(progress, "lineage", label, total=len(mesh.nodes)):
        return mesh_lineage(mesh.nodes, mesh.upstream_first(), mesh.dialect_of, catalog=catalog,
                            digests=mesh.digests(), cache=cache, timeout_s=timeout_s,
                            tick=counter(progress, "lineage", label))


# -- 5. diff ----------------------------------------------------------------------------------
def _repo_relative(change: Change, subdir: str) -> Change:
    if change.file and subdir:
        change.file = os.path.normpath(os.path.join(subdir, change.file))
    return change


# -- 6. impact --------------------------------------------------------------------------------
def _impact(req: AnalysisRequest, report: Report, diff: ProjectDiff, head_failures: dict[str, str],
            base_mesh: Mesh, head_mesh: Mesh, base_lineage: MeshLineage, head_lineage: MeshLineage) -> None:
    changed = report.changed_project
    index = build_index(
        [World(head_mesh, head_lineage.models, head_lineage.schemas, head_lineage.readers),
         World(base_mesh, base_lineage.models, base_lineage.schemas, base_lineage.readers)],
        only={1: {n for n, node in base_mesh.nodes.items() if node.project != changed}},
    )
    node_seeds = broken_consumers(head_failures, base_mesh, diff.changes, changed, req.head.ref)
    node_seeds.update(recompiled_consumers(head_mesh, base_mesh, changed, head_failures, base_lineage, head_lineage))
    for node_id, seed in contract_breaks(head_mesh, base_mesh, {c.node for c in diff.changes}, head_failures,
                                         base_lineage, head_lineage).items():
        node_seeds.setdefault(node_id, seed)
    hits = propagate(index, diff.seeds, node_seeds=node_seeds)
    changed_ids = {c.node for c in diff.changes}
    add_reader_reasons(report.changes, index, hits)
    report.impacts = impacts_from_hits(hits, head_mesh, base_mesh, exclude=changed_ids)
    report.impacts += reached_tests(hits, diff.seeds, head_mesh, base_mesh)
    report.impacts.sort(key=lambda i: (SEVERITY_ORDER.index(i.severity), i.project, i.node))
    report.edges = impact_edges(changed_ids | {i.node for i in report.impacts}, head_mesh, base_mesh)
    # a model reading a column this change removes cannot be traced at head: that is the breaking
    # impact already reported, not a separate lineage problem
    explained = {i.node for i in report.impacts if i.severity == "breaking"}
    report.warnings += lineage_warnings(head_lineage.models, changed_ids | {i.node for i in report.impacts} - explained)
    for project, error in head_failures.items():
        blamed = sorted(n for n in node_seeds if n.split(".")[1:2] == [project])
        report.broken.append(BrokenProject(project, error, blamed))


def _codeowners(report: Report, projects: _Projects) -> None:
    """Add to each impacted node's handles the owners its repository's CODEOWNERS gives its file.
    The changed project's checkout is the PR's head: its CODEOWNERS is read as on the base branch
    (as GitHub does), so a PR cannot choose whom it pings."""
    files = {f.name: f for f in [projects.changed, *(u.file for u in [*projects.upstream, *projects.downstream])]}
    trusted = {projects.changed.checkout: projects.base.checkout if projects.base else None}
    loaded: dict[str, CodeOwners | None] = {}
    for impact in report.impacts:
        project = files.get(impact.project)
        if project is None or not impact.file:
            continue
        source = trusted.get(project.checkout, project.checkout)
        if source is None:
            continue
        if source not in loaded:
            try:
                loaded[source] = read_codeowners(source)
            except AnalysisError as exc:
                loaded[source] = None
                report.warnings.append(f"owners from CODEOWNERS not read: {exc}")
        path = os.path.relpath(os.path.join(project.path, impact.file), project.checkout)
        if loaded[source] is None or path.startswith(".."):
            continue
        owners = owners_of(loaded[source], path.replace(os.sep, "/"))
        impact.handles = list(merge_handles(impact.handles, owners))


# -- the mesh as it is ------------------------------------------------------------------------
@dataclass
class MeshState:
    """A mesh compiled as it is on disk (no base/head): for ``meshdiff lineage``."""

    mesh: Mesh
    lineage: MeshLineage
    warnings: list[str] = field(default_factory=list)


def mesh_at_rest(project: ProjectSpec, downstream: list[ProjectSpec] = (), upstream: list[ProjectSpec] = (), *,
                 cache_dir: str | None = None, compile_timeout_s: float = 300.0,
                 lineage_timeout_s: float = 10.0, progress: Observer | None = None,
                 sandbox: SandboxConfig | None = None, catalogs: dict[str, str] | None = None) -> MeshState:
    """Compile ``project`` and the projects around it as they are, and compute the lineage
    (each step told to ``progress``, see :mod:`analysis.progress`); ``catalogs``: project name ->
    path of its ``catalog.json`` (column types from the warehouse), as :class:`AnalysisRequest` has."""
    cache_dir = cache_dir or cache_root()
    catalog = read_catalogs(catalogs or {})  # a bad file stops here, before any compile
    main = read_project(project.path, project.root)
    ups = [_Unit(s, read_project(s.path, s.root)) for s in upstream]
    warnings: list[str] = []
    downs = [_Unit(s, read_project(s.path, s.root)) for s in downstream]
    main = _bind_folders(_Unit(project, main), ups, downs)
    downs = _readers(main, ups, downs, warnings)
    units = [*ups, _Unit(project, main), *downs]
    specs = {u.file.name: u.spec for u in units}

    terms_of = compile_terms(specs, cache_dir=cache_dir, sandbox=sandbox, timeout_s=compile_timeout_s)
    results = compile_at_rest([u.file for u in units], terms_of, progress, warnings)
    mesh = build_mesh(_load(ProjectLoader(), results, specs))
    lineage = _lineage(mesh, "mesh", LineageCache(os.path.join(cache_dir, "lineage")), lineage_timeout_s, progress,
                       catalog)
    return MeshState(mesh, lineage, warnings)
