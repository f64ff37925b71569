"""The dbt profile meshdiff writes for every invocation: an embedded DuckDB, fenced in.

dbt never sees a ``profiles.yml`` from the checkout: the project's profile name points at a
DuckDB file in the sandbox's writable folder (no warehouse, no credentials). Its one target is
named ``meshdiff``, or the target name asked for (``.meshdiff.yml`` ``target:``, ``--target``),
so Jinja that branches on ``target.name`` renders as in that environment.

Defence in depth behind the OS sandbox: the database is opened with

- ``enable_external_access: false``: no ``read_text``/``read_csv`` of files, no ``COPY … TO``,
  no ``ATTACH``, no extension installed or loaded from disk or a URL (and DuckDB refuses to turn
  it back on while the database runs);
- ``allow_community_extensions: false`` (no ``shellfs``), ``autoinstall_known_extensions`` and
  ``autoload_known_extensions`` false;
- a ``memory_limit`` and ``threads``.

Not ``lock_configuration``: dbt-duckdb applies ``settings`` with ``SET`` on every cursor, which a
locked configuration refuses, so every ``run_query`` would fail. The settings are given both at
connect time (``config_options``) and per cursor (``settings``).
"""
from __future__ import annotations

import re

from analysis.errors import AnalysisError

DEFAULT_TARGET = "meshdiff"
#: a dbt target name meshdiff accepts (it becomes a profiles.yml key and a ``--target`` argument)
TARGET_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
#: DuckDB's share of the sandbox's address space (the rest is dbt, Python and Jinja)
DUCKDB_MEMORY_SHARE = 0.5


def check_target(target: str | None) -> str:
    """The target name to compile with (``meshdiff`` when none is given)."""
    if target is None:
        return DEFAULT_TARGET
    if not isinstance(target, str) or not TARGET_RE.match(target):
        raise AnalysisError(f"{target!r} is not a dbt target name",
                            hint="use letters, digits, `_`, `-` or `.`, e.g. prod")
    return target


def duckdb_settings(memory_mb: int = 4096, threads: int = 1) -> dict:
    """DuckDB settings of every generated profile (see the module docstring)."""
    return {
        "enable_external_access": False,
        "allow_community_extensions": False,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "memory_limit": f"{max(64, int(memory_mb * DUCKDB_MEMORY_SHARE))}MB",
        "threads": threads,
    }


def profiles_yml(project, db_path: str, target: str | None = None, *, memory_mb: int = 4096) -> dict:
    """A DuckDB profile under ``project.profile``: no warehouse needed. Its one target is named
    ``target`` (what ``target.name`` renders to), by default ``meshdiff``."""
    target = check_target(target)
    settings = duckdb_settings(memory_mb)
    return {
        project.profile: {
            "target": target,
            "outputs": {
                target: {"type": "duckdb", "path": db_path, "schema": "main", "threads": 1,
                         "config_options": dict(settings), "settings": dict(settings)}
            },
        }
    }
