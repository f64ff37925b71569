"""Compile one dbt project in the sandbox, against manifests meshdiff produced; cache the result.

One compile, in a fresh temporary folder (:class:`~analysis.dbt.invoke.Folders`):

1. ``in/`` (read-only to dbt): ``profiles/profiles.yml`` (:mod:`analysis.dbt.profile`: an embedded,
   fenced DuckDB; dbt never sees a ``profiles.yml`` from the checkout), ``dbt_loom.config.yml``
   (:mod:`analysis.dbt.loom`: mesh projects re-pointed at copies of meshdiff's manifests,
   URL/cloud entries dropped with a warning), ``upstream/<name>.json``;
2. packages (:mod:`analysis.dbt.deps`): vendored ones as they are; hub/git ones from the
   separate, cached deps step; ``local:`` ones linked by an offline ``dbt deps``. They land in
   ``out/project/``, a layer over the read-only project (the host's project is never written).
   Steps 1-2 but for what names the upstream compiles are :mod:`analysis.dbt.prepare`'s, and a
   downstream compile may have them done, and its dbt started, ahead (:mod:`analysis.dbt.prestart`);
3. ``dbt compile`` in the sandbox (:mod:`analysis.dbt.sandbox`), writing only to ``out/``; a project
   with incremental models compiles those again with ``is_incremental()`` true
   (:mod:`analysis.dbt.renders`), and their second render joins the manifest;
4. what leaves the sandbox is checked before anything is cached: ``target/manifest.json`` is
   read without following links, within a size cap, parsed, and must be the manifest of the
   project compiled; the trusted process then writes the cache entry (:mod:`analysis.dbt.slots`:
   manifest, snapshot, and a status sealed with the cache's key).

Results are cached by content: the key covers the project's files, the *interfaces* of the
upstream compiles it reads (:mod:`analysis.dbt.interface`: what dbt-loom injects; a consumer
compiled against a base whose interface the PR leaves as it is, is the same compile for the
head), the local dbt-loom manifests it reads, the dbt/adapter/loom versions, the target,
whether the run was sandboxed and this module's version. An unchanged project is never
compiled twice, not even by two threads or processes at once: a compile holds its cache
slot's lock while dbt runs, and the others wait for its result. A cache slot is published
whole (a folder renamed into place), so a reader never sees half of one; a slot meshdiff did
not seal is a miss. A compile never
raises for a dbt failure: the result carries ``ok=False`` and dbt's error text. A failure (dbt's
error, a time-out, a refused manifest) is **never cached**: what failed may succeed with a higher
limit, on a rerun, or once its cause outside the key (the machine, the network) is fixed.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field

import yaml

from analysis.dbt import envvars, loom, partialparse, renders
from analysis.dbt import sandbox as _sandbox
from analysis.dbt.fence import Layer
from analysis.dbt.contentkey import content_key
from analysis.dbt.interface import interface_digest
from analysis.dbt.invoke import Folders, dbt_error_text, failure_text, run_dbt
from analysis.dbt.paths import OutputError, accept_manifest
from analysis.dbt.prepare import check_env_vars, prepare, stage, terms
from analysis.dbt.prestart import Ahead, Prestarts
from analysis.dbt.slots import DBT_SLOTS as _DBT_SLOTS, discard, read_slot, slot_lock, write_slot
# re-exported: callers read projects and targets through this module
from analysis.dbt.profile import DEFAULT_TARGET, TARGET_RE, check_target, profiles_yml  # noqa: F401
from analysis.dbt.project import DbtProjectFile, read_project  # noqa: F401
from analysis.store import Sealer, sealer_for

COMPILE_VERSION = "6"  # 3: upstream compiles keyed by their interface; 4: incremental models' second render;
# 5: the DuckDB file named relative to the run's folder, dbt's parse state kept (partialparse);
# 6: every file dbt may read in the key (contentkey)
__all__ = ["CompileResult", "DbtProjectFile", "compile_project", "content_key", "read_project", "check_target",
           "profiles_yml", "loom_config", "absent_manifests", "dbt_error_text", "DEFAULT_TARGET", "TARGET_RE"]


@dataclass
class CompileResult:
    project: str
    project_dir: str
    key: str
    manifest_path: str | None
    ok: bool
    error: str = ""
    seconds: float = 0.0
    cached: bool = False
    log: str = field(default="", repr=False)
    #: what the compile left out and why (dropped dbt-loom entries)
    warnings: list[str] = field(default_factory=list)
    #: the checked, parsed manifest of a fresh compile (until it is cached and snapshotted)
    manifest: dict | None = field(default=None, repr=False, compare=False)
    #: :func:`~analysis.dbt.interface.interface_digest` of the manifest (what consumers' compiles see)
    interface: str | None = None
    #: dbt's parse state this compile left (:mod:`analysis.dbt.partialparse`) and its sealed sha256
    partial_parse: str | None = field(default=None, repr=False, compare=False)
    partial_parse_sha256: str | None = field(default=None, repr=False, compare=False)
    #: whether dbt started from an earlier compile's parse state (it may still have parsed in full)
    seeded: bool = False

    @property
    def upstream_key(self) -> str:
        """What a consumer's compile key holds of this compile: its interface (else its key)."""
        return self.interface or self.key


def loom_config(project: DbtProjectFile, upstream: dict[str, CompileResult]) -> dict:
    """The dbt-loom config for a compile (see :mod:`analysis.dbt.loom`)."""
    return loom.plan(project, upstream).config


def absent_manifests(project: DbtProjectFile, upstream: dict[str, CompileResult]) -> list[tuple[str, str]]:
    """(name, path) of required local dbt-loom manifests outside ``upstream`` that do not exist."""
    return loom.plan(project, upstream).absent


def compile_project(
    project: DbtProjectFile,
    upstream: dict[str, CompileResult],
    *,
    cache_dir: str,
    timeout_s: float = 300.0,
    target: str | None = None,
    sandbox: _sandbox.SandboxConfig | None = None,
    cache_key: bytes | None = None,
    env: dict[str, str] | None = None,
    dbt_vars: dict | None = None,
    seed: CompileResult | None = None,
    cached_only: bool = False,
    prestarts: Prestarts | None = None,
) -> CompileResult | None:
    """Compile ``project`` against the ``upstream`` compiles (by project name), with the
    generated profile's target named ``target`` (default ``meshdiff``), fenced in as ``sandbox``
    says (default: :meth:`SandboxConfig.from_env`); the cache's records are sealed with
    ``cache_key`` (default: :func:`analysis.store.sealer_for`'s); ``env`` and ``dbt_vars``: the
    environment variables and ``--vars`` dbt gets (:mod:`analysis.dbt.envvars`; part of the key).

    ``seed``: a compile of the same project against the same upstream compiles (the changed
    project's base) whose parse state dbt may start from (:mod:`analysis.dbt.partialparse`); it
    is not part of the key: dbt parses what changed, and the result is the same.
    ``cached_only``: return the cached result, or ``None`` when dbt would have to run.
    ``prestarts``: the analysis's compiles started ahead (:mod:`analysis.dbt.prestart`): when
    dbt must run, this compile takes its own held dbt if there is one, and has the compiles of
    the projects that read it started ahead."""
    config = sandbox or _sandbox.SandboxConfig.from_env()
    target = check_target(target)
    run_vars = check_env_vars(env, dbt_vars, project.name)
    plan = loom.plan(project, upstream)
    try:
        sandboxed = config.active()
    except _sandbox.SandboxError as exc:  # required, and this host cannot make it: compile nothing
        return CompileResult(project.name, project.path, "", None, False, error=str(exc), warnings=plan.warnings)
    extra = ((f"target {target}\n" if target != DEFAULT_TARGET else "") + ("" if sandboxed else "unsandboxed\n")
             + envvars.key_text(env, dbt_vars))
    key = content_key(project, {n: r.upstream_key for n, r in upstream.items()}, extra=extra,
                      version=COMPILE_VERSION)
    if plan.absent:  # not cached: the file may exist on the next run
        return CompileResult(project.name, project.path, key, None, False, error=loom.absent_text(project, plan.absent),
                             warnings=plan.warnings)
    sealer = sealer_for(cache_dir, cache_key)
    slot = os.path.join(cache_dir, "compile", key[:2], key)
    cached = _read_cached(project, slot, key, sealer)
    if cached is None and cached_only:
        return None
    if cached is None:
        with slot_lock(slot):  # one compile per key at a time; the others then read its result
            cached = _read_cached(project, slot, key, sealer)
            if cached is None:
                with _DBT_SLOTS:  # dbt processes at once, in this process: one per core
                    ahead = None
                    if prestarts is not None:
                        if seed is None:
                            # its readers' dbt started ahead on an idle core meanwhile; not for a head
                            # started from its base's parse state: its readers were started ahead as
                            # the base compile started dbt, or the base was cached
                            prestarts.started(project.name)
                        ahead = prestarts.take(project)
                        if ahead is not None and not ahead.serves(terms(project, target, config, sandboxed,
                                                                        run_vars), seeded=seed is not None):
                            ahead.discard()  # made for other terms or another hold, or it died: never used
                            ahead = None
                    return _compile_into(slot, project, upstream, key, timeout_s, target, config, sandboxed,
                                         cache_dir, plan.warnings, sealer, run_vars, seed, ahead)
    cached.warnings = plan.warnings
    return cached


def _compile_into(slot: str, project: DbtProjectFile, upstream: dict[str, CompileResult], key: str,
                  timeout_s: float, target: str, config: _sandbox.SandboxConfig, sandboxed: bool, cache_dir: str,
                  warnings: list[str], sealer: Sealer, run_vars: tuple[dict, dict] = ({}, {}),
                  seed: CompileResult | None = None, ahead: Ahead | None = None) -> CompileResult:
    work = ahead.work if ahead is not None else tempfile.mkdtemp(prefix=f"meshdiff-{project.name}-")
    try:
        folders = ahead.ready.folders if ahead is not None else Folders(work).make()
        seeded = (seed is not None and partialparse.enabled()
                  and partialparse.seed(os.path.join(folders.out, "target"), seed.partial_parse,
                                        seed.partial_parse_sha256))
        result = _run_compile(project, upstream, folders, key, timeout_s, target, config, sandboxed,
                              cache_dir, sealer, run_vars, ahead)
        if not result.ok:  # never cached: a later run (a higher limit, a rerun, the cause fixed) compiles again
            result.warnings = warnings
            return result
        if result.manifest is not None:
            result.interface = interface_digest(result.manifest)
        write_slot(slot, sealer, ok=result.ok, error=result.error, seconds=result.seconds,
                   interface=result.interface, manifest_path=result.manifest_path, manifest=result.manifest,
                   project_dir=project.path, partial_parse=partialparse.saved(folders.out))
        stored = _read_cached(project, slot, key, sealer)
        if stored is None:  # pragma: no cover - the cache folder is not writable
            return result
        stored.cached, stored.log, stored.warnings, stored.seeded = False, result.log, warnings, seeded
        return stored
    finally:
        if ahead is not None:
            ahead.cancel()  # a no-op once it ran
        shutil.rmtree(work, ignore_errors=True)


def _run_compile(project: DbtProjectFile, upstream: dict[str, CompileResult], folders: Folders, key: str,
                 timeout_s: float, target: str, config: _sandbox.SandboxConfig, sandboxed: bool,
                 cache_dir: str, sealer: Sealer | None = None,
                 run_vars: tuple[dict, dict] = ({}, {}), ahead: Ahead | None = None) -> CompileResult:
    """One compile into ``folders``; ``ahead``: this compile prepared and its dbt started before
    the upstream compiles were done (:mod:`analysis.dbt.prestart`), released here."""
    def failed(error: str, seconds: float = 0.0, log: str = "") -> CompileResult:
        if ahead is not None:
            ahead.cancel()
        return CompileResult(project.name, project.path, key, None, False, error=error, seconds=seconds, log=log)

    missing = [n for n in project.upstream_names if n in upstream and not upstream[n].ok]
    if missing:
        return failed(f"upstream project(s) {', '.join(missing)} did not compile, so {project.name} cannot be compiled")
    ready = ahead.ready if ahead is not None else prepare(project, folders, timeout_s, target, config, sandboxed,
                                                          cache_dir, sealer, run_vars)
    total = ready.seconds
    if ready.error:
        return failed(ready.error, total, ready.log)
    stage(project, upstream, folders)
    env, layers = ready.env, ready.layers
    if ahead is not None:
        result = ahead.run(timeout_s)
    else:
        result = run_dbt(ready.argv, folders, project, env=env, timeout_s=timeout_s, config=config,
                         sandboxed=sandboxed, layers=layers)
    total += result.seconds
    if not result.ok:
        return failed(envvars.with_hint(failure_text("dbt compile", result, timeout_s)), total, result.output)
    try:
        raw, manifest = accept_manifest(folders.out, project.name)
    except OutputError as exc:
        return failed(f"dbt compile of {project.name} left no usable manifest: {exc}", total, result.output)
    incremental = renders.incremental_models(manifest, project.name)
    if incremental:  # their SQL when is_incremental() is true, kept in the manifest meshdiff caches
        total += _second_render(project, folders, manifest, incremental, env, timeout_s, target, config, sandboxed,
                                layers, run_vars)
        raw = json.dumps(manifest).encode()
    # beside out/, never in it: a link dbt's Jinja left in out/ must not redirect a trusted write
    manifest_path = os.path.join(folders.work, "accepted-manifest.json")
    with open(manifest_path, "wb") as handle:  # the checked bytes, not the sandbox's file
        handle.write(raw)
    return CompileResult(project.name, project.path, key, manifest_path, True, seconds=total, log=result.output,
                         manifest=manifest)


def _second_render(project: DbtProjectFile, folders: Folders, manifest: dict, nodes: list[dict], env: dict,
                   timeout_s: float, target: str, config: _sandbox.SandboxConfig, sandboxed: bool,
                   layers: tuple[Layer, ...], run_vars: tuple[dict, dict]) -> float:
    """Compile the incremental ``nodes`` again with ``is_incremental()`` true (:mod:`analysis.dbt.renders`)
    and write that SQL, or why there is none, into ``manifest``; the seconds dbt took."""
    database = renders.database_path(folders.out)
    try:  # made here, now (the first dbt has ended): a folder or link that dbt left there is refused
        os.mkdir(os.path.dirname(database))
    except OSError:
        renders.add_renders(manifest, nodes, None, {}, "the first compile left `incremental/` in its output "
                                                       "folder, where meshdiff prepares the second compile's database")
        return 0.0
    errors = renders.prepare_database(database, nodes)
    profiles = os.path.join(folders.inputs, "profiles-incremental")
    os.makedirs(profiles)
    with open(os.path.join(profiles, "profiles.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(profiles_yml(project, database, target, memory_mb=config.limits.memory_mb), handle)
    wanted = [n for n in nodes if n["unique_id"] not in errors]
    second, failure, seconds = None, None, 0.0
    if wanted:
        argv = ["--log-format", "text", "compile", "--project-dir", project.path, "--profiles-dir", profiles,
                "--target", target, "--target-path", os.path.join(folders.out, "target-incremental"),
                "--log-path", os.path.join(folders.out, "logs-incremental"), *renders.selectors(wanted),
                *envvars.vars_args(run_vars[1])]
        result = run_dbt(argv, folders, project, env=env, timeout_s=timeout_s, config=config, sandboxed=sandboxed,
                         layers=layers)
        seconds = result.seconds
        if not result.ok:
            failure = ("the second compile (is_incremental() true) failed: "
                       + failure_text("dbt compile", result, timeout_s)[:2000])
        else:
            try:
                second = accept_manifest(folders.out, project.name, "target-incremental/manifest.json")[1]
            except OutputError as exc:
                failure = f"the second compile (is_incremental() true) left no usable manifest: {exc}"
    renders.add_renders(manifest, nodes, second, errors, failure)
    return seconds


def _read_cached(project: DbtProjectFile, slot: str, key: str, sealer: Sealer) -> CompileResult | None:
    status = read_slot(slot, sealer, project.path)
    if status is None:
        return None
    if not status.get("ok"):  # a failure an older meshdiff stored: never served, compiled again
        discard(slot)
        return None
    ok = True
    interface = status.get("interface") if ok else None
    state = os.path.join(slot, partialparse.FILE)
    state_sha = status.get("partial_parse_sha256")
    return CompileResult(
        project=project.name,
        project_dir=project.path,
        key=key,
        manifest_path=os.path.join(slot, "manifest.json") if ok else None,
        ok=ok,
        error=str(status.get("error", "")),
        seconds=float(status.get("seconds", 0.0)),
        cached=True,
        interface=interface if isinstance(interface, str) else None,
        partial_parse=state if isinstance(state_sha, str) else None,
        partial_parse_sha256=state_sha if isinstance(state_sha, str) else None,
    )
