"""The mesh configuration ``.meshdiff.yml``: which dbt projects a repository holds, which
projects downstream consume them, and the merge policy.

```yaml
version: 1
projects:                 # the dbt projects in THIS repository
  - path: shop            # dbt project dir relative to the repo root (required)
    name: shop            # optional, default: `name` from its dbt_project.yml
    dialect: snowflake    # optional sqlglot dialect override
    target: prod          # optional dbt target name to compile with (`target.name`; default meshdiff)
    env: {DBT_SCHEMA: analytics}   # optional: variables dbt's env_var() reads (NOT secrets)
    vars: {start_date: '2024-01-01'}  # optional: dbt vars of its compiles
upstream:                 # optional: projects of other repos that this repo's projects consume
  - repo: octo-org/shop-dbt
    path: shop
downstream:               # projects that consume this repo's projects
  - repo: octo-org/finance-dbt   # another repository (omit for the same repository)
    path: finance
    branch: main          # default: that repo's default branch
    dialect: null
    target: prod
policy:
  fail_on: [breaking, unknown]
  governance: true
  comment: always         # always | on-impact | on-failure: when to post the PR comment
  mention: breaking       # breaking | all | none: whose owners the comment @-mentions
  request_reviews: none   # breaking | none: ask the owners of breaking consumers for a review
```

Org-wide defaults live in ``.meshdiff.yml`` of the organisation's ``.github`` repository;
:func:`merge_config` lets the repository's keys win (lists replace, they are not concatenated).
Without any ``.meshdiff.yml``, :func:`bot.discovery.discover_projects` finds ``dbt_project.yml`` files.
"""
from __future__ import annotations

import difflib
import os
import posixpath
import re
from dataclasses import dataclass, field

import yaml

from analysis.impact import DEFAULT_FAIL_ON, Policy

CONFIG_FILE = ".meshdiff.yml"
SEVERITIES = ("breaking", "changed", "unknown")
_TOP_KEYS = ("version", "projects", "downstream", "upstream", "policy")
_PROJECT_KEYS = ("path", "name", "dialect", "target", "env", "vars")
_DOWNSTREAM_KEYS = ("repo", "path", "branch", "dialect", "name", "target", "env", "vars")
_POLICY_KEYS = ("fail_on", "governance", "comment", "mention", "request_reviews")
#: allowed values of the publishing keys of ``policy`` (first: the default)
NOTIFY_CHOICES = {
    "comment": ("always", "on-impact", "on-failure"),
    "mention": ("breaking", "all", "none"),
    "request_reviews": ("none", "breaking"),
}
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_BRANCH_RE = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]+$")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ConfigError(ValueError):
    """An invalid ``.meshdiff.yml``: the message names the file, the key and what to do."""


@dataclass(frozen=True)
class ProjectEntry:
    path: str
    name: str | None = None
    dialect: str | None = None
    #: the dbt target name its compile uses (what ``target.name`` renders to)
    target: str | None = None
    #: environment variables dbt's ``env_var()`` reads (not secrets) and dbt vars of its compile
    env: dict = field(default_factory=dict, hash=False)
    vars: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class DownstreamEntry:
    path: str
    repo: str | None = None
    branch: str | None = None
    dialect: str | None = None
    name: str | None = None
    target: str | None = None
    env: dict = field(default_factory=dict, hash=False)
    vars: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Notify:
    """How the App speaks on a PR (``policy.comment``, ``policy.mention``, ``policy.request_reviews``)."""

    #: post the comment always, only when something downstream is impacted, or only when it blocks
    comment: str = "always"
    #: @-mention the owners of breaking nodes, of all impacted nodes, or nobody
    mention: str = "breaking"
    #: ask the owners (GitHub handles) of breaking consumers for a review
    request_reviews: str = "none"

    def to_dict(self) -> dict:
        return {"comment": self.comment, "mention": self.mention, "request_reviews": self.request_reviews}

    @classmethod
    def from_dict(cls, data: dict | None) -> "Notify":
        data = data or {}
        return cls(**{k: data[k] for k in NOTIFY_CHOICES if data.get(k) in NOTIFY_CHOICES[k]})


@dataclass(frozen=True)
class MeshConfig:
    projects: list[ProjectEntry] = field(default_factory=list)
    downstream: list[DownstreamEntry] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)
    #: projects of other repositories that this repo's projects consume (same shape as downstream)
    upstream: list[DownstreamEntry] = field(default_factory=list)
    #: where it was read from (for messages)
    source: str = ""
    #: the keys the file set (``projects``, ``policy.fail_on``, ...), for :func:`merge_config`
    present: frozenset[str] = frozenset()
    #: True when the projects were discovered rather than configured
    discovered: bool = False
    notify: Notify = field(default_factory=Notify)


def _fail(source: str, key: str, problem: str, todo: str) -> ConfigError:
    return ConfigError(f"{source}: `{key}` {problem}; {todo}")


def _check_keys(source: str, where: str, data: dict, allowed: tuple[str, ...]) -> None:
    for key in data:
        if key not in allowed:
            near = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean `{near[0]}`? " if near else ""
            raise _fail(source, f"{where}{key}", "is not a known key",
                        f"{hint}allowed keys here: {', '.join(allowed)}")


def _opt_str(source: str, key: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, key, f"must be a non-empty string, got {value!r}", "fix or remove it")
    return value.strip()


def _target(source: str, key: str, value) -> str | None:
    """A dbt target name (the generated profile's target: what ``target.name`` renders to)."""
    from analysis.dbt import TARGET_RE

    target = _opt_str(source, key, value)
    if target is not None and not TARGET_RE.match(target):
        raise _fail(source, key, f"{target!r} is not a dbt target name",
                    "use letters, digits, `_`, `-` or `.`, e.g. `target: prod`")
    return target


def _env(source: str, key: str, value) -> dict:
    """``env:``: NAME: value pairs for dbt's ``env_var()`` (not secrets; :mod:`analysis.dbt.envvars`)."""
    from analysis.dbt import env_problem

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(source, key, "must be a mapping of variable names to values", "e.g. `env: {DBT_SCHEMA: analytics}`")
    for name, val in value.items():
        problem = env_problem(name, val)
        if problem:
            raise _fail(source, f"{key}.{name}", problem, "give only non-secret values dbt's env_var() reads")
    return {str(k): str(v) for k, v in value.items()}


def _vars(source: str, key: str, value) -> dict:
    """``vars:``: dbt vars of the project's compile (what ``--vars`` takes)."""
    from analysis.dbt import plain_vars, vars_problem

    if value is None:
        return {}
    problem = vars_problem(value)
    if problem:
        raise _fail(source, key, problem, "e.g. `vars: {start_date: '2024-01-01'}`")
    return plain_vars(value)


def _dialect(source: str, key: str, value) -> str | None:
    """A sqlglot dialect name (lower-cased), checked against sqlglot's registry."""
    from analysis.lineage import check_dialect
    from analysis.errors import AnalysisError

    dialect = _opt_str(source, key, value)
    if dialect is None:
        return None
    try:
        return check_dialect(dialect)
    except AnalysisError as exc:
        raise _fail(source, key, f"{dialect!r} is not a sqlglot dialect", exc.hint) from None


def _rel_path(source: str, key: str, value) -> str:
    """A safe path relative to a repository root: no absolute paths, no ``..``."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, key, "is required and must be a directory path",
                    "give the dbt project folder relative to the repository root, e.g. `path: shop`")
    raw = value.strip().replace("\\", "/")
    norm = posixpath.normpath(raw)
    if raw.startswith("/") or norm == ".." or norm.startswith("../") or "\x00" in raw:
        raise _fail(source, key, f"must stay inside the repository, got {value!r}",
                    "use a relative path without `..`")
    return "" if norm == "." else norm


def _notify(source: str, data, present: set[str]) -> Notify:
    if not isinstance(data, dict):
        return Notify()
    values = {}
    for key, choices in NOTIFY_CHOICES.items():
        if key not in data:
            continue
        present.add(f"policy.{key}")
        value = data[key]
        if value is False and "none" in choices:  # YAML reads a bare `none`-like `off`/`no` as false
            value = "none"
        if value not in choices:
            raise _fail(source, f"policy.{key}", f"must be one of {', '.join(choices)}, got {value!r}",
                        f"e.g. `{key}: {choices[0]}`")
        values[key] = value
    return Notify(**values)


def _policy(source: str, data, present: set[str]) -> Policy:
    if data is None:
        return Policy()
    if not isinstance(data, dict):
        raise _fail(source, "policy", "must be a mapping", "e.g. `policy: {fail_on: [breaking, unknown]}`")
    _check_keys(source, "policy.", data, _POLICY_KEYS)
    fail_on = DEFAULT_FAIL_ON
    if "fail_on" in data:
        present.add("policy.fail_on")
        raw = data["fail_on"]
        if raw is None:
            raw = []
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or any(s not in SEVERITIES for s in raw):
            raise _fail(source, "policy.fail_on", f"must be a list drawn from {', '.join(SEVERITIES)}, got {raw!r}",
                        "e.g. `fail_on: [breaking, unknown]`")
        fail_on = frozenset(raw)
    governance = True
    if "governance" in data:
        present.add("policy.governance")
        if not isinstance(data["governance"], bool):
            raise _fail(source, "policy.governance", f"must be true or false, got {data['governance']!r}",
                        "write `governance: true` or `governance: false`")
        governance = data["governance"]
    return Policy(fail_on=fail_on, governance=governance)


def parse_mesh_config(text: str, *, source: str) -> MeshConfig:
    """Parse and validate a ``.meshdiff.yml``. Raises :class:`ConfigError`."""
    try:
        data = yaml.safe_load(text) if text and text.strip() else {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc}); fix the syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the file must be a mapping with keys {', '.join(_TOP_KEYS)}")
    _check_keys(source, "", data, _TOP_KEYS)
    present = {k for k in data if k != "version"}
    version = data.get("version", 1)
    if version != 1:
        raise _fail(source, "version", f"is {version!r}, this meshdiff reads version 1", "write `version: 1`")

    projects: list[ProjectEntry] = []
    raw_projects = data.get("projects") or []
    if not isinstance(raw_projects, list):
        raise _fail(source, "projects", "must be a list", "e.g. `projects: [{path: shop}]`")
    for i, item in enumerate(raw_projects):
        where = f"projects[{i}]"
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict):
            raise _fail(source, where, "must be a mapping", "e.g. `- path: shop`")
        _check_keys(source, f"{where}.", item, _PROJECT_KEYS)
        entry = ProjectEntry(
            path=_rel_path(source, f"{where}.path", item.get("path")),
            name=_opt_str(source, f"{where}.name", item.get("name")),
            dialect=_dialect(source, f"{where}.dialect", item.get("dialect")),
            target=_target(source, f"{where}.target", item.get("target")),
            env=_env(source, f"{where}.env", item.get("env")),
            vars=_vars(source, f"{where}.vars", item.get("vars")),
        )
        if entry.name and not _NAME_RE.match(entry.name):
            raise _fail(source, f"{where}.name", f"{entry.name!r} is not a dbt project name", "use letters, digits, _")
        if any(p.path == entry.path for p in projects):
            raise _fail(source, f"{where}.path", f"repeats {entry.path or '.'!r}", "list each project once")
        projects.append(entry)

    downstream = _other_projects(source, "downstream", data.get("downstream"))
    upstream = _other_projects(source, "upstream", data.get("upstream"))
    policy = _policy(source, data.get("policy"), present)
    notify = _notify(source, data.get("policy"), present)
    return MeshConfig(projects=projects, downstream=downstream, policy=policy, upstream=upstream,
                      source=source, present=frozenset(present), notify=notify)


def _other_projects(source: str, key: str, raw) -> list[DownstreamEntry]:
    out: list[DownstreamEntry] = []
    raw = raw or []
    if not isinstance(raw, list):
        raise _fail(source, key, "must be a list", f"e.g. `{key}: [{{repo: org/finance-dbt, path: finance}}]`")
    for i, item in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise _fail(source, where, "must be a mapping", "e.g. `- {repo: org/finance-dbt, path: finance}`")
        _check_keys(source, f"{where}.", item, _DOWNSTREAM_KEYS)
        repo = _opt_str(source, f"{where}.repo", item.get("repo"))
        if repo and not _REPO_RE.match(repo):
            raise _fail(source, f"{where}.repo", f"{repo!r} is not `owner/name`", "write e.g. `repo: octo-org/finance-dbt`")
        branch = _opt_str(source, f"{where}.branch", item.get("branch"))
        if branch and not _BRANCH_RE.match(branch):
            raise _fail(source, f"{where}.branch", f"{branch!r} is not a branch name", "write e.g. `branch: main`")
        out.append(DownstreamEntry(
            path=_rel_path(source, f"{where}.path", item.get("path")),
            repo=repo, branch=branch,
            dialect=_dialect(source, f"{where}.dialect", item.get("dialect")),
            name=_opt_str(source, f"{where}.name", item.get("name")),
            target=_target(source, f"{where}.target", item.get("target")),
            env=_env(source, f"{where}.env", item.get("env")),
            vars=_vars(source, f"{where}.vars", item.get("vars")),
        ))
    return out


def merge_config(org_defaults: MeshConfig | None, repo: MeshConfig | None) -> MeshConfig:
    """Org-wide defaults overlaid by the repository's file: every key the repository sets wins
    (lists replace); keys it leaves out come from the org defaults."""
    if org_defaults is None and repo is None:
        return MeshConfig()
    if org_defaults is None:
        return repo  # type: ignore[return-value]
    if repo is None:
        return org_defaults

    def pick(key: str):
        return repo if key in repo.present else org_defaults

    policy = Policy(
        fail_on=pick("policy.fail_on").policy.fail_on,
        governance=pick("policy.governance").policy.governance,
    )
    notify = Notify(**{k: getattr(pick(f"policy.{k}").notify, k) for k in NOTIFY_CHOICES})
    return MeshConfig(
        projects=list(pick("projects").projects),
        downstream=list(pick("downstream").downstream),
        upstream=list(pick("upstream").upstream),
        policy=policy, notify=notify,
        source=f"{repo.source} (over {org_defaults.source})",
        present=repo.present | org_defaults.present,
    )


def read_config_file(root: str, *, source: str) -> MeshConfig | None:
    """Read ``.meshdiff.yml`` at ``root`` of a checkout; ``None`` when absent. A symlinked or
    oversized file is rejected (a PR must not make the bot read files outside the checkout)."""
    path = os.path.join(root, CONFIG_FILE)
    if os.path.islink(path):
        raise ConfigError(f"{source}: is a symbolic link; commit the file itself")
    if not os.path.isfile(path):
        return None
    if os.path.getsize(path) > 256 * 1024:
        raise ConfigError(f"{source}: larger than 256 KiB; keep only the mesh configuration in it")
    with open(path, encoding="utf-8", errors="replace") as handle:
        return parse_mesh_config(handle.read(), source=source)
