"""Enforced contract constraints removed or loosened, by dbt-core's own rules.

dbt-core (``ModelNode.same_contract``) treats as a **breaking** contract change of a model whose
contract was enforced and whose materialization enforces constraints (``table``,
``incremental``):

- a column-level constraint of the base that the head no longer has, unchanged, on that column;
- a model-level constraint of the base that the head no longer has, unchanged;
- the materialization moving to one that does not enforce constraints (``view``,
  ``ephemeral``...) while the model had constraints;

each only for constraint types that the warehouse **enforces** (dbt's adapter
``CONSTRAINT_SUPPORT``). A constraint whose expression, columns or reference changed is, for
dbt as here, the old one removed (a loosened ``check``, a ``foreign_key`` to another table).
meshdiff compiles on DuckDB, so the warehouse is the project's dialect (``dialect:`` in
``.meshdiff.yml``, ``--dialect``); without one, every type counts as enforced (DuckDB's and
PostgreSQL's rule). A removed constraint the warehouse does not enforce is reported without
blocking, as dbt does not count it either.
"""
from __future__ import annotations

import json

from analysis.dbt import Node
from analysis.impact.policy import GOVERNANCE_MARK

ALL_TYPES = frozenset({"check", "not_null", "unique", "primary_key", "foreign_key"})
#: constraint types each warehouse enforces (dbt's adapters' ``CONSTRAINT_SUPPORT``: ``ENFORCED``),
#: by sqlglot dialect; a dialect not listed: dbt's base adapter (``not_null``, ``foreign_key``)
ENFORCED_BY_DIALECT: dict[str, frozenset[str]] = {
    "duckdb": ALL_TYPES,
    "postgres": ALL_TYPES,
    "snowflake": frozenset({"not_null"}),
    "bigquery": frozenset({"not_null"}),
    "redshift": frozenset({"not_null"}),
    "databricks": frozenset({"not_null", "check"}),
    "spark": frozenset({"not_null", "check"}),
    "tsql": frozenset({"not_null", "check", "unique", "primary_key", "foreign_key"}),
}
_BASE_ADAPTER = frozenset({"not_null", "foreign_key"})
_ENFORCING = ("table", "incremental")


def enforced_types(dialect: str | None) -> frozenset[str]:
    """Constraint types the warehouse of ``dialect`` enforces (all of them when unknown)."""
    if not dialect:
        return ALL_TYPES
    return ENFORCED_BY_DIALECT.get(dialect.lower(), _BASE_ADAPTER)


def constraint_findings(base: Node, head: Node, dialect: str | None = None) -> list[str]:
    """Constraints of ``base``'s enforced contract that ``head`` drops, as findings (breaking
    ones marked :data:`GOVERNANCE_MARK` when the model is public)."""
    if not base.contract_enforced or not head.contract_enforced or (base.materialized or "table") not in _ENFORCING:
        return []
    enforced = enforced_types(dialect)
    findings: list[str] = []
    had_constraints = bool(base.constraints) or any(c.constraints for c in base.columns.values())
    for name, col in sorted(base.columns.items()):
        other = head.columns.get(name)
        if other is None:
            continue  # the column itself is gone: a contract finding of its own
        for text in col.constraints:
            if text not in other.constraints:
                findings.append(_finding(base, enforced, text, f"on column `{col.name}`", dialect))
    for text in base.constraints:
        if text not in head.constraints:
            findings.append(_finding(base, enforced, text, "(model level)", dialect))
    if had_constraints and (head.materialized or "table") not in _ENFORCING:
        findings.append(_mark(base, f"materialization changed from `{base.materialized or 'table'}` to "
                                    f"`{head.materialized}`, which enforces no constraint: the contract's "
                                    "constraints are no longer guaranteed (dbt: breaking contract change)"))
    return findings


def _finding(node: Node, enforced: frozenset[str], text: str, where: str, dialect: str | None) -> str:
    constraint = json.loads(text)
    kind = str(constraint.get("type"))
    what = _describe(constraint)
    if kind in enforced:
        return _mark(node, f"enforced `{what}` constraint {where} removed or loosened: consumers lose "
                           "its guarantee (dbt: breaking contract change)")
    return (f"`{what}` constraint {where} removed or loosened; {dialect or 'the warehouse'} does not enforce "
            f"`{kind}`, so dbt does not count it as a breaking change")


def _describe(constraint: dict) -> str:
    kind = str(constraint.get("type"))
    parts = [kind]
    if constraint.get("name"):
        parts.append(str(constraint["name"]))
    if constraint.get("columns"):
        parts.append("(" + ", ".join(map(str, constraint["columns"])) + ")")
    if constraint.get("expression"):
        parts.append(str(constraint["expression"]))
    if constraint.get("to"):
        parts.append("-> " + str(constraint["to"]) + (
            "(" + ", ".join(map(str, constraint.get("to_columns") or [])) + ")" if constraint.get("to_columns") else ""))
    return " ".join(parts)


def _mark(node: Node, text: str) -> str:
    return f"{GOVERNANCE_MARK} {text}" if node.access == "public" else text
