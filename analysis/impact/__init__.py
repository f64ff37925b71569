"""What changed in the PR's project, whom it reaches in the mesh, and the verdict.

Input: the changed project's nodes at base and at head, both worlds' meshes and lineage
(:class:`analysis.lineage.MeshLineage`), and the downstream projects that stopped compiling.
Output: the :class:`analysis.report.Change` s and :class:`analysis.report.Impact` s of the
report, the sentences and suggestions around them, and its conclusion.

- ``diff``: base vs head of the changed project: changed nodes and columns, and how badly
  (:func:`diff_project`; ``governance``: access, contract and version findings);
- ``consumer_refs``: the changed project's refs to deprecated upstream versions (:func:`deprecated_refs`);
- ``incremental``: both renders of an incremental model (:func:`add_incremental`: the one
  with ``is_incremental()`` true, compared too);
- ``consumers``: downstream nodes reached without a changed column: their project stops
  compiling (:func:`broken_consumers`), or their compiled SQL changes
  (:func:`recompiled_consumers`);
- ``propagation``: the walk over the column graph of the whole mesh (:func:`build_index`,
  :func:`propagate`, :func:`impacts_from_hits`; :func:`reachable_columns` for
  ``meshdiff lineage``);
- ``testsreached``: the data tests and unit tests a change makes fail or may change
  (:func:`reached_tests`);
- ``explain``: who reads each changed column, the picture's edges, unproven lineage;
- ``unblock``: how to unblock, one suggestion per blocking finding (:func:`suggest`);
- ``codeowners``: owners of a file from a repository's CODEOWNERS (:func:`read_codeowners`);
- ``policy``: from changes and impacts to ``success`` or ``failure`` (:func:`decide`).
"""
from analysis.exports import public_names

__all__, __getattr__, __dir__ = public_names(__name__, {
    "codeowners": ["CodeOwners", "merge_handles", "owners_of", "read_codeowners"],
    "consumer_refs": ["deprecated_refs"],
    "consumers": ["broken_consumers", "contract_breaks", "recompiled_consumers"],
    "diff": ["ProjectDiff", "diff_project"],
    "explain": ["add_reader_reasons", "impact_edges", "lineage_warnings"],
    "incremental": ["add_incremental"],
    "policy": ["DEFAULT_FAIL_ON", "GOVERNANCE_MARK", "Policy", "decide"],
    "propagation": ["ReaderIndex", "World", "build_index", "impacts_from_hits", "propagate", "reachable_columns"],
    "testsreached": ["reached_tests"],
    "unblock": ["suggest"],
})
