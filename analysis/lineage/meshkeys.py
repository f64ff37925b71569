"""The keys of a mesh's lineage: each node's own key and each project's pack address.

A node's *own key* covers what its result depends on besides the tables it reads (for a
seed: the CSV header, dbt's checksum, ``column_types``; for a model: the *sql key* of its
compiled SQL and dialect), plus its declared columns, contract and catalog entry. A
project's *pack address* names the one file of records of its nodes
(:mod:`analysis.lineage.packs`): by the project's content digest when known, else by the own
keys of all its nodes. Used by :mod:`analysis.lineage.meshlineage`.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from analysis.dbt import Node
from analysis.lineage.cache import LineageCache, sql_key
from analysis.lineage.packs import digest_address, pack_address
from analysis.lineage.schema import csv_header, is_python
from analysis.lineage.trace import ALGORITHM_VERSION
from analysis.lineage.warehouse import warehouse_macros


class MeshKeys:
    """Own keys of the nodes and pack addresses of the projects of one world of a mesh."""

    def __init__(self, nodes: Mapping[str, Node], dialect_of: Callable[[Node], str],
                 catalog: Mapping[str, Mapping[str, str | None]], cache: LineageCache | None,
                 digests: Mapping[str, str]) -> None:
        self.nodes = nodes
        self.dialect_of = dialect_of
        self.catalog = catalog
        self.cache = cache
        self.digests = digests
        #: node -> (sql key or None, own key) for seeds and SQL nodes with SQL (computed when needed)
        self.own_keys: dict[str, tuple[str | None, str]] = {}
        #: project -> the address of its pack
        self.pack_of: dict[str, str] = {}

    def packs(self, ids: list[str]) -> dict[str, list[str]]:
        """Pack address -> the node ids (seeds and models with SQL) of the project it holds.

        A project's pack is named by its :attr:`~analysis.dbt.nodes.Project.digest` when known,
        else by the own keys of all its nodes; either way, equal names, equal node contents."""
        by_project: dict[str, list[str]] = {}
        for node_id in ids:
            node = self.nodes[node_id]
            if node.resource_type == "seed" or (node.is_sql and has_sql(node)):
                by_project.setdefault(node.project, []).append(node_id)
        out = {}
        for project, node_ids in by_project.items():
            digest = self.digests.get(project)
            if digest:
                dialect = self.dialect_of(self.nodes[node_ids[0]])
                catalog = sorted((n, repr(self.catalog[n])) for n in node_ids if n in self.catalog)
                address = digest_address(project, digest, dialect=dialect, algorithm=ALGORITHM_VERSION,
                                         catalog=catalog)
            else:
                address = pack_address(project, ((n, self.own(self.nodes[n])[1]) for n in node_ids))
            self.pack_of[project] = address
            out[address] = node_ids
        return out

    def own(self, node: Node) -> tuple[str | None, str]:
        """(sql key, own key) of a seed or a model with SQL: what its result depends on besides
        the tables it reads."""
        found = self.own_keys.get(node.unique_id)
        if found is not None:
            return found
        memo = self.cache.memo.setdefault("own", {}) if self.cache is not None else {}
        dialect = self.dialect_of(node)
        entry = self.catalog.get(node.unique_id)
        inputs = (node.compiled_sql, node.raw_sql, node.columns, node.contract_enforced, node.seed_path,
                  node.checksum, node.seed_column_types, dialect, entry)
        known = memo.get(id(node))
        if known is not None and known[0] is node and known[1] == inputs:
            found = known[2]
        else:
            if node.resource_type == "seed":
                header = csv_header(node.seed_path) if node.seed_path else None
                sk, head = None, repr(["seed", dialect, header, node.checksum, sorted(node.seed_column_types.items())])
            else:
                sk = sql_key(node.compiled_sql, dialect)
                head = "sql\0" + sk + "\0" + ",".join(warehouse_macros(node.raw_sql))
            columns = repr([(k, c.data_type) for k, c in node.columns.items()]) if node.columns else ""
            found = (sk, key_hash(f"{head}\0{node.contract_enforced}\0{columns}\0{entry!r}"))
            memo[id(node)] = (node, inputs, found)
        self.own_keys[node.unique_id] = found
        return found


def has_sql(node: Node) -> bool:
    """Whether ``node`` has compiled SQL meshdiff can trace (a Python model has none)."""
    return bool(node.compiled_sql and node.compiled_sql.strip()) and not is_python(node)


def key_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
