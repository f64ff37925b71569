"""Which column sets of a node are declared unique, from its manifest.

A node is unique on a set of columns (a *key*) when the project says so in a way dbt checks:

- a ``unique`` data test on a plain column (``column_name: order_id``; not an expression such
  as ``lower(email)``), attached to the node;
- a ``dbt_utils.unique_combination_of_columns`` test (``combination_of_columns``);
- a ``primary_key`` or ``unique`` constraint, on a column or at model level (``columns:``).

A test with a ``where`` config only proves the rows it keeps unique, so it proves no key.
Column names are lower-cased, as elsewhere in :mod:`analysis.dbt.nodes`. The lineage uses keys
to prove that a ``LEFT JOIN`` on them keeps one row per left row
(:mod:`analysis.lineage.scopes`); an unproven key keeps the conservative answer.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from analysis.dbt.nodes import Node

#: generic tests that prove a key, and the argument holding its columns
_TESTS = {
    ("", "unique"): "column_name",
    ("dbt_utils", "unique_combination_of_columns"): "combination_of_columns",
}
_KEY_CONSTRAINTS = frozenset({"primary_key", "unique"})
_PLAIN = re.compile(r'^\s*(?:"([^"]+)"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][A-Za-z0-9_$]*))\s*$')


def plain_column(text: Any) -> str | None:
    """The lower-cased column a test argument names, when it is a plain (or quoted) name."""
    if not isinstance(text, str):
        return None
    match = _PLAIN.match(text)
    if match is None:
        return None
    return next(g for g in match.groups() if g is not None).lower()


def key_from_test(raw: Mapping[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    """``(node id, key columns)`` a manifest test node proves unique, or ``None``."""
    meta = raw.get("test_metadata") or {}
    arg = _TESTS.get((meta.get("namespace") or "", meta.get("name") or ""))
    if arg is None:
        return None
    config = raw.get("config") or {}
    if config.get("where") or config.get("enabled") is False:
        return None
    kwargs = dict(meta.get("kwargs") or {})
    nested = kwargs.pop("arguments", None)  # dbt >= 1.10 nests a test's arguments
    if isinstance(nested, dict):
        kwargs.update(nested)
    value = kwargs.get(arg)
    if value is None and arg == "column_name":
        value = raw.get("column_name")
    names = value if isinstance(value, list) else [value]
    columns = [plain_column(v) for v in names]
    if not columns or any(c is None for c in columns):
        return None
    depends = tuple((raw.get("depends_on") or {}).get("nodes") or ())
    target = raw.get("attached_node") or (depends[0] if len(depends) == 1 else None)
    if not target:
        return None
    return target, tuple(sorted(set(columns)))


def constraint_keys(node: Node) -> list[tuple[str, ...]]:
    """Keys of ``node``'s ``primary_key`` / ``unique`` constraints (column and model level)."""
    out: list[tuple[str, ...]] = []
    for name, column in node.columns.items():
        for text in column.constraints:
            if _constraint(text).get("type") in _KEY_CONSTRAINTS:
                out.append((name,))
    for text in node.constraints:
        data = _constraint(text)
        if data.get("type") in _KEY_CONSTRAINTS:
            columns = [plain_column(c) for c in data.get("columns") or []]
            if columns and all(columns):
                out.append(tuple(sorted(set(columns))))
    return out


def _constraint(text: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def attach(nodes: Mapping[str, Node], raw_tests: Iterable[Mapping[str, Any]]) -> None:
    """Set :attr:`Node.unique_keys` of every node from its constraints and ``raw_tests``."""
    keys: dict[str, list[tuple[str, ...]]] = {}
    for node_id, node in nodes.items():
        found = constraint_keys(node)
        if found:
            keys[node_id] = found
    for raw in raw_tests:
        found = key_from_test(raw)
        if found is not None and found[0] in nodes:
            keys.setdefault(found[0], []).append(found[1])
    for node_id, found in keys.items():
        nodes[node_id].unique_keys = tuple(sorted(set(found)))
