"""The columns dbt adds to a snapshot, written into the snapshot's SQL so its lineage knows them.

A snapshot's compiled SQL is only the ``select`` of its source rows; the table dbt builds has
more columns (https://docs.getdbt.com/docs/build/snapshots#snapshot-meta-fields):

- ``dbt_scd_id``: a hash of the ``unique_key`` and the version's timestamp;
- ``dbt_updated_at``, ``dbt_valid_from``: the ``updated_at`` column (``timestamp`` strategy), or
  the time of the snapshot run (``check`` strategy);
- ``dbt_valid_to``: the next version's timestamp (null for the current one);
- ``dbt_is_deleted``: only with ``hard_deletes: new_record`` (``'True'``/``'False'``).

Their names follow ``snapshot_meta_column_names`` when it renames them. :func:`with_meta_columns`
wraps the compiled SQL in a ``select`` that adds them, computed from the columns they are
computed from (so a model reading ``dbt_valid_from`` has proven lineage back to ``updated_at``),
and names the columns that decide which versions exist (``unique_key``, ``updated_at``, the
``check_cols``) in a ``where`` that is always true, so that a change to their values is seen as
changing the snapshot's rows.
"""
from __future__ import annotations

META_COLUMNS = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to", "dbt_is_deleted")
_ALIAS = "meshdiff_snapshot_source"


def meta_column_names(config: dict) -> dict[str, str]:
    """dbt's name -> the name in this snapshot's table (``snapshot_meta_column_names``)."""
    names = {c: c for c in META_COLUMNS}
    custom = config.get("snapshot_meta_column_names")
    if isinstance(custom, dict):
        names.update({k: str(v) for k, v in custom.items() if k in names and isinstance(v, str) and v.strip()})
    return names


def _expressions(value) -> list[str]:
    if isinstance(value, str) and value.strip():
        return [value.strip()]
    if isinstance(value, list):
        return [str(v).strip() for v in value if isinstance(v, str) and v.strip()]
    return []


def with_meta_columns(compiled_sql: str, config: dict) -> str:
    """``compiled_sql`` of a snapshot, with dbt's meta columns added (see the module docstring)."""
    names = meta_column_names(config)
    keys = _expressions(config.get("unique_key"))
    strategy = str(config.get("strategy") or "timestamp").lower()
    updated = _expressions(config.get("updated_at"))[:1] if strategy == "timestamp" else []
    checked = _expressions(config.get("check_cols")) if strategy == "check" and config.get("check_cols") != "all" else []
    when = f"({updated[0]})" if updated else "current_timestamp"
    key_text = " || '|' || ".join(f"coalesce(cast(({k}) as varchar), '')" for k in keys) or "''"
    columns = [
        f"md5({key_text} || '|' || coalesce(cast({when} as varchar), '')) as {names['dbt_scd_id']}",
        f"{when} as {names['dbt_updated_at']}",
        f"{when} as {names['dbt_valid_from']}",
        f"case when 1 = 0 then {when} end as {names['dbt_valid_to']}",
    ]
    if str(config.get("hard_deletes") or "").lower() == "new_record":
        columns.append(f"'False' as {names['dbt_is_deleted']}")
    deciding = [*keys, *updated, *checked]
    where = ("\nwhere " + " or ".join(f"({c}) is null" for c in deciding) + " or 1 = 1") if deciding else ""
    body = compiled_sql.strip().rstrip(";")
    return (f"select\n    {_ALIAS}.*,\n    " + ",\n    ".join(columns)
            + f"\nfrom (\n{body}\n) as {_ALIAS}{where}")
