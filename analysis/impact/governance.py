"""Governance findings between two versions of a model: access, contract, versions.

Each finding is a human sentence. Findings that break consumers of a *public* model in
place (without a new version) start with :data:`analysis.impact.policy.GOVERNANCE_MARK`, which
the default policy turns into a failure.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from functools import lru_cache

from sqlglot import exp

from analysis import errors
from analysis.dbt import Node
from analysis.impact.policy import GOVERNANCE_MARK

_ACCESS_RANK = {"private": 0, "protected": 1, "public": 2}


def _mark(text: str, node: Node) -> str:
    return f"{GOVERNANCE_MARK} {text}" if node.access == "public" else text


def access_findings(base: Node, head: Node) -> list[str]:
    before, after = base.access or "protected", head.access or "protected"
    if _ACCESS_RANK.get(after, 1) < _ACCESS_RANK.get(before, 1):
        text = f"access narrowed from `{before}` to `{after}`: models outside its {'project' if after == 'protected' else 'group'} can no longer ref it"
        return [f"{GOVERNANCE_MARK} {text}" if before == "public" else text]
    if after != before:
        return [f"access widened from `{before}` to `{after}`"]
    return []


def contract_findings(base: Node, head: Node) -> tuple[list[str], dict[str, str]]:
    """Contract changes. Returns (findings, {column: "removed" | "retyped"}) for broken columns."""
    if not base.contract_enforced:
        if head.contract_enforced:
            return ["contract now enforced"], {}
        return [], {}
    if not head.contract_enforced:
        return [_mark("contract no longer enforced: consumers lose the guarantee of its columns and types", base)], {}
    findings: list[str] = []
    broken: dict[str, str] = {}
    for name, col in base.columns.items():
        other = head.columns.get(name)
        if other is None:
            broken[name] = "removed"
            findings.append(_mark(f"contract column `{col.name}` removed", base))
        elif _norm_type(col.data_type) != _norm_type(other.data_type):
            broken[name] = "retyped"
            findings.append(
                _mark(f"contract type of `{col.name}` changed from `{col.data_type}` to `{other.data_type}`", base)
            )
    added = [c.name for n, c in head.columns.items() if n not in base.columns]
    if added:
        findings.append("contract columns added: " + ", ".join(f"`{a}`" for a in added))
    if base.materialized != head.materialized and head.materialized in ("ephemeral", "view") and base.materialized == "table":
        findings.append(f"materialization changed from `{base.materialized}` to `{head.materialized}`")
    return findings, broken


def version_findings(base: Node | None, head: Node | None, *, today: date | None = None) -> list[str]:
    """Version-level changes of one versioned node (removed, latest_version, deprecation)."""
    findings: list[str] = []
    if base is not None and head is None and base.version is not None:
        findings.append(_mark(f"version {base.version} of `{base.name}` removed: consumers pinned to v{base.version} break", base))
    if base is not None and head is not None and base.latest_version != head.latest_version:
        findings.append(
            f"`latest_version` of `{head.name}` moved from {base.latest_version} to {head.latest_version}: "
            "consumers with unpinned refs now read another version"
        )
    return findings + deprecation_findings(base, head, today=today)


def deprecation_findings(base: Node | None, head: Node | None, *, today: date | None = None) -> list[str]:
    """``deprecation_date`` set, moved or passed, on any model (versioned or not)."""
    today = today or datetime.now(timezone.utc).date()
    if head is None or not head.deprecation_date:
        return []
    what = f"`{head.name}`" + (f" v{head.version}" if head.version is not None else "")
    findings: list[str] = []
    if base is None or head.deprecation_date != base.deprecation_date:
        findings.append(f"deprecation date of {what} set to {head.deprecation_date[:10]}: "
                        "consumers are warned to migrate before then")
    if _passed(head.deprecation_date, today):
        if base is None or not base.deprecation_date or not _passed(base.deprecation_date, today):
            findings.append(f"deprecation date {head.deprecation_date[:10]} of {what} has passed: "
                            "consumers that still ref it get a warning on every run")
    return findings


def _passed(when: str, today: date) -> bool:
    try:
        return date.fromisoformat(when[:10]) <= today
    except ValueError:
        return False


def _norm_type(data_type: str | None) -> str:
    return " ".join((data_type or "").lower().split())


def contract_vs_sql(node: Node, output_columns: list[str], types: dict[str, str | None] | None = None) -> list[str]:
    """An enforced contract whose columns differ from what the SQL produces: ``dbt build`` fails.

    ``output_columns`` are the inferred output columns of the head SQL (lower-cased); a
    ``*`` among them means the list is incomplete, and no missing or extra column is claimed.
    ``types`` are the types the SQL's lineage infers (never the contract's own): a column whose
    inferred type is of another family than its declared ``data_type`` (number, string,
    date/time, boolean) is reported; compatible spellings (``int``/``bigint``, ``text``/
    ``varchar(20)``, ``numeric(18,2)``/``double``) and unknown types are not.
    """
    if not node.contract_enforced or not output_columns:
        return []
    findings = _contract_types(node, types or {})
    if "*" in output_columns:
        return findings
    produced, declared = set(output_columns), set(node.columns)
    if missing := sorted(declared - produced):
        findings.append(f"{GOVERNANCE_MARK} contract declares " + ", ".join(f"`{c}`" for c in missing)
                        + " but the SQL does not produce it: `dbt build` will fail the contract check")
    if extra := sorted(produced - declared):
        findings.append(f"{GOVERNANCE_MARK} the SQL produces " + ", ".join(f"`{c}`" for c in extra)
                        + " which the contract does not declare: `dbt build` will fail the contract check")
    return findings


def _contract_types(node: Node, types: dict[str, str | None]) -> list[str]:
    findings = []
    for name, col in node.columns.items():
        declared, inferred = type_family(col.data_type), type_family(types.get(name))
        if declared and inferred and declared != inferred:
            findings.append(
                f"{GOVERNANCE_MARK} contract declares `{col.name}` as `{col.data_type}` ({declared}) but the SQL "
                f"produces `{types[name]}` ({inferred}): `dbt build` will fail the contract check"
            )
    return findings


_FAMILIES = (
    ("number", exp.DataType.NUMERIC_TYPES - {exp.DataType.Type.BIT}),
    ("string", exp.DataType.TEXT_TYPES | {exp.DataType.Type.BPCHAR}),
    ("date/time", exp.DataType.TEMPORAL_TYPES),
    ("boolean", {exp.DataType.Type.BOOLEAN}),
)


@lru_cache(maxsize=4096)
def type_family(data_type: str | None) -> str | None:
    """``number``, ``string``, ``date/time`` or ``boolean`` for a SQL type in any of the common
    dialects' spellings; ``None`` when unknown or of another kind (arrays, structs, JSON...)."""
    if not data_type or not str(data_type).strip():
        return None
    for dialect in (None, "duckdb", "bigquery", "snowflake"):
        try:
            kind = exp.DataType.build(str(data_type), dialect=dialect).this
        except errors.INTERRUPTS:
            raise
        except Exception:  # noqa: BLE001 - a spelling this dialect does not know: try the next
            continue
        return next((family for family, kinds in _FAMILIES if kind in kinds), None)
    return None
