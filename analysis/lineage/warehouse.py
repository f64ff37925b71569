"""Models whose SQL depends on what is in the warehouse, which meshdiff's compile cannot see.

meshdiff compiles every project against an empty embedded database. Macros that ask the
database for the columns of a relation or for the values of a column then render as if there
were none: ``dbt_utils.union_relations`` lists no column but ``_dbt_source_relation``,
``dbt_utils.get_column_values`` returns an empty list (so a pivot built from it has no
columns), ``dbt_utils.star(..., except=[...])`` renders a bare ``*`` that keeps the excluded
columns, ``dbt_utils.unpivot`` makes no rows. The compiled SQL is valid and its lineage looks
complete, but it is not the SQL the warehouse runs.

:func:`warehouse_macros` finds such calls in a model's Jinja; :func:`mark` says so in its
lineage: the columns those macros would have listed are unknown (``"*"``), the model is
``partial`` (``unknown`` when nothing else is known), and the reason names each macro.
A plain ``dbt_utils.star(ref('x'))`` is not marked: its ``*`` is expanded from the schema
meshdiff knows, which lists the same columns.
"""
from __future__ import annotations

import re
from dataclasses import replace

from analysis.dbt import WAREHOUSE_MACROS
from analysis.lineage.columns import ModelLineage

_CALL = re.compile(r"\b((?:[A-Za-z_][A-Za-z0-9_]*\.)?(" + "|".join(WAREHOUSE_MACROS) + r"))\s*\(")
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_PLAIN_STAR = re.compile(r"^\s*(?:from\s*=\s*)?(?:ref|source)\([^()]*\)\s*$")


def warehouse_macros(raw_sql: str | None) -> list[str]:
    """Warehouse-dependent macros called in the Jinja of ``raw_sql`` (``dbt_utils.union_relations``),
    in order, without repeats; a ``star`` of one relation with no other argument is not one."""
    found: list[str] = []
    for block in _JINJA.findall(raw_sql or ""):
        for match in _CALL.finditer(block):
            name, short = match.group(1), match.group(2)
            if short == "star" and _PLAIN_STAR.match(_arguments(block, match.end())):
                continue
            if name not in found:
                found.append(name)
    return found


def _arguments(text: str, start: int) -> str:
    """The text between the parenthesis opened just before ``start`` and its match."""
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return text[start:i]
    return text[start:]


def mark(lineage: ModelLineage, macros: list[str]) -> ModelLineage:
    """``lineage`` with the columns ``macros`` would list unknown, and the reason (see the module
    docstring); unchanged when there are none or nothing is known anyway."""
    if not macros or lineage.status == "unknown":
        return lineage
    names = ", ".join(f"`{m}`" for m in macros)
    asks = "; ".join(f"`{m}` reads {WAREHOUSE_MACROS[m.rsplit('.', 1)[-1]]}" for m in macros)
    why = (f"its SQL depends on the warehouse ({asks}) and meshdiff compiles against an empty database, so the "
           f"compiled SQL lacks what {names} would list; the columns they generate are unknown — declare the "
           f"model's columns in YAML (an enforced contract) to make them known")
    reason = "; ".join(r for r in (lineage.reason, why) if r)
    status = "partial" if lineage.columns else "unknown"
    return replace(lineage, status=status, reason=reason, unknown_columns=lineage.unknown_columns | {"*"})
