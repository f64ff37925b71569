"""Checks of the command line's paths, files and ``PROJECT=VALUE`` pairs, done before any work
starts: each bad value raises :class:`~analysis.errors.AnalysisError` saying what is wrong and
what to do (the CLI prints it and exits 2)."""
from __future__ import annotations

import os

from analysis.errors import AnalysisError


def pairs(values: list[str], flag: str, example: str = "shop=snowflake") -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key or not val:
            raise AnalysisError(f"{flag} {value!r} is not PROJECT=VALUE", hint=f"e.g. {flag} {example}")
        out[key] = val
    return out


def dialects(values: list[str]) -> dict[str, str]:
    from analysis.lineage import check_dialect

    out = pairs(values, "--dialect")
    for project, dialect in out.items():
        try:
            out[project] = check_dialect(dialect)
        except AnalysisError as exc:
            raise AnalysisError(f"--dialect {project}={dialect}: {exc.message}", hint=exc.hint) from None
    return out


def targets(values: list[str]) -> dict[str, str]:
    from analysis.dbt import check_target

    out = pairs(values, "--target", "shop=prod")
    for project, name in out.items():
        try:
            check_target(name)
        except AnalysisError as exc:
            raise AnalysisError(f"--target {project}={name}: {exc.message}", hint=exc.hint) from None
    return out


def env_values(values: list[str]) -> dict[str, str]:
    """``--env NAME=VALUE`` (repeatable): environment variables dbt's ``env_var()`` reads, for every
    project compiled; not secrets (:mod:`analysis.dbt.envvars`)."""
    from analysis.dbt import env_problem

    out = {}
    for value in values:
        name, sep, val = value.partition("=")
        if not sep or not name:
            raise AnalysisError(f"--env {value!r} is not NAME=VALUE", hint="e.g. --env DBT_SCHEMA=analytics")
        problem = env_problem(name, val)
        if problem:
            raise AnalysisError(f"--env {name}: {problem}", hint="pass only non-secret values dbt's env_var() reads")
        out[name] = val
    return out


def vars_value(text: str | None) -> dict:
    """``--vars YAML``: dbt vars for every project compiled, as dbt's own ``--vars`` takes them."""
    import yaml

    from analysis.dbt import plain_vars, vars_problem

    if text is None:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AnalysisError(f"--vars is not YAML ({str(exc).splitlines()[0]})",
                            hint="e.g. --vars '{start_date: 2024-01-01}'") from None
    problem = vars_problem(data)
    if problem:
        raise AnalysisError(f"--vars {problem}", hint="e.g. --vars '{start_date: 2024-01-01}'")
    return plain_vars(data)


def with_env(specs, settings: dict[str, tuple[dict, dict]], env: dict[str, str], dbt_vars: dict) -> None:
    """Give each spec its project's ``env:``/``vars:`` of ``.meshdiff.yml`` (``settings`` by project
    name), with the command line's ``--env``/``--vars`` over them."""
    for spec in specs:
        file_env, file_vars = settings.get(spec.name, ({}, {}))
        spec.env, spec.vars = {**file_env, **env}, {**file_vars, **dbt_vars}


def catalog_files(values: list[str], projects: list[str]) -> dict[str, str]:
    """``--catalog PROJECT=FILE`` pairs: PROJECT is one of the analysed projects and FILE a
    catalog holding its nodes."""
    from analysis.dbt import read_catalogs

    out = {}
    for project, path in pairs(values, "--catalog", "shop=target/catalog.json").items():
        if project not in projects:
            raise AnalysisError(f"--catalog {project}={path}: no project named {project!r} is analysed",
                                hint="PROJECT is a dbt project name (`name:` of its dbt_project.yml), one of: "
                                + ", ".join(projects))
        out[project] = os.path.abspath(path)
        if os.path.isfile(out[project]):
            from analysis.store import read_text

            read_text(out[project], f"--catalog {project}")  # another encoding: say so, not "bad JSON"
    read_catalogs(out)
    return out


def output_file(path: str | None) -> str | None:
    """``--output FILE``: a file that can be written (its folder exists), checked before the
    analysis so that its result is not lost at the end."""
    if path is None:
        return None
    full = os.path.abspath(path)
    folder = os.path.dirname(full)
    if os.path.isdir(full):
        raise AnalysisError(f"--output {path} is a folder", hint="give a file name, e.g. --output report.md")
    if not os.path.isdir(folder):
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise AnalysisError(f"--output {path}: the folder {folder} {what}",
                            hint=f"create it first (mkdir -p {folder}) or write the report elsewhere")
    if not os.access(folder, os.W_OK) or (os.path.exists(full) and not os.access(full, os.W_OK)):
        raise AnalysisError(f"--output {path} cannot be written (permission denied)",
                            hint="write the report to a folder you can write to")
    return full


def cache_dir(path: str | None) -> str:
    """The cache folder (``--cache-dir``, else ``$MESHDIFF_CACHE_DIR``, else ``~/.cache/meshdiff``),
    created if needed; a path that is a file or cannot be created is an error."""
    from analysis.store import cache_root

    source = "--cache-dir" if path else ("MESHDIFF_CACHE_DIR" if os.environ.get("MESHDIFF_CACHE_DIR") else
                                         "the default cache folder")
    full = os.path.abspath(os.path.expanduser(path or cache_root()))
    hint = "pass --cache-dir DIR (or set MESHDIFF_CACHE_DIR) to a folder meshdiff can create and write"
    if os.path.exists(full) and not os.path.isdir(full):
        raise AnalysisError(f"{source} {full} is a file, not a folder", hint=hint)
    try:
        os.makedirs(full, exist_ok=True)
    except OSError as exc:
        raise AnalysisError(f"{source} {full} cannot be created: {exc.strerror}", hint=hint) from None
    if not os.access(full, os.W_OK | os.X_OK):
        raise AnalysisError(f"{source} {full} cannot be written (permission denied)", hint=hint)
    return full


def text_file(path: str, flag: str) -> str:
    """The UTF-8 text of a file named on the command line."""
    from analysis.store import read_text

    if os.path.isdir(path):
        raise AnalysisError(f"{flag} {path} is a folder, not a file", hint=f"pass the file itself to {flag}")
    try:
        return read_text(path, flag)
    except OSError as exc:
        raise AnalysisError(f"cannot read {flag} {path}: {exc.strerror}", hint="check the path") from None


def specs(paths: list[str], dialect_of: dict[str, str], target_of: dict[str, str]):
    """Project specs of project folders (each read now: a bad folder stops here)."""
    from analysis.dbt import read_project

    return [spec(os.path.abspath(path), read_project(path).name, dialect_of, target_of) for path in paths]


def spec(path: str, name: str, dialect_of: dict[str, str], target_of: dict[str, str]):
    from analysis.pipeline import ProjectSpec

    return ProjectSpec(path=path, dialect=dialect_of.get(name), name=name, target=target_of.get(name))


def sandbox(choice: str | None):
    """The sandbox policy of the command (``--sandbox``, else ``$MESHDIFF_SANDBOX``, else ``auto``),
    checked now: ``required`` on a machine that cannot make the sandbox stops here (exit 2);
    ``auto`` there says once, on stderr, that dbt runs unsandboxed."""
    from dataclasses import replace

    from analysis.dbt import SandboxConfig, SandboxError

    try:
        config = SandboxConfig.from_env("auto")
    except ValueError as exc:
        raise AnalysisError(str(exc), hint="MESHDIFF_SANDBOX takes on, off or required; "
                                           "MESHDIFF_DEPS_NETWORK on or off") from None
    if choice:
        config = replace(config, policy=choice)
    try:
        config.active()
    except SandboxError as exc:
        raise AnalysisError(str(exc), hint="or pass --sandbox auto to run dbt unsandboxed on this machine") from None
    return config
