"""The sqlglot dialects a project's SQL can be parsed with, and the check of a user's choice."""
from __future__ import annotations

import difflib

from sqlglot import Dialect
from sqlglot.dialects.dialect import Dialects

from analysis.errors import AnalysisError


def known_dialects() -> list[str]:
    """Names of sqlglot's dialects (``bigquery``, ``duckdb``, ``snowflake``...)."""
    return sorted(d.value for d in Dialects if d.value)


def check_dialect(value: str) -> str:
    """``value`` as a sqlglot dialect name (trimmed, lower-cased); an :class:`AnalysisError`
    naming the valid dialects when sqlglot has no such dialect."""
    name = str(value).strip().lower()
    try:
        if not name or "," in name or "=" in name:
            raise ValueError(name)
        Dialect.get_or_raise(name)
    except ValueError:
        known = known_dialects()
        near = difflib.get_close_matches(name, known, n=1)
        raise AnalysisError(
            f"{value!r} is not a sqlglot dialect",
            hint=(f"did you mean {near[0]}? " if near else "") + "valid dialects: " + ", ".join(known),
        ) from None
    return name
