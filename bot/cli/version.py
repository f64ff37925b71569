"""``meshdiff --version``: meshdiff's version and those of the tools its results depend on."""
from __future__ import annotations

import platform
from importlib import metadata


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def version_text() -> str:
    tools = ", ".join(f"{d} {_version(d)}" for d in ("dbt-core", "dbt-duckdb", "dbt-loom", "sqlglot"))
    return f"meshdiff {_version('meshdiff')} ({tools}; Python {platform.python_version()})"
