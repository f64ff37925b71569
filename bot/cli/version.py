"""``meshdiff --version``: meshdiff's version and those of the tools its results depend on."""
from __future__ import annotations

import platform
from importlib import metadata


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _sqlglot_build() -> str:
    """``compiled`` when sqlglot's mypyc build (sqlglotc) is what runs, else ``pure Python``."""
    import sqlglot.parser

    return "compiled" if not sqlglot.parser.__file__.endswith(".py") else "pure Python"


def version_text() -> str:
    tools = ", ".join(f"{d} {_version(d)}" for d in ("dbt-core", "dbt-duckdb", "dbt-loom", "sqlglot"))
    tools += f" ({_sqlglot_build()})"
    return f"meshdiff {_version('meshdiff')} ({tools}; Python {platform.python_version()})"
