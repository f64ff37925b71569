"""dbt data tests and unit tests from a manifest, with the columns each one reads.

A test fails when a column it reads is removed, renamed or changes type; its result may
change when the values of such a column change. What a test reads, without compiling it:

- a **generic** test (``not_null``, ``unique``, ``accepted_values``, ``relationships``,
  ``dbt_utils.*``...): its ``column_name`` on the node it is attached to; the columns its
  arguments name (``field`` on the node ``to`` refs; ``combination_of_columns``,
  ``column_names``; the identifiers of ``expression``/``condition`` and of a ``where`` config);
  the arguments of a test meshdiff does not know are read as column names where they are;
- a **singular** test (an SQL file under ``tests/``): every identifier of its SQL (Jinja tags
  and string literals removed), on each node it refs;
- a **unit** test: the columns of its ``given`` rows on each input it names (``ref(...)``,
  ``source(...)``, ``this``) and of its ``expect`` rows on the model it tests; rows given as
  ``sql`` or in a fixture file are not read, so the test may read any column of that node
  (``reads_all``).
"""
from __future__ import annotations

import re
from typing import Any

from analysis.dbt.nodes import DataTest, Node

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_STRING = re.compile(r"'(?:[^']|'')*'")
_COMMENT = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
_IDENT = re.compile(r"\"([^\"]+)\"|`([^`]+)`|\b([A-Za-z_][A-Za-z0-9_$]*)\b")
#: generic-test arguments that hold column names (on the tested node)
_COLUMN_ARGS = ("column_name", "combination_of_columns", "column_names", "columns", "group_by_columns")
#: arguments holding SQL expressions over the tested node's columns
_EXPRESSION_ARGS = ("expression", "condition", "row_condition", "compare_row_condition")
#: arguments that name no column of the tested node
_OTHER_ARGS = ("model", "values", "quote", "to", "field", "severity", "config", "name", "description")
_REF = re.compile(r"""^\s*ref\(\s*(['"])([^'"]+)\1\s*(?:,\s*(['"])([^'"]+)\3\s*)?(?:,\s*v(?:ersion)?\s*=\s*['"]?([\w.]+)['"]?\s*)?\)\s*$""")
_SOURCE = re.compile(r"""^\s*source\(\s*(['"])([^'"]+)\1\s*,\s*(['"])([^'"]+)\3\s*\)\s*$""")


#: SQL keywords that are never a column a test reads (unquoted)
_KEYWORDS = frozenset("""select from where and or not null is as on join left right inner outer full cross group by
order having limit case when then else end distinct with union all in between like exists true false asc desc
over partition qualify using""".split())


def identifiers(sql: str) -> list[str]:
    """Lower-cased identifiers of an SQL text (Jinja, comments, string literals and keywords removed)."""
    text = _STRING.sub(" ", _COMMENT.sub(" ", _JINJA.sub(" ", sql or "")))
    found = ((m.group(1) or m.group(2), False) if (m.group(1) or m.group(2)) else (m.group(3), True)
             for m in _IDENT.finditer(text))
    return list(dict.fromkeys(f.lower() for f, bare in found if f and not (bare and f.lower() in _KEYWORDS)))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def _test_kwargs(raw: dict) -> dict:
    meta = raw.get("test_metadata") or {}
    kwargs = dict(meta.get("kwargs") or {})
    nested = kwargs.pop("arguments", None)  # dbt >= 1.10 nests a test's arguments
    if isinstance(nested, dict):
        kwargs.update(nested)
    return kwargs


def data_test(raw: dict, nodes: dict[str, Node]) -> DataTest:
    """A data test node of a manifest (generic or singular)."""
    depends = tuple((raw.get("depends_on") or {}).get("nodes") or ())
    meta = raw.get("test_metadata") or {}
    attached = raw.get("attached_node") or None
    reads: list[tuple[str, str]] = []
    if meta.get("name"):
        kind = f"{meta['namespace']}.{meta['name']}" if meta.get("namespace") else str(meta["name"])
        target = attached or next((d for d in depends if d.startswith("source.")), None) or (depends[0] if depends else None)
        kwargs = _test_kwargs(raw)
        columns: list[str] = []
        for key, value in kwargs.items():
            if key in _COLUMN_ARGS:
                columns += [identifiers(s)[0] if identifiers(s) else s.lower() for s in _strings(value)]
            elif key in _EXPRESSION_ARGS:
                columns += [i for s in _strings(value) for i in identifiers(s)]
            elif key not in _OTHER_ARGS:
                columns += [s.lower() for s in _strings(value) if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", s)]
        where = (raw.get("config") or {}).get("where")
        if isinstance(where, str):
            columns += identifiers(where)
        if target:
            reads += [(target, c) for c in dict.fromkeys(columns)]
        field = kwargs.get("field")
        others = [d for d in depends if d != target]
        if isinstance(field, str) and others:
            reads += [(d, field.strip().strip('"').lower()) for d in others]
    else:
        kind = "singular"
        sql = raw.get("raw_code") or raw.get("compiled_code") or ""
        words = identifiers(sql)
        reads += [(d, w) for d in depends for w in words]
    return DataTest(
        unique_id=raw["unique_id"], project=raw.get("package_name") or "", name=raw.get("name") or "",
        resource_type="test", attached=attached, depends_on=depends, reads=tuple(dict.fromkeys(reads)),
        kind=kind, file_path=raw.get("original_file_path") or None,
    )


def unit_test(raw: dict, nodes: dict[str, Node]) -> DataTest:
    """A unit test of a manifest (``unit_tests``)."""
    depends = tuple((raw.get("depends_on") or {}).get("nodes") or ())
    model = depends[0] if depends else None
    reads: list[tuple[str, str]] = []
    reads_all: list[str] = []
    for given in raw.get("given") or []:
        if not isinstance(given, dict):
            continue
        node_id = input_node(str(given.get("input") or ""), model, nodes)
        if node_id is None:
            continue
        columns = fixture_columns(given)
        if columns is None:
            reads_all.append(node_id)
        else:
            reads += [(node_id, c) for c in columns]
    expect = raw.get("expect") if isinstance(raw.get("expect"), dict) else {}
    if model is not None:
        columns = fixture_columns(expect)
        if columns is None:
            reads_all.append(model)
        else:
            reads += [(model, c) for c in columns]
    return DataTest(
        unique_id=raw["unique_id"], project=raw.get("package_name") or "", name=raw.get("name") or "",
        resource_type="unit_test", attached=model, depends_on=depends, reads=tuple(dict.fromkeys(reads)),
        reads_all=tuple(dict.fromkeys(reads_all)), kind="unit", file_path=raw.get("original_file_path") or None,
    )


def fixture_columns(fixture: dict) -> list[str] | None:
    """Columns of a unit test's ``given`` or ``expect`` rows (``dict`` or ``csv`` rows written in
    the YAML); ``None`` when they cannot be read here (``sql`` rows, a fixture file)."""
    if fixture.get("fixture"):
        return None
    rows = fixture.get("rows")
    fmt = str(fixture.get("format") or "dict").lower()
    if fmt == "dict" and isinstance(rows, list):
        return list(dict.fromkeys(str(k).lower() for row in rows if isinstance(row, dict) for k in row))
    if fmt == "csv" and isinstance(rows, str):
        header = next((line for line in rows.splitlines() if line.strip()), "")
        return [c.strip().strip('"').lower() for c in header.split(",") if c.strip()]
    if rows is None and fmt == "dict":
        return []
    return None


def input_node(text: str, model: str | None, nodes: dict[str, Node]) -> str | None:
    """The node a unit test's ``input`` names (``ref('x')``, ``ref('p', 'x', v=2)``,
    ``source('s', 't')``, ``this``), among ``nodes``; ``None`` when none matches."""
    if text.strip() == "this":
        return model
    match = _REF.match(text)
    if match:
        first, second, version = match.group(2), match.group(4), match.group(5)
        package, name = (first, second) if second else (None, first)
        found = [n for n in nodes.values() if n.name == name and n.resource_type in ("model", "seed", "snapshot")
                 and (package is None or n.project == package)]
        if version is not None:
            found = [n for n in found if n.version == str(version)]
        elif any(n.version is not None for n in found):
            found = [n for n in found if n.version is not None and n.version == n.latest_version] or found
        return sorted(n.unique_id for n in found)[0] if found else None
    match = _SOURCE.match(text)
    if match:
        name = f"{match.group(2)}.{match.group(4)}"
        found = sorted(n.unique_id for n in nodes.values() if n.resource_type == "source" and n.name == name)
        return found[0] if found else None
    return None
