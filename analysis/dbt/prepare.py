"""A compile made ready before dbt runs: what does not depend on the upstream compiles, and what does.

- :func:`prepare`: the generated profile, the packages in place (:mod:`analysis.dbt.deps`), dbt's
  command line, environment and layers (:class:`Prepared`); nothing here reads an upstream
  compile, so it may be done ahead (:func:`ahead_of`);
- :func:`stage`: the upstream compiles' manifests copied into ``in/`` and the dbt-loom config
  naming them (:mod:`analysis.dbt.loom`), just before dbt runs;
- :func:`ahead_of`: a compile prepared and its dbt started, held (:mod:`analysis.dbt.prestart`),
  with the :func:`terms` it serves;
- :func:`check_env_vars`: the environment variables and ``--vars`` of a compile, checked.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from analysis.dbt import deps, envvars, loom
from analysis.dbt import sandbox as _sandbox
from analysis.dbt.fence import Layer
from analysis.dbt.invoke import HOLD_INPUTS, HOLD_START, Folders, dbt_env, failure_text, run_dbt, start_dbt
from analysis.dbt.prestart import Ahead
from analysis.dbt.profile import check_target, profiles_yml
from analysis.dbt.project import DbtProjectFile
from analysis.errors import AnalysisError
from analysis.store import Sealer, sealer_for


@dataclass
class Prepared:
    """A compile's folders made ready before its upstream compiles are known: the profile
    written, the packages in place, dbt's command line, environment and layers."""

    folders: Folders
    argv: list[str]
    env: dict[str, str]
    layers: tuple[Layer, ...]
    seconds: float = 0.0
    #: why it could not be made ready (dbt's words), with dbt's output
    error: str = ""
    log: str = ""


def prepare(project: DbtProjectFile, folders: Folders, timeout_s: float, target: str,
             config: _sandbox.SandboxConfig, sandboxed: bool, cache_dir: str, sealer: Sealer | None,
             run_vars: tuple[dict, dict]) -> Prepared:
    """Everything of a compile that does not depend on the upstream compiles (see :class:`Prepared`)."""
    with open(os.path.join(folders.inputs, "profiles", "profiles.yml"), "w", encoding="utf-8") as handle:
        # relative to the run's folder (out/): one profile for every compile, as dbt's partial parsing wants
        yaml.safe_dump(profiles_yml(project, "mesh.duckdb", target,
                                    memory_mb=config.limits.memory_mb), handle)
    loom_path = os.path.join(folders.inputs, "dbt_loom.config.yml")  # written by _stage
    env = {**run_vars[0], **dbt_env(folders, {"DBT_LOOM_CONFIG": loom_path})}  # meshdiff's own settings win
    argv = [
        "--log-format", "text", "compile",
        "--project-dir", project.path,
        "--profiles-dir", os.path.join(folders.inputs, "profiles"),
        "--target", target,
        "--target-path", os.path.join(folders.out, "target"),
        "--log-path", os.path.join(folders.out, "logs"),
        "--select", "resource_type:model", "resource_type:snapshot", "resource_type:analysis",
        *envvars.vars_args(run_vars[1]),
    ]
    ready = Prepared(folders, argv, env, ())
    wanted = deps.needs(project)
    if wanted.kind in ("local", "remote"):
        view = os.path.join(folders.out, "project")
        dest = os.path.join(view if sandboxed else project.path, project.packages_dir)
        if sandboxed:
            os.makedirs(view)
            deps.copy_lock(project, view)
            ready.layers = (Layer(project.path, view, hide=(project.packages_dir.split("/")[0], "package-lock.yml")),)
        if wanted.kind == "remote":
            installed = deps.install(project, wanted, cache_dir=cache_dir, config=config, sandboxed=sandboxed,
                                     timeout_s=timeout_s, sealer=sealer or sealer_for(cache_dir))
            if isinstance(installed, str):
                ready.error = installed
                return ready
            if not os.path.isdir(dest):
                deps.restore(installed, dest, project)
        else:  # local packages only: dbt links them, offline, in the compile's own fence
            offline = run_dbt(["deps", "--project-dir", project.path, "--log-path", os.path.join(folders.out, "logs")],
                              folders, project, env=env, timeout_s=timeout_s, config=config, sandboxed=sandboxed,
                              layers=tuple(Layer(x.dest, x.source, True, x.hide) for x in ready.layers))
            ready.seconds += offline.seconds
            if not offline.ok:
                ready.error = (f"dbt deps could not link the local package(s) "
                               f"{', '.join(p.describe() for p in wanted.packages)} of {project.name}:\n"
                               + failure_text("dbt deps", offline, timeout_s))
                ready.log = offline.output
    return ready


def stage(project: DbtProjectFile, upstream: Mapping[str, Any], folders: Folders) -> None:
    """The upstream compiles' manifests copied into ``in/`` and the dbt-loom config naming them."""
    staged = {}
    for name in project.upstream_names:
        if name in upstream and upstream[name].manifest_path:
            staged[name] = os.path.join(folders.inputs, "upstream", f"{len(staged)}.json")
            shutil.copyfile(upstream[name].manifest_path, staged[name])
    with open(os.path.join(folders.inputs, "dbt_loom.config.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(loom.plan(project, upstream, staged).config, handle)


def check_env_vars(env: dict | None, dbt_vars: dict | None, project: str) -> tuple[dict, dict]:
    """``env`` and ``dbt_vars`` checked (:mod:`analysis.dbt.envvars`): (env as strings, vars)."""
    for name, value in (env or {}).items():
        problem = envvars.env_problem(name, value)
        if problem:
            raise AnalysisError(f"env for {project}: {problem}", hint="pass non-secret values dbt's env_var() reads")
    problem = envvars.vars_problem(dbt_vars) if dbt_vars else None
    if problem:
        raise AnalysisError(f"vars for {project}: {problem}", hint="pass dbt vars as a mapping")
    return envvars.env_strings(env), dict(dbt_vars or {})


def terms(project: DbtProjectFile, target: str, config: _sandbox.SandboxConfig, sandboxed: bool,
           run_vars: tuple[dict, dict]) -> tuple:
    """What a compile is run with, beyond its inputs: a compile started ahead serves it only if equal."""
    return (os.path.abspath(project.path), target, sandboxed, config.limits,
            json.dumps(run_vars, sort_keys=True, default=str))


def ahead_of(project: DbtProjectFile, *, cache_dir: str, timeout_s: float = 300.0, target: str | None = None,
             sandbox: _sandbox.SandboxConfig | None = None, cache_key: bytes | None = None,
             env: dict[str, str] | None = None, dbt_vars: dict | None = None, seeded: bool = False) -> Ahead | None:
    """``project``'s compile made ready and its dbt started, held (:mod:`analysis.dbt.prestart`);
    ``None`` when it cannot be (the compile then does it all itself, and says what fails).
    dbt parses the project while held, unless the compile is ``seeded`` (given a parse state
    before the go: it then waits before it reads anything of the project)."""
    config = sandbox or _sandbox.SandboxConfig.from_env()
    target = check_target(target)
    run_vars = check_env_vars(env, dbt_vars, project.name)
    hold = HOLD_START if seeded else HOLD_INPUTS
    try:
        sandboxed = config.active()
    except _sandbox.SandboxError:
        return None
    if not sandboxed and deps.needs(project).kind in ("local", "remote"):
        return None  # unsandboxed, packages land in the checkout itself: one writer at a time
    work = tempfile.mkdtemp(prefix=f"meshdiff-{project.name}-")
    try:
        folders = Folders(work).make()
        ready = prepare(project, folders, timeout_s, target, config, sandboxed, cache_dir,
                         sealer_for(cache_dir, cache_key), run_vars)
        if ready.error:
            raise OSError(ready.error)
        started = start_dbt(ready.argv, folders, project, env=ready.env, config=config, sandboxed=sandboxed,
                            layers=ready.layers, hold=hold)
    except (OSError, AnalysisError, _sandbox.SandboxError):
        shutil.rmtree(work, ignore_errors=True)
        return None  # the compile does it all itself, and says what fails
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Ahead(project.path, terms(project, target, config, sandboxed, run_vars), work, ready, started,
                 hold=hold)
